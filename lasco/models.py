"""Transformer CSI refiners H_in -> H_hat (torch), the LAM and SAM presets.

Tokenisation: one token per BS antenna, 32 tokens; a token holds the real and
imaginary parts of that antenna's 32 subcarriers (64 features). A linear embed
to ``d_model``, a learned position embedding, ``n_layers`` Transformer blocks
(pre- or post-LayerNorm), and a linear head back to 64 features. With
``residual=True`` (every preset) the model predicts a correction of its input:
``H_hat = H_in + head(...)``; the plug-in networks of the no-reference ablation
and Baseline A use ``residual=False`` with a zero-initialised head so that they
start as an exact zero.

Every linear layer is an ``nn.Linear`` named ``q, k, v, o, ff1, ff2`` so LoRA
(PEFT) can target them and ONNX export sees plain MatMuls.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from lasco.errors import ConfigError, ShapeError

__all__ = [
    "PRESETS",
    "CsiRefiner",
    "ModelConfig",
    "build_model",
    "count_params",
    "forward_flops",
    "from_tokens",
    "get_preset",
    "to_tokens",
]

N_TOKENS = 32
TOKEN_DIM = 64


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a refiner. ``n_heads`` must divide ``d_model``."""

    name: str
    n_layers: int
    d_model: int
    d_ff: int
    n_heads: int
    pre_norm: bool
    residual: bool = True
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ConfigError(f"model {self.name!r}: n_heads must divide d_model")
        if self.n_layers < 0 or min(self.d_model, self.d_ff) < 1:
            raise ConfigError(f"model {self.name!r}: n_layers must be >= 0, d_model, d_ff >= 1")

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, ModelConfig] = {
    # The paper's LAM: 20 x 512 x 2048, pre-LN, about 63 M parameters.
    "lam-paper": ModelConfig("lam-paper", 20, 512, 2048, 8, pre_norm=True),
    # GPU-sized LAM: 6.4 M parameters, about 60 s per million samples per epoch on an H200.
    "lam-base": ModelConfig("lam-base", 8, 256, 1024, 8, pre_norm=True),
    # CPU-sized LAM: 0.8 M parameters, ~300 samples/s training on 2 cores (100 k x 10 epochs/h).
    "lam-small": ModelConfig("lam-small", 4, 128, 512, 4, pre_norm=True),
    # The smoke experiment's LAM: 0.24 M parameters, trains in about a minute on 2 cores.
    "lam-mini": ModelConfig("lam-mini", 2, 96, 384, 4, pre_norm=True),
    # The paper's SAM: 2 x 64 x 256, post-LN, about 0.11 M parameters.
    "sam": ModelConfig("sam", 2, 64, 256, 4, pre_norm=False),
    # The SAM's capacity sweep: the same depth at half and twice the width
    # (about 0.03 M and 0.42 M parameters: 0.27x and 3.8x the paper's SAM).
    "sam-s": ModelConfig("sam-s", 2, 32, 128, 4, pre_norm=False),
    "sam-l": ModelConfig("sam-l", 2, 128, 512, 4, pre_norm=False),
    # The smoke experiment's SAM, under 5 % of lam-mini.
    "sam-mini": ModelConfig("sam-mini", 1, 24, 64, 2, pre_norm=False),
    # Unit tests.
    "tiny": ModelConfig("tiny", 1, 16, 32, 2, pre_norm=True),
}


def get_preset(name: str) -> ModelConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown model preset {name!r}; expected one of {', '.join(PRESETS)}"
        ) from None


def to_tokens(h: torch.Tensor) -> torch.Tensor:
    """``[B, 2, 32, 32]`` (re/im, antenna, subcarrier) -> ``[B, 32, 64]`` antenna tokens."""
    return h.permute(0, 2, 1, 3).reshape(h.shape[0], N_TOKENS, TOKEN_DIM)


def from_tokens(t: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`to_tokens`."""
    return t.reshape(t.shape[0], N_TOKENS, 2, 32).permute(0, 2, 1, 3)


class Block(nn.Module):
    """One Transformer block: multi-head self-attention and a GELU feed-forward."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.n_heads, self.pre_norm, self.dropout = cfg.n_heads, cfg.pre_norm, cfg.dropout
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.ff1, self.ff2 = nn.Linear(d, cfg.d_ff), nn.Linear(cfg.d_ff, d)
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)

    def _attn(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        h = self.n_heads

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, h, d // h).transpose(1, 2)

        y = F.scaled_dot_product_attention(split(self.q(x)), split(self.k(x)), split(self.v(x)))
        return self.o(y.transpose(1, 2).reshape(b, t, d))

    def _ff(self, x: torch.Tensor) -> torch.Tensor:
        return self.ff2(F.dropout(F.gelu(self.ff1(x)), self.dropout, self.training))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre_norm:
            x = x + self._attn(self.norm1(x))
            return x + self._ff(self.norm2(x))
        x = self.norm1(x + self._attn(x))
        return self.norm2(x + self._ff(x))


class CsiRefiner(nn.Module):
    """Refiner ``x [B, 2, 32, 32] float32 -> H_hat [B, 2, 32, 32] float32``."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Linear(TOKEN_DIM, cfg.d_model)
        self.pos = nn.Parameter(torch.randn(N_TOKENS, cfg.d_model) / math.sqrt(cfg.d_model))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.d_model) if cfg.pre_norm else nn.Identity()
        self.head = nn.Linear(cfg.d_model, TOKEN_DIM)
        if not cfg.residual:
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def forward(
        self,
        x: torch.Tensor,
        extra: torch.Tensor | None = None,
        taps: tuple[int, ...] = (),
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``H_hat`` of ``x``. ``extra [B, 32, d_model]`` is added to the embedded tokens
        (how plug-ins feed the network more than ``x``). With ``taps`` (block numbers,
        1 = after the first block) it also returns those blocks' outputs stacked,
        ``[B, len(taps), 32, d_model]``: the hidden states a side network reads."""
        if x.dim() != 4 or tuple(x.shape[1:]) != (2, 32, 32):
            raise ShapeError(f"refiner input has shape {tuple(x.shape)}, expected [B, 2, 32, 32]")
        z = self.embed(to_tokens(x)) + self.pos
        if extra is not None:
            z = z + extra
        hidden = []
        for i, blk in enumerate(self.blocks, start=1):
            z = blk(z)
            if i in taps:
                hidden.append(z)
        out = from_tokens(self.head(self.norm(z)))
        out = x + out if self.cfg.residual else out
        if not taps:
            return out
        if len(hidden) != len(taps):
            raise ConfigError(
                f"taps {taps} are not all blocks of a {self.cfg.n_layers}-block model"
            )
        return out, torch.stack(hidden, dim=1)


def build_model(cfg: ModelConfig | str, *, residual: bool | None = None) -> CsiRefiner:
    """A fresh refiner from a config or preset name (optionally overriding ``residual``)."""
    cfg = get_preset(cfg) if isinstance(cfg, str) else cfg
    if residual is not None:
        cfg = replace(cfg, residual=residual)
    return CsiRefiner(cfg)


def count_params(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def forward_flops(cfg: ModelConfig) -> int:
    """Floating-point operations (multiply-add = 2) of one sample's forward pass.

    Per token and block: q, k, v, o (4 d^2), the feed-forward (2 d d_ff), attention
    scores and mixing (2 T d); plus the embed (64 d) and the head (d 64).
    """
    t, d = N_TOKENS, cfg.d_model
    per_block = t * (2 * 4 * d * d + 2 * 2 * d * cfg.d_ff + 2 * 2 * t * d)
    return cfg.n_layers * per_block + t * (2 * TOKEN_DIM * d * 2)
