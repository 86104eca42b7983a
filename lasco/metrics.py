"""Reconstruction metrics in numpy (docs/method.md). Torch twins: lasco.losses.

    NMSE = E[ ||H_hat - H||^2 / ||H||^2 ]                  (reported in dB)
    GCS  = E[ (1/Nc) sum_i |h_hat_i^H h_i| / (||h_hat_i|| ||h_i||) ]

``h_i`` is the column of subcarrier i: the 32 antenna coefficients.
Inputs are real views ``[N, 2, n_ant, n_sc]`` (real, imag) as float arrays.
"""

from __future__ import annotations

import numpy as np

from lasco.errors import ShapeError

__all__ = ["gcs", "nmse", "nmse_db", "nmse_per_sample", "to_db"]

_EPS = 1e-12


def _pair(h_hat: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h_hat = np.asarray(h_hat, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    if h_hat.shape != h.shape or h.ndim != 4 or h.shape[1] != 2:
        raise ShapeError(
            f"metric inputs must both be [N, 2, n_ant, n_sc]; got {h_hat.shape} and {h.shape}"
        )
    if h.shape[0] == 0:
        raise ShapeError("metric inputs are empty (N = 0)")
    return h_hat, h


def nmse_per_sample(h_hat: np.ndarray, h: np.ndarray) -> np.ndarray:
    """``[N]`` float64: ||H_hat - H||^2 / ||H||^2 for each sample."""
    h_hat, h = _pair(h_hat, h)
    err = ((h_hat - h) ** 2).sum(axis=(1, 2, 3))
    power = (h**2).sum(axis=(1, 2, 3))
    return err / np.maximum(power, _EPS)


def nmse(h_hat: np.ndarray, h: np.ndarray) -> float:
    """Mean NMSE (linear) over the samples."""
    return float(nmse_per_sample(h_hat, h).mean())


def to_db(x: float) -> float:
    """10 log10(x)."""
    return float(10.0 * np.log10(max(x, _EPS)))


def nmse_db(h_hat: np.ndarray, h: np.ndarray) -> float:
    """Mean NMSE in dB: 10 log10(E[NMSE])."""
    return to_db(nmse(h_hat, h))


def gcs(h_hat: np.ndarray, h: np.ndarray) -> float:
    """Generalised cosine similarity, averaged over subcarriers and samples, in [0, 1]."""
    h_hat, h = _pair(h_hat, h)
    a = h_hat[:, 0] + 1j * h_hat[:, 1]  # [N, n_ant, n_sc]
    b = h[:, 0] + 1j * h[:, 1]
    inner = np.abs((np.conj(a) * b).sum(axis=1))  # [N, n_sc]
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return float((inner / np.maximum(norms, _EPS)).mean())


def beam_share(h: np.ndarray) -> np.ndarray:
    """Share of each channel's energy in its strongest angular beam, a cheap statistic of the
    environment: a line-of-sight channel concentrates in one beam (share near 1), a richly
    scattering one spreads over many.

    Args:
        h: ``[N, 2, 32, 32]`` real/imag, BS antennas, subcarriers (float32 or float64).
    Returns: ``[N] float64`` in ``(0, 1]``; the beams are the DFT of the antenna axis, their
        power summed over subcarriers (a zero channel gives 1/32).
    """
    if h.ndim != 4 or h.shape[1] != 2:
        raise ShapeError(f"beam_share needs [N, 2, antennas, subcarriers], got {list(h.shape)}")
    hc = h[:, 0].astype(np.float64) + 1j * h[:, 1].astype(np.float64)
    power = (np.abs(np.fft.fft(hc, axis=1)) ** 2).sum(axis=2) + 1e-30  # [N, beams]
    return power.max(axis=1) / power.sum(axis=1)
