"""How LascoRuntime spreads one reconstruction over the cores: ONNX Runtime session
options, execution providers, numpy's BLAS thread pool, and the cost-balanced split of
model runs into row chunks (numpy, onnxruntime and threadpoolctl only)."""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import threading
from collections.abc import Iterator, Sequence

import numpy as np
import onnxruntime as ort
from threadpoolctl import ThreadpoolController

__all__ = [
    "MAX_CHUNK_ROWS",
    "cpu_count",
    "default_providers",
    "one_blas_thread",
    "plan_chunks",
    "session_options",
]


def cpu_count() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0)) or 1


def session_options(threads: int | None = None, spin: bool = False) -> ort.SessionOptions:
    """ORT options: every graph optimisation, ``threads`` intra-op threads (default: the
    cores this process may use), one inter-op thread (the graphs are sequential), and
    thread spinning only when asked (spinning pools measured slower here: they take
    the cores that numpy's decode and the other sessions need)."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = threads or cpu_count()
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    return so


def default_providers() -> list[str]:
    """CUDA when this onnxruntime build has it, else the CPU."""
    have = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in have]


_BLAS_LOCK = threading.Lock()  # the BLAS thread count is per process: one limiter at a time


@functools.cache
def _blas_controller() -> ThreadpoolController:
    """numpy's BLAS thread pool(s) (found once: the scan of loaded libraries takes ms)."""
    return ThreadpoolController().select(user_api="blas")


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """numpy's BLAS on one thread for the block (one limiter at a time, see _BLAS_LOCK)."""
    with _BLAS_LOCK, _blas_controller().limit(limits=1):
        yield


# Rows of one ORT run: larger runs' activations outgrow the core's cache. Measured at batch
# 256, K = 10 (2 cores): 126 ms per reconstruction uncut, 115 ms with 64-row runs, 111 with 32.
MAX_CHUNK_ROWS = 32


def plan_chunks(
    costs: Sequence[float], rows: Sequence[int], workers: int, max_rows: int = MAX_CHUNK_ROWS
) -> list[list[tuple[int, int, int]]]:
    """Spread jobs over ``workers`` bins by cost: a job dearer than an even share, or of
    more than ``max_rows`` rows (whose activations outgrow the core's cache), is cut into
    row chunks, then chunks go, dearest first, to the least-loaded bin (LPT).

    Returns the non-empty bins, each a list of ``(job, first row, end row)``.
    """
    total = float(sum(costs))
    if total <= 0:
        return []
    share = total / max(1, workers)
    pieces = []
    for j, (c, n) in enumerate(zip(costs, rows, strict=True)):
        if n == 0:
            continue
        k = min(n, max(1, int(np.ceil(c / share - 1e-9)))) if workers > 1 else 1
        k = max(k, -(-n // max_rows))
        bounds = np.linspace(0, n, k + 1).round().astype(int)
        pieces += [
            (c * (hi - lo) / n, j, int(lo), int(hi)) for lo, hi in itertools.pairwise(bounds)
        ]
    pieces.sort(key=lambda p: -p[0])
    load = [0.0] * max(1, workers)
    bins: list[list[tuple[int, int, int]]] = [[] for _ in load]
    for c, j, lo, hi in pieces:
        b = int(np.argmin(load))
        load[b] += c
        bins[b].append((j, lo, hi))
    return [b for b in bins if b]
