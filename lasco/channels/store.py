"""On-disk cache of generated channels and the data-set views (numpy only).

A region's channels live in one shard ``<root>/<spec.key()>/n<N>.npy`` (complex64
``[N, 32, 32]``) with ``spec.json`` beside it. Shards are written atomically
(temporary file in the same folder, fsync, rename), so an interrupted run never
leaves a partial shard, and they are checked on load (shape, dtype, finite).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lasco.channels.spec import EnvSpec
from lasco.errors import ConfigError, DataError, ShapeError

__all__ = [
    "ChannelCache",
    "Split",
    "atomic_write_bytes",
    "default_cache_dir",
    "split_region",
    "split_sizes",
    "to_real",
]


def default_cache_dir() -> Path:
    """``$LASCO_CACHE``, else ``~/.cache/lasco``."""
    env = os.environ.get("LASCO_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "lasco"


def atomic_write_bytes(path: Path, write: Callable[[object], None]) -> None:
    """Write a file atomically: ``write(fileobj)`` into a temp file, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_real(h: np.ndarray) -> np.ndarray:
    """``[N, n_ant, n_sc] complex -> [N, 2, n_ant, n_sc] float32`` (real, imag)."""
    h = np.asarray(h)
    if h.ndim != 3 or not np.iscomplexobj(h):
        raise ShapeError(f"expected complex CSI [N, n_ant, n_sc], got {h.dtype} {h.shape}")
    return np.stack([h.real, h.imag], axis=1).astype(np.float32)


def phase_views(h_real: np.ndarray, views: int) -> np.ndarray:
    """``[N, 2, A, S] -> [views * N, 2, A, S]``: each channel times ``e^{j 2 pi k / views}``
    for ``k = 0 .. views - 1``, view-major (row ``k * N + i`` is channel ``i``'s view ``k``).

    A common phase is no property of an environment (a UE's phase reference is arbitrary),
    so each view is an equally valid sample of it: data augmentation for adaptation."""
    h = np.asarray(h_real)
    if h.ndim != 4 or h.shape[1] != 2:
        raise ShapeError(f"expected real CSI [N, 2, n_ant, n_sc], got {h.shape}")
    if views < 1:
        raise ConfigError(f"phase views must be >= 1, got {views}")
    if views == 1:
        return h
    n = len(h)
    out = np.empty((views * n, *h.shape[1:]), h.dtype)
    for k in range(views):
        c, s = (h.dtype.type(f(2 * np.pi * k / views)) for f in (np.cos, np.sin))
        view = out[k * n : (k + 1) * n]
        np.subtract(c * h[:, 0], s * h[:, 1], out=view[:, 0])
        np.add(s * h[:, 0], c * h[:, 1], out=view[:, 1])
    return out


@dataclass(frozen=True)
class Split:
    """A region's data split 8:1:1, each ``[n, 2, 32, 32] float32``."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def split_sizes(n: int, fractions=(0.8, 0.1, 0.1)) -> tuple[int, int]:
    """The training and validation sizes ``split_region`` gives ``n`` samples (the rest,
    at least one, is the test set)."""
    return min(max(1, round(fractions[0] * n)), n - 2), max(1, round(fractions[1] * n))


def split_region(h_real: np.ndarray, seed: int, fractions=(0.8, 0.1, 0.1)) -> Split:
    """Shuffle (seeded) and split a region's samples 8:1:1."""
    n = h_real.shape[0]
    if n < 3:
        raise DataError(f"a region needs at least 3 samples to split, got {n}")
    if not np.isfinite(h_real).all():
        raise DataError("data set holds NaN/Inf values")
    perm = np.random.default_rng(seed).permutation(n)
    n_train, n_val = split_sizes(n, fractions)
    tr, va, te = np.split(perm, [n_train, n_train + n_val])
    return Split(h_real[tr], h_real[va], h_real[te])


class ChannelCache:
    """Generated channels keyed by the spec's hash and the number of samples."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def path(self, spec: EnvSpec, n: int) -> Path:
        return self.root / "channels" / spec.key() / f"n{n}.npy"

    def has(self, spec: EnvSpec, n: int) -> bool:
        return self.path(spec, n).is_file()

    def load(self, spec: EnvSpec, n: int) -> np.ndarray:
        path = self.path(spec, n)
        h = np.load(path, allow_pickle=False)
        if h.dtype != np.complex64 or h.shape != (n, spec.n_ant, spec.n_sc):
            raise DataError(f"cache shard {path} holds {h.dtype} {h.shape}; delete it to redraw")
        if not np.isfinite(h).all():
            raise DataError(f"cache shard {path} holds NaN/Inf; delete it to redraw")
        return h

    def save(self, spec: EnvSpec, h: np.ndarray) -> Path:
        path = self.path(spec, h.shape[0])
        meta = path.parent / "spec.json"
        if not meta.exists():
            atomic_write_bytes(meta, lambda f: f.write(json.dumps(spec.to_dict()).encode()))
        atomic_write_bytes(path, lambda f: np.save(f, h.astype(np.complex64)))
        return path

    def get(
        self,
        spec: EnvSpec,
        n: int,
        generate: Callable[[EnvSpec, int], np.ndarray],
    ) -> np.ndarray:
        """The cached shard, or ``generate(spec, n)`` saved then returned."""
        if self.has(spec, n):
            return self.load(spec, n)
        h = generate(spec, n)
        self.save(spec, h)
        return h
