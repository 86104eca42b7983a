"""UE-side projection codec (numpy only).

The UE compresses its CSI with a fixed random linear projection and the network
recovers a coarse estimate with the pseudo-inverse (docs/method.md):

    s    = A vec(H)              A in R^{M x 2048}, M = CR * 2048
    H_in = devec(A^+ s)          A^+ = A^T (A A^T)^{-1}, computed once

``vec`` flattens the real view ``[2, 32, 32]`` (real/imag, antenna, subcarrier)
in C order. A projection is named by its id ``"gauss-<seed>-<M>"``; E2 reports
carry that id so the network knows which A^+ to apply. The UE never changes:
adaptation happens on the network side alone.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from lasco.errors import ConfigError, ShapeError

__all__ = ["COMPRESSION_RATIOS", "CSI_DIM", "CSI_SHAPE", "Projection", "parse_ratio"]

CSI_SHAPE: tuple[int, int, int] = (2, 32, 32)
"""Real view of one CSI matrix: [real/imag, BS antenna, subcarrier]."""
CSI_DIM: int = 2 * 32 * 32
COMPRESSION_RATIOS: tuple[Fraction, ...] = tuple(Fraction(1, k) for k in (4, 8, 16, 32))
_ID_RE = re.compile(r"^gauss-(\d+)-(\d+)$")


def parse_ratio(value: str | float | Fraction) -> Fraction:
    """Parse a compression ratio such as ``"1/4"``, ``0.25`` or ``Fraction(1, 4)``.

    Raises ConfigError when it is not positive, above 1, or does not divide 2048
    into a whole number of codeword values.
    """
    try:
        ratio = Fraction(value).limit_denominator(4096)
    except (ValueError, ZeroDivisionError, TypeError) as exc:
        raise ConfigError(f"compression ratio {value!r} is not a number like '1/4'") from exc
    if not 0 < ratio <= 1:
        raise ConfigError(f"compression ratio {value!r} must lie in (0, 1]")
    m = ratio * CSI_DIM
    if m.denominator != 1:
        raise ConfigError(
            f"compression ratio {value!r} does not divide {CSI_DIM}: M = {float(m):g} "
            "is not a whole number"
        )
    return ratio


@dataclass(frozen=True)
class Projection:
    """A fixed Gaussian projection A [M, 2048] and its pseudo-inverse.

    Attributes:
        seed: seed of the generator that draws A (entries N(0, 1/M)).
        m: codeword length M.
    """

    seed: int
    m: int
    a: np.ndarray = field(init=False, repr=False, compare=False)
    a_pinv: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 1 <= self.m <= CSI_DIM:
            raise ConfigError(f"codeword length M={self.m} must lie in [1, {CSI_DIM}]")
        rng = np.random.default_rng(self.seed)
        a = rng.standard_normal((self.m, CSI_DIM)) / np.sqrt(self.m)
        # A has full row rank (Gaussian), so A^+ = A^T (A A^T)^{-1}: one M x M solve in
        # float64, exact to rounding and ~40x faster than an SVD-based pinv here.
        a_pinv = np.linalg.solve(a @ a.T, a).T  # [2048, M]
        object.__setattr__(self, "a", a.astype(np.float32))
        object.__setattr__(self, "a_pinv", a_pinv.astype(np.float32))

    @classmethod
    def from_ratio(cls, ratio: str | float | Fraction, seed: int = 0) -> Projection:
        """Projection for compression ratio ``ratio`` (M = ratio * 2048)."""
        return _cached(seed, int(parse_ratio(ratio) * CSI_DIM))

    @classmethod
    def from_id(cls, projection_id: str) -> Projection:
        """Rebuild a projection from its id ``"gauss-<seed>-<M>"``."""
        match = _ID_RE.match(projection_id)
        if match is None:
            raise ConfigError(f"projection id {projection_id!r} is not of the form 'gauss-SEED-M'")
        return _cached(int(match.group(1)), int(match.group(2)))

    @property
    def id(self) -> str:
        """Stable name of this projection, carried in E2 reports."""
        return f"gauss-{self.seed}-{self.m}"

    @property
    def ratio(self) -> Fraction:
        return Fraction(self.m, CSI_DIM)

    def encode(self, h: np.ndarray) -> np.ndarray:
        """UE side: ``h [N, 2, 32, 32] float32 -> s [N, M] float32``."""
        h = _check_csi(h)
        return h.reshape(h.shape[0], CSI_DIM) @ self.a.T

    def decode(self, s: np.ndarray) -> np.ndarray:
        """BS side: ``s [N, M] float32 -> H_in [N, 2, 32, 32] float32`` (A^+ s)."""
        s = np.asarray(s, dtype=np.float32)
        if s.ndim != 2 or s.shape[1] != self.m:
            raise ShapeError(f"codewords have shape {s.shape}, expected [N, {self.m}]")
        return (s @ self.a_pinv.T).reshape(s.shape[0], *CSI_SHAPE)

    def roundtrip(self, h: np.ndarray) -> np.ndarray:
        """``decode(encode(h))``: the coarse estimate H_in every refiner starts from."""
        return self.decode(self.encode(h))


@functools.lru_cache(maxsize=16)
def _cached(seed: int, m: int) -> Projection:
    """Projections are immutable: build each (seed, M) once per process."""
    return Projection(seed=seed, m=m)


def _check_csi(h: np.ndarray) -> np.ndarray:
    h = np.asarray(h)
    if h.ndim != 4 or tuple(h.shape[1:]) != CSI_SHAPE:
        raise ShapeError(f"CSI has shape {h.shape}, expected [N, 2, 32, 32]")
    return h.astype(np.float32, copy=False)
