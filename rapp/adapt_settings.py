"""Settings of one environment's adaptation, the methods the rApp may adapt with, and the
store name of an environment's proxy SAM.

The rApp holds the LAM only as its ONNX model in the store: a method may train nothing of
the LAM (``needs_lam``), must train something, and its result must be servable by
``serving.LascoRuntime``, which combines a proxy with the LAM and the reference SAM, or runs
a side network on the LAM's output and hidden states (``schemas.Mode``). That leaves:

    e-lasco       the proxy and alpha          -> mode e-lasco, alpha learnt
    lasco         the proxy                    -> mode lasco
    sam-finetune  the SAM alone (H_hat = f_sam) -> mode e-lasco with alpha 0
    side          the side network             -> mode side (a LAM exporting its hidden
                                                  states, h_taps: grey box, no LAM weights)
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field

from lasco.collab import METHODS
from lasco.errors import ConfigError
from lasco.train import AdaptConfig
from schemas import Mode

__all__ = [
    "ADAPTABLE_METHODS",
    "MAX_PHASE_VIEWS",
    "NAME_PATTERN",
    "AdaptationError",
    "AdaptationSettings",
    "ProxyExport",
    "RunningProxy",
    "proxy_name",
    "split_sizes",
]

MAX_PHASE_VIEWS = 64
"""The most phase views an adaptation takes: each multiplies the training rows' memory."""

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
"""The manifest's name pattern (schemas/model-manifest.json)."""


class AdaptationError(ValueError):
    """Inputs an adaptation cannot work with: not a decline, the caller's or the store's
    configuration is wrong (samples of another environment, a store whose reference SAM
    does not go with its LAM, ...)."""


@dataclass(frozen=True)
class ProxyExport:
    """How a trained method becomes a servable proxy: the attribute holding the proxy
    network ("": the whole method, a side network), the serving mode, and alpha (None:
    the method's learnt ``alpha``; for LASCO, which has none, the manifest's alpha stays
    unset)."""

    module: str
    mode: Mode
    alpha: float | None = None
    learnt_alpha: bool = False


ADAPTABLE_METHODS: dict[str, ProxyExport] = {
    "e-lasco": ProxyExport("proxy", Mode.E_LASCO, learnt_alpha=True),
    "lasco": ProxyExport("proxy", Mode.LASCO),
    "sam-finetune": ProxyExport("sam", Mode.E_LASCO, alpha=0.0),
    "side": ProxyExport("", Mode.SIDE),
}
"""Method key (``lasco.collab.METHODS``) -> how its result serves."""


def _check_method(key: str) -> None:
    """ConfigError unless the rApp can adapt with ``key`` (see the module docstring)."""
    if key not in METHODS:
        raise ConfigError(f"unknown method {key!r}; expected one of {', '.join(METHODS)}")
    ok = ", ".join(ADAPTABLE_METHODS)
    info = METHODS[key]
    if getattr(info.factory, "needs_lam", False):
        raise ConfigError(
            f"method {key!r} trains the LAM's weights; the rApp holds the LAM only as a black "
            f"box (its ONNX model), so it adapts with one of: {ok}"
        )
    if not info.trains:
        raise ConfigError(f"method {key!r} trains nothing, so it has no proxy to publish: {ok}")
    if key not in ADAPTABLE_METHODS:
        raise ConfigError(
            f"method {key!r} has no serving mode (the runtime combines a proxy with the LAM "
            f"and the reference SAM as LASCO or E-LASCO, or runs a side network); use one "
            f"of: {ok}"
        )


def split_sizes(n: int, val_fraction: float, held_out_fraction: float) -> tuple[int, int, int]:
    """``(train, val, held_out)`` sample counts of ``n`` time-ordered samples: the newest
    ``held_out_fraction`` (at least one) for the gate, the ``val_fraction`` before them (at
    least one) for early stopping, the rest (oldest) for training."""
    held = max(1, round(held_out_fraction * n))
    val = max(1, round(val_fraction * n))
    return n - val - held, val, held


@dataclass(frozen=True)
class AdaptationSettings:
    """How one environment is adapted. Frozen; checked on construction (ConfigError).

    Attributes:
        method: a key of ``lasco.collab.METHODS`` in :data:`ADAPTABLE_METHODS`. Default
            ``side``: a side network on the LAM's hidden states (the LAM's ``h_taps``
            output), which beat E-LASCO, the paper's best plug-in, in every region of the
            study; ``e-lasco`` for a LAM without taps.
        min_samples: below this many usable samples the adaptation is declined
            (``too-few-samples``). Default 256: the paper's smallest target sets are a few
            hundred samples; fewer overfit the proxy and leave a held-out slice too small for
            the gate to tell 0.1 dB apart.
        max_samples: only the newest this many samples are used (None: all). Default 20 000:
            bounds the time and memory of one adaptation; the newest describe the
            environment as it is now.
        val_fraction: share of the samples, just older than the held-out ones, used for
            early stopping. Default 0.1.
        held_out_fraction: share of the samples, the most recent, held out for the gate
            (never trained or stopped on). Default 0.2: about 50 samples at the minimum.
        adapt: the training loop's settings (learning rate, epochs, patience, batch);
            ``lasco.train.AdaptConfig``'s defaults are the paper's (lr 1e-3, at most 100
            epochs, patience 20, batch 64). Its ``seed`` is replaced by :attr:`seed`.
        gate_margin_db: the candidate's held-out NMSE must be at least this many dB below
            both the LAM alone and the running proxy. Default 0.1 dB: more than the
            run-to-run noise of an NMSE over a few hundred samples, so a swap is a gain.
        seed: seeds the proxy's initialisation and the training order.
        ort_threads: ONNX Runtime intra-op threads for the LAM, reference SAM and running
            proxy (None: every core this process may use).
        parity_rows: held-out rows the export checks ONNX against torch on (1e-4 max abs).
        phase_views: each training sample is also trained on in this many common-phase
            rotations ``H e^{j 2 pi k / K}`` (lasco.channels.phase_views), the codeword of
            each rotation made by the LAM's projection as a UE would report it; an epoch
            still visits each sample once, in one view drawn at random, so it costs no
            optimiser steps (only the LAM's and reference's outputs on every view). A
            common phase is no property of an environment, so every view is a valid
            sample of it. The most views: fewer when they would not fit the adaptation's
            memory budget (``rapp.adapt_data.MAX_CACHE_BYTES``). Default 16.
    """

    method: str = "side"
    min_samples: int = 256
    max_samples: int | None = 20_000
    val_fraction: float = 0.1
    held_out_fraction: float = 0.2
    adapt: AdaptConfig = field(default_factory=AdaptConfig)
    gate_margin_db: float = 0.1
    seed: int = 0
    ort_threads: int | None = None
    parity_rows: int = 64
    phase_views: int = 16

    def __post_init__(self) -> None:
        _check_method(self.method)
        for name in ("val_fraction", "held_out_fraction"):
            if not 0 < getattr(self, name) < 1:
                raise ConfigError(f"{name} must lie in (0, 1), got {getattr(self, name)!r}")
        if self.val_fraction + self.held_out_fraction >= 1:
            raise ConfigError("val_fraction + held_out_fraction leave no samples to train on")
        if self.min_samples < 3:
            raise ConfigError(f"min_samples must be at least 3, got {self.min_samples}")
        if split_sizes(self.min_samples, self.val_fraction, self.held_out_fraction)[0] < 1:
            raise ConfigError(f"min_samples {self.min_samples} leaves no samples to train on")
        if self.max_samples is not None and self.max_samples < self.min_samples:
            raise ConfigError(
                f"max_samples {self.max_samples} is below min_samples {self.min_samples}"
            )
        if not math.isfinite(self.gate_margin_db) or self.gate_margin_db < 0:
            raise ConfigError(f"gate_margin_db must be >= 0 dB, got {self.gate_margin_db!r}")
        if self.parity_rows < 1:
            raise ConfigError(f"parity_rows must be at least 1, got {self.parity_rows}")
        if not 1 <= self.phase_views <= MAX_PHASE_VIEWS:
            raise ConfigError(
                f"phase_views must lie in [1, {MAX_PHASE_VIEWS}], got {self.phase_views!r}"
            )

    @property
    def export(self) -> ProxyExport:
        """How the trained method becomes a proxy artifact."""
        return ADAPTABLE_METHODS[self.method]


@dataclass(frozen=True)
class RunningProxy:
    """The proxy an environment runs now: its store name and version, and how it is
    combined (None: its manifest's mode and alpha, as ``LascoRuntime`` does; an A1 policy
    may override alpha)."""

    name: str
    version: int
    mode: Mode | None = None
    alpha: float | None = None


def proxy_name(environment: str) -> str:
    """The store name of ``environment``'s proxy: ``proxy-<environment>``, made to fit the
    manifest's name pattern (``^[a-z0-9][a-z0-9._-]{0,63}$``). When the id has to be
    changed (case, other characters, length), 8 hex digits of its sha256 keep two ids
    that read alike apart."""
    name = f"proxy-{environment}"
    if NAME_PATTERN.match(name):
        return name
    clean = re.sub(r"[^a-z0-9._-]+", "-", environment.lower()).strip("-._")
    digest = hashlib.sha256(environment.encode()).hexdigest()[:8]
    return f"proxy-{clean[: 64 - len('proxy-') - 9]}-{digest}".replace("--", "-")
