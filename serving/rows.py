"""Rows of one reconstruction: the codewords checked row by row, the result types, and the
rows of each environment gathered into contiguous slices for its model runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import onnxruntime as ort

__all__ = [
    "Job",
    "Reconstruction",
    "RowStatus",
    "gather_groups",
    "group_slices",
    "parse_rows",
]


class RowStatus(IntEnum):
    """Per-row outcome of ``reconstruct``; refused rows hold zeros in ``h_hat``."""

    OK = 0
    NON_FINITE = 1
    WRONG_LENGTH = 2


@dataclass(frozen=True)
class Reconstruction:
    """``h_hat [N, 2, 32, 32] float32`` and ``status [N] int8`` (RowStatus)."""

    h_hat: np.ndarray
    status: np.ndarray
    proxies_used: dict[str, int | None]

    @property
    def ok(self) -> np.ndarray:
        return self.status == RowStatus.OK


def parse_rows(
    codewords: np.ndarray | Sequence[np.ndarray], m: int
) -> tuple[np.ndarray, np.ndarray]:
    """Codewords as ``s [N, m] float32`` and a per-row :class:`RowStatus`: rows of another
    length or with NaN/Inf are zeros in ``s``, their status set; the rest are served."""
    if isinstance(codewords, np.ndarray) and codewords.ndim == 2:
        n = len(codewords)
        status = np.zeros(n, np.int8)
        if codewords.shape[1] != m:
            status[:] = RowStatus.WRONG_LENGTH
            return np.zeros((n, m), np.float32), status
        s = codewords.astype(np.float32, copy=False)
    else:
        rows = [np.asarray(r) for r in codewords]
        status = np.array(
            [RowStatus.OK if r.shape == (m,) else RowStatus.WRONG_LENGTH for r in rows], np.int8
        )
        s = np.zeros((len(rows), m), np.float32)
        for i, r in enumerate(rows):
            if status[i] == RowStatus.OK:
                s[i] = r
    bad = ~np.isfinite(s).all(axis=1) & (status == RowStatus.OK)
    status[bad] = RowStatus.NON_FINITE
    return s, status


# One model run: (session, input arrays by name, output arrays by name, cost per row); the
# arrays of one job share their rows, which the scheduler may split into chunks.
Job = tuple[ort.InferenceSession, dict[str, np.ndarray], dict[str, np.ndarray], float]


def gather_groups(groups: Mapping[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The row indices of ``groups`` (environment -> rows) concatenated in order, and
    ``x`` at them: one contiguous slice per environment, in :func:`group_slices`' order."""
    rows = np.concatenate(list(groups.values())) if groups else np.zeros(0, np.int64)
    return rows, x[rows]


def group_slices(groups: Mapping[str, np.ndarray]) -> list[tuple[str, int, int]]:
    """``(environment, start, end)`` of each group's slice in :func:`gather_groups`'s rows."""
    out, start = [], 0
    for e, idx in groups.items():
        out.append((e, start, start + len(idx)))
        start += len(idx)
    return out
