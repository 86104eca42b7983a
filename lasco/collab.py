"""Large and small model collaboration: LASCO, E-LASCO and the baselines (torch).

Every method is an ``nn.Module`` whose ``forward(x, base, ref)`` maps the coarse
input ``x = H_in [B, 2, 32, 32]`` to ``H_hat``, given the frozen LAM output
``base = f_base(x)`` and the frozen reference SAM output ``ref = f_ref(x)``.
Those two (and the LAM's hidden states, for methods with ``needs_hidden``) are
computed once per data set and cached (docs/method.md: no
gradient flows through the LAM, so a black-box LAM works), which is why LASCO's
adaptation costs what a SAM costs. Methods that train the LAM itself
(``needs_lam = True``) recompute it and ignore ``base``.

    lam-only      H_hat = f_base(x)
    sam-only      H_hat = f_ref(x)                          (pre-trained SAM alone)
    sam-finetune  H_hat = f_sam(x),  f_sam from f_ref, all trained
    lasco         H_hat = f_base + (f_pxy - f_ref),  f_pxy from f_ref
    e-lasco       H_hat = f_pxy + alpha (f_base - f_ref),  alpha learnable (init 1)
    no-reference  H_hat = f_base + r(x),  r: SAM trunk from f_ref, zero head, no skip
    refiner       H_hat = f_base + r(x, f_base),  r as above, also embedding f_base's
                  tokens (zero-initialised): an output refiner, the LAM a black box
    side          H_hat = f_base + r(x, h),  r as above, also embedding a learned mix of
                  the LAM's hidden states h after blocks side_taps(n_layers): a side
                  network (grey box: the LAM exports h in the same pass, no weights)
    readout       H_hat = f_base + g(h),  g: a per-token MLP (the reference SAM's d_ff wide,
                  zero head) on the same mix of hidden states; no trunk, no H_in: how much
                  the frozen LAM's features alone can correct
    baseline-a    H_hat = f_lam(x) + s(x),  s: fresh SAM with zero head; both trained
    lam-finetune  H_hat = f_lam(x),  all LAM parameters trained
    lora          H_hat = f_lam(x) with LoRA (PEFT) on every block linear, rank sized
                  to about the proxy SAM's trainable parameters
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from lasco.errors import ConfigError
from lasco.models import (
    TOKEN_DIM,
    CsiRefiner,
    build_model,
    count_params,
    from_tokens,
    to_tokens,
)

__all__ = [
    "METHODS",
    "Collab",
    "MethodInfo",
    "build_method",
    "lora_rank_for",
    "side_taps",
    "taps_for",
]


class Collab(nn.Module):
    """Base of every method. Subclasses set ``needs_lam`` and implement ``forward``."""

    needs_lam: bool = False
    # Methods that read the LAM's hidden states get them as ``hidden [B, T, 32, d]``:
    # the outputs of the blocks ``side_taps(n_layers)``, cached like ``base``.
    needs_hidden: bool = False

    def __init__(self, lam: CsiRefiner | None = None, ref: CsiRefiner | None = None) -> None:
        super().__init__()

    def forward(
        self,
        x: torch.Tensor,
        base: torch.Tensor,
        ref: torch.Tensor,
        hidden: torch.Tensor | None = None,
    ) -> torch.Tensor:
        raise NotImplementedError

    def lam_parameters(self) -> list[nn.Parameter]:
        """Trainable parameters that belong to the LAM (given the LAM learning rate)."""
        return []

    def trainable_params(self) -> int:
        return count_params(self, trainable_only=True)


def _frozen(model: nn.Module) -> nn.Module:
    model = copy.deepcopy(model).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _trainable(model: nn.Module) -> nn.Module:
    model = copy.deepcopy(model)
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def _plugin_from(ref: CsiRefiner, *, keep_trunk: bool) -> CsiRefiner:
    """A SAM-shaped network without skip and with a zero head (starts as exactly 0)."""
    net = build_model(ref.cfg, residual=False)
    if keep_trunk:
        state = {k: v for k, v in ref.state_dict().items() if not k.startswith("head.")}
        net.load_state_dict(state, strict=False)
    return net


class LamOnly(Collab):
    def forward(self, x, base, ref, hidden=None):
        return base


class SamOnly(Collab):
    def forward(self, x, base, ref, hidden=None):
        return ref


class SamFinetune(Collab):
    def __init__(self, lam: CsiRefiner, ref: CsiRefiner) -> None:
        super().__init__()
        self.sam = _trainable(ref)

    def forward(self, x, base, ref, hidden=None):
        return self.sam(x)


class Lasco(Collab):
    """H_hat = f_base + (f_pxy - f_ref); only the proxy trains."""

    def __init__(self, lam: CsiRefiner, ref: CsiRefiner) -> None:
        super().__init__()
        self.proxy = _trainable(ref)

    def forward(self, x, base, ref, hidden=None):
        return base + (self.proxy(x) - ref)


class ELasco(Collab):
    """H_hat = f_pxy + alpha (f_base - f_ref); the proxy and alpha train.

    With ``learn_alpha=False`` alpha stays at its initial value (the alpha sweep).
    """

    def __init__(
        self, lam: CsiRefiner, ref: CsiRefiner, alpha: float = 1.0, learn_alpha: bool = True
    ) -> None:
        super().__init__()
        self.proxy = _trainable(ref)
        self.alpha = nn.Parameter(torch.tensor(float(alpha)), requires_grad=learn_alpha)

    def forward(self, x, base, ref, hidden=None):
        return self.proxy(x) + self.alpha * (base - ref)


class NoReference(Collab):
    """Ablation without the reference SAM: the proxy learns the residual H - f_base."""

    def __init__(self, lam: CsiRefiner, ref: CsiRefiner) -> None:
        super().__init__()
        self.proxy = _plugin_from(ref, keep_trunk=True)

    def forward(self, x, base, ref, hidden=None):
        return base + self.proxy(x)


class OutputRefiner(Collab):
    """H_hat = f_base + r(x, f_base): the plug-in sees the LAM's output as well as H_in.

    ``r`` is the reference SAM's trunk without skip and with a zero head (it starts as
    exactly the LAM), its token embedding widened by a zero-initialised embedding of
    the LAM output's tokens. Only outputs of the LAM are needed: a black box."""

    def __init__(self, lam: CsiRefiner, ref: CsiRefiner) -> None:
        super().__init__()
        self.proxy = _plugin_from(ref, keep_trunk=True)
        self.base_embed = nn.Linear(TOKEN_DIM, ref.cfg.d_model, bias=False)
        nn.init.zeros_(self.base_embed.weight)

    def forward(self, x, base, ref, hidden=None):
        return base + self.proxy(x, extra=self.base_embed(to_tokens(base)))


def side_taps(n_layers: int) -> tuple[int, ...]:
    """The LAM blocks whose outputs a side network reads: the middle and the last."""
    return tuple(sorted({max(1, n_layers // 2), n_layers})) if n_layers else ()


class SideNetwork(Collab):
    """H_hat = f_base + r(x, h): a small network reading the LAM's hidden states.

    ``h`` are the outputs of the LAM blocks ``side_taps`` (cached with ``base``, and
    exported by the LAM's graph as extra outputs of the same pass: no gradient and no
    weight leaves the LAM). They are layer-normalised, mixed with learned softmax
    weights, projected to the plug-in's width and added to its token embedding; ``r``
    is the reference SAM's trunk with a zero head, so the method starts as the LAM."""

    needs_hidden = True

    def __init__(self, lam: CsiRefiner, ref: CsiRefiner) -> None:
        super().__init__()
        self.taps = side_taps(lam.cfg.n_layers)
        if not self.taps:
            raise ConfigError("a side network needs a LAM with at least one block")
        self.proxy = _plugin_from(ref, keep_trunk=True)
        self.tap_norm = nn.LayerNorm(lam.cfg.d_model)
        self.tap_mix = nn.Parameter(torch.zeros(len(self.taps)))
        self.tap_proj = nn.Linear(lam.cfg.d_model, ref.cfg.d_model)

    def forward(self, x, base, ref, hidden=None):
        mixed = _mix_taps(self.taps, self.tap_norm, self.tap_mix, hidden, "the side network")
        return base + self.proxy(x, extra=self.tap_proj(mixed))


class FeatureReadout(Collab):
    """H_hat = f_base + g(h): a per-token MLP on the LAM's hidden states, nothing else.

    ``h`` are the side network's (the outputs of the blocks ``side_taps``, normalised and
    mixed with learned softmax weights); ``g`` is ``Linear(d, w) -> GELU -> Linear(w, 64)``
    per antenna token, ``w`` the reference SAM's ``d_ff`` (so it follows the capacity
    sweep), its last layer zero so the method starts as the LAM. Without a trunk, attention
    or ``H_in`` it measures how much of the target's error the frozen LAM's features carry;
    served like the side network, from the same extra outputs of the LAM's pass."""

    needs_hidden = True

    def __init__(self, lam: CsiRefiner, ref: CsiRefiner) -> None:
        super().__init__()
        self.taps = side_taps(lam.cfg.n_layers)
        if not self.taps:
            raise ConfigError("a feature readout needs a LAM with at least one block")
        d, width = lam.cfg.d_model, ref.cfg.d_ff
        self.tap_norm = nn.LayerNorm(d)
        self.tap_mix = nn.Parameter(torch.zeros(len(self.taps)))
        self.hidden_layer = nn.Linear(d, width)
        self.head = nn.Linear(width, TOKEN_DIM)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x, base, ref, hidden=None):
        mixed = _mix_taps(self.taps, self.tap_norm, self.tap_mix, hidden, "the feature readout")
        return base + from_tokens(self.head(nn.functional.gelu(self.hidden_layer(mixed))))


def _mix_taps(
    taps: tuple[int, ...],
    norm: nn.LayerNorm,
    weights: nn.Parameter,
    hidden: torch.Tensor | None,
    who: str,
) -> torch.Tensor:
    """The hidden states ``[B, T, 32, d]`` of the blocks ``taps``, layer-normalised and
    summed with softmax ``weights``: ``[B, 32, d]``."""
    if hidden is None or hidden.shape[1] != len(taps):
        got = None if hidden is None else tuple(hidden.shape)
        raise ConfigError(f"{who} reads LAM hidden states of blocks {taps}, got {got}")
    w = torch.softmax(weights, 0).view(1, -1, 1, 1)
    return (norm(hidden) * w).sum(1)


class BaselineA(Collab):
    """LAM and a fresh SAM in parallel, outputs summed, trained jointly."""

    needs_lam = True

    def __init__(self, lam: CsiRefiner, ref: CsiRefiner) -> None:
        super().__init__()
        self.lam = _trainable(lam)
        self.sam = _plugin_from(ref, keep_trunk=False)

    def forward(self, x, base, ref, hidden=None):
        return self.lam(x) + self.sam(x)

    def lam_parameters(self):
        return list(self.lam.parameters())


class LamFinetune(Collab):
    needs_lam = True

    def __init__(self, lam: CsiRefiner, ref: CsiRefiner) -> None:
        super().__init__()
        self.lam = _trainable(lam)

    def forward(self, x, base, ref, hidden=None):
        return self.lam(x)

    def lam_parameters(self):
        return list(self.lam.parameters())


LORA_TARGETS = ["q", "k", "v", "o", "ff1", "ff2"]


def lora_rank_for(lam: CsiRefiner, budget: int) -> int:
    """LoRA rank whose trainable parameters on all block linears come closest to ``budget``."""
    cfg = lam.cfg
    per_rank = cfg.n_layers * (4 * 2 * cfg.d_model + 2 * (cfg.d_model + cfg.d_ff))
    return max(1, round(budget / per_rank))


class Lora(Collab):
    """LoRA adapters (PEFT) on the LAM's q, k, v, o, ff1, ff2; the LAM stays frozen."""

    needs_lam = True

    def __init__(self, lam: CsiRefiner, ref: CsiRefiner, rank: int | None = None) -> None:
        super().__init__()
        from peft import LoraConfig, inject_adapter_in_model

        r = rank or lora_rank_for(lam, count_params(ref))
        config = LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules=LORA_TARGETS)
        self.rank = r
        self.lam = inject_adapter_in_model(config, _frozen(lam))
        for name, p in self.lam.named_parameters():
            p.requires_grad_("lora_" in name)
        self.lam.train()

    def forward(self, x, base, ref, hidden=None):
        return self.lam(x)


@dataclass(frozen=True)
class MethodInfo:
    key: str
    label: str
    factory: Callable[[CsiRefiner, CsiRefiner], Collab]
    trains: bool = True

    @property
    def needs_hidden(self) -> bool:
        return bool(getattr(self.factory, "needs_hidden", False))


METHODS: dict[str, MethodInfo] = {
    m.key: m
    for m in (
        MethodInfo("lam-only", "LAM alone", LamOnly, trains=False),
        MethodInfo("sam-only", "pre-trained SAM alone", SamOnly, trains=False),
        MethodInfo("sam-finetune", "SAM fine-tuned", SamFinetune),
        MethodInfo("baseline-a", "Baseline A (LAM + SAM, joint)", BaselineA),
        MethodInfo("lam-finetune", "LAM fully fine-tuned", LamFinetune),
        MethodInfo("lora", "LoRA on the LAM (PEFT)", Lora),
        MethodInfo("no-reference", "LASCO without reference SAM", NoReference),
        MethodInfo("lasco", "LASCO", Lasco),
        MethodInfo("e-lasco", "E-LASCO", ELasco),
        MethodInfo("refiner", "output refiner (sees the LAM output)", OutputRefiner),
        MethodInfo("side", "side network (reads LAM hidden states)", SideNetwork),
        MethodInfo("readout", "feature readout (MLP on LAM hidden states)", FeatureReadout),
    )
}


def taps_for(keys: Iterable[str], lam: CsiRefiner) -> tuple[int, ...]:
    """The LAM blocks whose outputs must be cached for the methods ``keys`` (``()`` when
    none of them reads hidden states)."""
    return side_taps(lam.cfg.n_layers) if any(METHODS[k].needs_hidden for k in keys) else ()


def build_method(key: str, lam: CsiRefiner, ref: CsiRefiner) -> Collab:
    """Instantiate method ``key`` over (copies of) a pre-trained LAM and reference SAM."""
    try:
        info = METHODS[key]
    except KeyError:
        raise ConfigError(f"unknown method {key!r}; expected one of {', '.join(METHODS)}") from None
    return info.factory(lam, ref)
