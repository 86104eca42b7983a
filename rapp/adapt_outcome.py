"""What one adaptation did: accepted and published, or declined and why, with the numbers
the decision rests on and the time each stage took (JSON-serialisable)."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

__all__ = [
    "STAGES",
    "AdaptationOutcome",
    "Published",
    "Reason",
    "SampleCounts",
    "StageClock",
    "gate",
]

STAGES = ("prepare", "train", "gate", "publish")
"""The stages of an adaptation, in order; ``AdaptationOutcome.seconds`` has one per stage."""


class StageClock:
    """Seconds per stage (:data:`STAGES`), None for a stage not reached."""

    def __init__(self) -> None:
        self._seconds: dict[str, float | None] = dict.fromkeys(STAGES)
        self._current: tuple[str, float] | None = None

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self._current = (name, time.perf_counter())
        try:
            yield
        finally:
            self._seconds = self.snapshot()
            self._current = None

    def snapshot(self) -> dict[str, float | None]:
        """The seconds so far, the stage under way counted up to now."""
        out = dict(self._seconds)
        if self._current is not None:
            out[self._current[0]] = time.perf_counter() - self._current[1]
        return out


class Reason(str, Enum):
    """Why an adaptation ended as it did (``AdaptationOutcome.reason``)."""

    ACCEPTED = "accepted"
    """The candidate passed the gate and was published."""
    TOO_FEW_SAMPLES = "too-few-samples"
    """Fewer usable samples than ``min_samples``."""
    PROJECTION_MISMATCH = "projection-mismatch"
    """The samples were compressed with another projection than the LAM decodes."""
    NOT_BETTER_THAN_LAM = "not-better-than-lam"
    """The candidate does not beat the LAM alone by the margin on the held-out samples."""
    NOT_BETTER_THAN_RUNNING = "not-better-than-running"
    """The candidate does not beat the running proxy by the margin."""
    ALPHA_OUT_OF_RANGE = "alpha-out-of-range"
    """E-LASCO learnt an alpha outside [0, 10], which the manifest and runtime refuse."""
    PUBLISH_FAILED = "publish-failed"
    """The candidate passed the gate but its export or publishing failed; nothing was
    published."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class SampleCounts:
    """Samples given, usable (finite, at most ``max_samples`` newest), and per split."""

    given: int
    usable: int
    train: int = 0
    val: int = 0
    held_out: int = 0


@dataclass(frozen=True)
class Published:
    """The store version an accepted proxy was published as."""

    name: str
    version: int
    onnx_sha256: str


@dataclass(frozen=True)
class AdaptationOutcome:
    """One environment's adaptation.

    Attributes:
        environment: the environment id.
        accepted: True exactly when a new proxy version was published.
        reason: :class:`Reason`; ``detail`` says it for people, with the numbers.
        method: the method key (``lasco.collab.METHODS``); ``mode`` its serving mode.
        samples: counts given, usable and per split (train, val, held-out).
        lam: ``name vN`` of the LAM adapted against (None if not reached).
        running: ``name vN`` of the running proxy, if any; ``running_skipped`` why it was
            not scored (then the gate compared with the LAM alone).
        lam_nmse_db, running_nmse_db, candidate_nmse_db: held-out NMSE (dB) of the LAM
            alone and the running proxy as it is combined (ONNX Runtime), and the candidate
            (torch; its published ONNX model matches it to 1e-4, the export's parity check).
        val_nmse_db: the candidate's best validation NMSE (dB); ``epochs`` trained,
            ``best_epoch`` the one kept (0: the initial state).
        alpha: the candidate's alpha (E-LASCO; None for LASCO).
        published: name, version and ONNX sha256 of the published proxy.
        seconds: wall-clock seconds of each stage in :data:`STAGES` (None: not reached).
    """

    environment: str
    accepted: bool
    reason: Reason
    detail: str
    method: str
    samples: SampleCounts
    mode: str | None = None
    lam: str | None = None
    running: str | None = None
    running_skipped: str | None = None
    lam_nmse_db: float | None = None
    running_nmse_db: float | None = None
    candidate_nmse_db: float | None = None
    val_nmse_db: float | None = None
    epochs: int | None = None
    best_epoch: int | None = None
    alpha: float | None = None
    published: Published | None = None
    seconds: dict[str, float | None] = field(default_factory=lambda: dict.fromkeys(STAGES))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only; a non-finite number (a diverged run) reads as null."""
        out = asdict(self)
        out["reason"] = self.reason.value
        return _finite(out)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def gate(
    candidate_db: float, lam_db: float, running_db: float | None, margin_db: float
) -> tuple[Reason, str]:
    """The gate on held-out NMSEs (dB): the candidate must be at least ``margin_db`` below
    the LAM alone and the running proxy (None: none, or not scored). Returns the reason
    (ACCEPTED, NOT_BETTER_THAN_LAM or NOT_BETTER_THAN_RUNNING) and why, with the numbers;
    a non-finite candidate (a diverged run) never passes."""
    if not candidate_db <= lam_db - margin_db:
        return Reason.NOT_BETTER_THAN_LAM, (
            f"candidate {candidate_db:.3f} dB vs LAM alone {lam_db:.3f} dB: "
            f"needs {margin_db:g} dB better"
        )
    if running_db is not None and not candidate_db <= running_db - margin_db:
        return Reason.NOT_BETTER_THAN_RUNNING, (
            f"candidate {candidate_db:.3f} dB vs running proxy {running_db:.3f} dB: "
            f"needs {margin_db:g} dB better"
        )
    also = f" and running proxy {running_db:.3f} dB" if running_db is not None else ""
    return Reason.ACCEPTED, f"candidate {candidate_db:.3f} dB beats LAM alone {lam_db:.3f} dB{also}"
