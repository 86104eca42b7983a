"""Torch twins of lasco.metrics (same definitions), for training and validation."""

from __future__ import annotations

import torch

__all__ = ["gcs", "nmse", "nmse_db", "nmse_per_sample"]

_EPS = 1e-12


def nmse_per_sample(h_hat: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``[N]``: ||H_hat - H||^2 / ||H||^2 over the dims after the first."""
    dims = tuple(range(1, h.dim()))
    return ((h_hat - h) ** 2).sum(dims) / (h**2).sum(dims).clamp_min(_EPS)


def nmse(h_hat: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Mean NMSE (linear), a scalar tensor."""
    return nmse_per_sample(h_hat, h).mean()


def nmse_db(h_hat: torch.Tensor, h: torch.Tensor) -> float:
    return float(10 * torch.log10(nmse(h_hat, h).clamp_min(_EPS)))


def gcs(h_hat: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Generalised cosine similarity of ``[N, 2, n_ant, n_sc]`` real views, a scalar tensor."""
    a = torch.complex(h_hat[:, 0].double(), h_hat[:, 1].double())
    b = torch.complex(h[:, 0].double(), h[:, 1].double())
    inner = (a.conj() * b).sum(1).abs()
    norms = torch.linalg.vector_norm(a, dim=1) * torch.linalg.vector_norm(b, dim=1)
    return (inner / norms.clamp_min(_EPS)).mean()
