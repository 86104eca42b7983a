"""Per-cell change detection on the xApp's telemetry, in either direction.

Every (cell, series) pair, a series being one field of the xApp's per-interval telemetry such
as ``nmse_db`` (NMSE on labelled reports, dB), has its own river drift detector: by default a
two-sided Page-Hinkley test (``river.drift.PageHinkley``, mode ``"both"``); any other river
detector (``river.drift.ADWIN``, ``KSWIN``) through ``detector_factory``. A cell whose
channels got harder and one that moved into an easier environment have both changed.

When the detector fires, the change is located in the points kept since the series (re)started
as the most likely single shift of their mean (the Gaussian likelihood-ratio split). The means
on either side are the levels before and after, and their order gives the direction: a rise is
``"worse"`` unless the series is listed in ``DriftSettings.lower_is_worse``. A change that
began with fewer than ``min_points`` points before it (the warm-up) is not reported: the series
restarts from the points after it, which become the baseline. After a reported change the
series restarts the same way, so the next change is measured against the new level. A point at
or before the last one seen for its (cell, series) is ignored, so reading overlapping windows
of telemetry does no harm.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
from river.base import DriftDetector
from river.drift import PageHinkley

from lasco.errors import ConfigError

__all__ = [
    "DetectorFactory",
    "Direction",
    "DriftEvent",
    "DriftSettings",
    "DriftWatch",
    "SeriesStatus",
    "page_hinkley",
]

log = logging.getLogger(__name__)

Direction = Literal["worse", "better"]
DetectorFactory = Callable[[str], DriftDetector]
"""Builds a fresh detector for the named series (called at the start and at each restart)."""


@dataclass(frozen=True)
class DriftSettings:
    """What is watched and how sensitive the watch is.

    A point is one telemetry interval of one cell that carries the series (the xApp writes one
    per ``interval_s``, 1 s by default; ``nmse_db`` only in intervals with labelled reports).
    The Page-Hinkley parameters are in the units of the series (dB for ``nmse_db``): a step of
    ``s`` above ``delta`` is detected after roughly ``threshold / (s - delta)`` points once the
    baseline is long; a shift below ``delta`` is never detected.
    """

    series: tuple[str, ...] = ("nmse_db", "beam_db")
    """Names of the telemetry fields watched per cell; a point lacking one skips it."""
    lower_is_worse: tuple[str, ...] = ()
    """Series among ``series`` for which a fall is the worse direction (a throughput); for the
    others (NMSE in dB, latency, drops) a rise is worse."""
    min_points: int = 30
    """Warm-up, points: a change with fewer points before it since the series (re)started is
    not reported; they are dropped and the points after it become the baseline."""
    history_points: int = 3600
    """Points kept per cell and series to locate a change and measure the levels (an hour of
    1 s intervals, about 100 kB); older ones still count in ``samples``."""
    delta: float = 0.5
    """Page-Hinkley tolerance, series units per point (dB for ``nmse_db``): deviations from the
    running mean up to this never accumulate."""
    threshold: float = 25.0
    """Page-Hinkley detection threshold (lambda), series units times points (dB·points): the
    accumulated deviation beyond ``delta`` that makes a detection."""
    alpha: float = 1.0
    """Page-Hinkley forgetting factor of the accumulated deviations, per point. 1: none. Below 1
    the sums settle while the test keeps their all-time extreme, so noise alone trips it after
    some multiple of ``1 / (1 - alpha)`` points."""

    def __post_init__(self) -> None:
        if not self.series or len(set(self.series)) != len(self.series):
            raise ConfigError(f"drift series must be distinct and not empty: {self.series!r}")
        unknown = set(self.lower_is_worse) - set(self.series)
        if unknown:
            raise ConfigError(f"lower_is_worse names series not watched: {sorted(unknown)}")
        if not 1 <= self.min_points < self.history_points:
            raise ConfigError(
                "need 1 <= min_points < history_points, got "
                f"{self.min_points}, {self.history_points}"
            )
        if self.delta < 0 or self.threshold <= 0 or not 0 < self.alpha <= 1:
            raise ConfigError(
                "need delta >= 0, threshold > 0, 0 < alpha <= 1, got "
                f"{self.delta}, {self.threshold}, {self.alpha}"
            )


def page_hinkley(settings: DriftSettings) -> DetectorFactory:
    """The default detectors: two-sided Page-Hinkley with the settings' parameters. Its own
    minimum is one point: the warm-up is ``DriftWatch``'s, the same for every detector."""

    def factory(series: str) -> DriftDetector:
        return PageHinkley(
            min_instances=1,
            delta=settings.delta,
            threshold=settings.threshold,
            alpha=settings.alpha,
            mode="both",
        )

    return factory


@dataclass(frozen=True)
class DriftEvent:
    """A change in one series of one cell, detected at ``t_ns``.

    ``before`` and ``after`` are the means (series units) of the kept points on either side of
    the located change, whose first point after it is at ``change_t_ns`` (labelled samples
    from then on are of the new conditions). ``samples`` counts the points since the series
    (re)started, ``after_samples`` those from the change on.
    """

    cell: str
    series: str
    direction: Direction
    t_ns: int
    change_t_ns: int
    before: float
    after: float
    samples: int
    after_samples: int

    @property
    def change(self) -> float:
        """``after - before``, series units (dB for ``nmse_db``)."""
        return self.after - self.before


@dataclass(frozen=True)
class SeriesStatus:
    """Where one series of one cell stands: points since it (re)started, their mean (series
    units; NaN before the first), whether it is still warming up, and its last point's time."""

    samples: int
    level: float
    warming_up: bool
    last_t_ns: int | None


@dataclass
class _Series:
    detector: DriftDetector
    history: collections.deque[tuple[int, float]]
    n: int = 0
    total: float = 0.0
    last_t_ns: int | None = None

    def add(self, t_ns: int, x: float) -> None:
        self.history.append((t_ns, x))
        self.n += 1
        self.total += x
        self.last_t_ns = t_ns
        self.detector.update(x)

    def split(self) -> tuple[int, float, float]:
        """(index in the history of the first point after the change, mean before, mean
        from it on), the change located where a mean shift is most likely: the split ``k``
        maximising ``S_k**2 * m / (k * (m - k))``, ``S_k`` the cumulative deviation of the
        first ``k`` of the ``m`` points from their mean (the Gaussian likelihood ratio)."""
        xs = np.fromiter((x for _, x in self.history), float, len(self.history))
        m = len(xs)
        k = np.arange(1, m)
        s_k = np.cumsum(xs - xs.mean())[:-1]
        k_best = int(k[np.argmax(s_k**2 * m / (k * (m - k)))])
        return k_best, float(xs[:k_best].mean()), float(xs[k_best:].mean())


class DriftWatch:
    """Change detection per cell and series; thread-safe.

    ``update`` takes one telemetry point of one cell and returns the changes it completes
    (usually none). Counters: ``detections``, ``warmup_restarts`` (changes that began inside
    a warm-up), ``stale_points`` (points not newer than the last of their series).
    """

    def __init__(
        self,
        settings: DriftSettings | None = None,
        detector_factory: DetectorFactory | None = None,
    ) -> None:
        self.settings = settings or DriftSettings()
        self._factory = detector_factory or page_hinkley(self.settings)
        self._cells: dict[str, dict[str, _Series]] = {}
        self._lock = threading.Lock()
        self.detections = 0
        self.warmup_restarts = 0
        self.stale_points = 0

    def _fresh(self, name: str, points: Iterable[tuple[int, float]] = ()) -> _Series:
        """A new series for ``name`` fed ``points`` (the start of its baseline)."""
        s = _Series(self._factory(name), collections.deque(maxlen=self.settings.history_points))
        for t_ns, x in points:
            s.add(t_ns, x)
        return s

    def update(self, cell: str, t_ns: int, values: Mapping[str, float]) -> list[DriftEvent]:
        """Feed one point of ``cell`` at ``t_ns`` (ns since the epoch); ``values`` may hold
        any fields, those watched and finite are used. Returns the changes detected."""
        events: list[DriftEvent] = []
        with self._lock:
            state = self._cells.setdefault(cell, {})
            for name in self.settings.series:
                x = values.get(name)
                if x is None or isinstance(x, bool) or not math.isfinite(x):
                    continue
                s = state.get(name)
                if s is None:
                    s = state[name] = self._fresh(name)
                if s.last_t_ns is not None and t_ns <= s.last_t_ns:
                    self.stale_points += 1
                    continue
                s.add(t_ns, float(x))
                if s.detector.drift_detected:
                    event = self._locate(cell, name, t_ns, s)
                    if event is not None:
                        events.append(event)
        for e in events:
            log.info(
                "cell %s %s: %s, %.4g -> %.4g (%d points, %d since the change)",
                e.cell,
                e.series,
                e.direction,
                e.before,
                e.after,
                e.samples,
                e.after_samples,
            )
        return events

    def _locate(self, cell: str, name: str, t_ns: int, s: _Series) -> DriftEvent | None:
        """Locate the change just detected, restart the series from the points after it, and
        return the event, or None when the change began inside the warm-up."""
        history = list(s.history)
        if len(history) < 2:  # nothing to locate a change in: a restart
            self._cells[cell][name] = self._fresh(name, history)
            self.warmup_restarts += 1
            return None
        k, before, after = s.split()
        self._cells[cell][name] = self._fresh(name, history[k:])
        if s.n - len(history) + k < self.settings.min_points:
            self.warmup_restarts += 1
            log.debug("cell %s %s: change inside the warm-up, baseline restarted", cell, name)
            return None
        self.detections += 1
        rose = after >= before
        worse = rose != (name in self.settings.lower_is_worse)
        return DriftEvent(
            cell=cell,
            series=name,
            direction="worse" if worse else "better",
            t_ns=t_ns,
            change_t_ns=history[k][0],
            before=before,
            after=after,
            samples=s.n,
            after_samples=len(history) - k,
        )

    def reset(self, cell: str | None = None) -> None:
        """Forget ``cell`` (every cell when None): its series start again from nothing, e.g.
        after the xApp moved it to another environment or after an adaptation."""
        with self._lock:
            if cell is None:
                self._cells.clear()
            else:
                self._cells.pop(cell, None)

    @property
    def cells(self) -> list[str]:
        """The cells seen since their last ``reset``, sorted."""
        with self._lock:
            return sorted(self._cells)

    def status(self, cell: str) -> dict[str, SeriesStatus]:
        """Per watched series of ``cell`` that has had a point: where it stands."""
        with self._lock:
            return {
                name: SeriesStatus(
                    samples=s.n,
                    level=s.total / s.n if s.n else math.nan,
                    warming_up=s.n < self.settings.min_points,
                    last_t_ns=s.last_t_ns,
                )
                for name, s in self._cells.get(cell, {}).items()
            }
