"""What training costs, in floating-point operations (the forward cost of a model is
``lasco.models.forward_flops``)."""

from __future__ import annotations

from lasco.collab import BaselineA, Collab, FeatureReadout, SamFinetune
from lasco.models import N_TOKENS, CsiRefiner, forward_flops
from lasco.train import FitResult

__all__ = ["training_flops"]


def training_flops(
    method: Collab,
    lam: CsiRefiner,
    ref: CsiRefiner,
    n: int,
    fit: FitResult,
    n_val: int,
    rows: int | None = None,
) -> int:
    """Training FLOPs of one adaptation: 3x forward per trained sample-epoch (forward +
    backward) for the networks gradients pass through, plus the forward passes for
    validation and, for the plug-in methods, the one-off LAM and reference outputs (the
    feature readout: the LAM's only; its per-token MLP counted as 2 FLOPs per parameter
    per token). ``n`` samples are visited per epoch; the one-off outputs cover ``rows``
    training rows (default ``n``; with phase views, every view of every sample)."""
    rows = n if rows is None else rows
    f_lam, f_ref = forward_flops(lam.cfg), forward_flops(ref.cfg)
    if isinstance(method, BaselineA):
        fwd, once = f_lam + f_ref, 0
    elif method.needs_lam:  # LAM fine-tuning, LoRA (adapter FLOPs are negligible)
        fwd, once = f_lam, 0
    elif isinstance(method, SamFinetune):
        fwd, once = f_ref, 0
    elif isinstance(method, FeatureReadout):  # a per-token MLP on the cached LAM states
        fwd, once = 2 * N_TOKENS * method.trainable_params(), f_lam * (rows + n_val)
    else:  # plug-ins: the proxy trains; LAM and reference outputs computed once
        fwd, once = f_ref, (f_lam + f_ref) * (rows + n_val)
    per_sample, val = 3 * fwd, fwd
    return int(per_sample * n * fit.epochs + val * n_val * (fit.epochs + 1) + once)
