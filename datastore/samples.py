"""Labelled CSI samples of one environment: what the xApp collects and the rApp adapts on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["CSI_SHAPE", "LabelledSamples", "SampleError"]

CSI_SHAPE = (2, 32, 32)


class SampleError(ValueError):
    """Arrays that do not make a set of labelled samples (shapes, lengths, dtypes)."""


@dataclass(frozen=True)
class LabelledSamples:
    """``N`` labelled reports of one environment.

    Attributes:
        environment: the environment id the samples belong to.
        projection_id: the UE projection the codewords were made with.
        labels: ``[N, 2, 32, 32] float32``, the full CSI the UEs reported.
        codewords: ``[N, M] float32``, the UEs' compressed reports of the same CSI.
        cells: ``[N]`` object (str), the cell of each report.
        t_ns: ``[N] int64``, report time (ns since the epoch).
    """

    environment: str
    projection_id: str
    labels: np.ndarray
    codewords: np.ndarray
    cells: np.ndarray
    t_ns: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.labels)
        if self.labels.shape[1:] != CSI_SHAPE or self.labels.dtype != np.float32:
            raise SampleError(
                f"labels are {self.labels.dtype} {list(self.labels.shape)}, "
                "not float32 [N, 2, 32, 32]"
            )
        if self.codewords.ndim != 2 or self.codewords.dtype != np.float32:
            raise SampleError(
                f"codewords are {self.codewords.dtype} {list(self.codewords.shape)}, "
                "not float32 [N, M]"
            )
        for name in ("codewords", "cells", "t_ns"):
            if len(getattr(self, name)) != n:
                raise SampleError(f"{n} labels but {len(getattr(self, name))} {name}")

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, index: np.ndarray | slice) -> LabelledSamples:
        """The samples at ``index`` (an index array, a mask or a slice)."""
        return LabelledSamples(
            self.environment,
            self.projection_id,
            self.labels[index],
            self.codewords[index],
            self.cells[index],
            self.t_ns[index],
        )

    def newest(self, n: int) -> LabelledSamples:
        """The ``n`` most recent samples, oldest first."""
        order = np.argsort(self.t_ns, kind="stable")
        return self.take(order[-n:] if n > 0 else order[:0])

    @classmethod
    def concat(cls, parts: Sequence[LabelledSamples]) -> LabelledSamples:
        """One set from several of the same environment and projection."""
        if not parts:
            raise SampleError("no samples to concatenate")
        first = parts[0]
        for p in parts[1:]:
            if (p.environment, p.projection_id) != (first.environment, first.projection_id):
                raise SampleError(
                    f"cannot join samples of {p.environment}/{p.projection_id} with "
                    f"{first.environment}/{first.projection_id}"
                )
        return cls(
            first.environment,
            first.projection_id,
            np.concatenate([p.labels for p in parts]),
            np.concatenate([p.codewords for p in parts]),
            np.concatenate([p.cells for p in parts]),
            np.concatenate([p.t_ns for p in parts]),
        )
