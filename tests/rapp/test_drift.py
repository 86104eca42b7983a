"""Per-cell change detection (rapp.drift) on synthetic NMSE series with fixed seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from river.base import DriftDetector
from river.drift import ADWIN

from lasco.errors import ConfigError
from rapp.drift import DriftEvent, DriftSettings, DriftWatch

BASE_DB = -15.0
T0 = 1_700_000_000_000_000_000
STEP_NS = 1_000_000_000

DETECTORS = {
    "page-hinkley": None,  # the default
    "adwin": lambda series: ADWIN(),
}


def noisy(seed: int, n: int, sigma: float = 1.0, steps: dict[int, float] | None = None):
    """``n`` points of NMSE (dB) around BASE_DB, shifted by ``step`` from each index on."""
    x = BASE_DB + sigma * np.random.default_rng(seed).standard_normal(n)
    for at, step in (steps or {}).items():
        x[at:] += step
    return x


def t(i: int) -> int:
    return T0 + i * STEP_NS


def feed(watch: DriftWatch, xs, cell: str = "c1", series: str = "nmse_db") -> list[DriftEvent]:
    events = []
    for i, x in enumerate(xs):
        events += watch.update(cell, t(i), {series: float(x)})
    return events


@pytest.fixture(params=sorted(DETECTORS))
def watch(request) -> DriftWatch:
    return DriftWatch(detector_factory=DETECTORS[request.param])


@pytest.mark.parametrize(
    ("step", "direction"), [(3.0, "worse"), (2.0, "worse"), (-3.0, "better"), (-2.0, "better")]
)
@pytest.mark.parametrize("seed", [1, 2])
def test_a_step_is_detected_once_with_its_direction_and_levels(watch, step, direction, seed):
    at = 400
    events = feed(watch, noisy(seed, 800, steps={at: step}))
    assert [(e.cell, e.series, e.direction) for e in events] == [("c1", "nmse_db", direction)]
    (e,) = events
    assert abs(e.change_t_ns - t(at)) <= 10 * STEP_NS
    assert e.t_ns > e.change_t_ns
    assert e.before == pytest.approx(BASE_DB, abs=0.3)
    assert e.after == pytest.approx(BASE_DB + step, abs=1.0)
    assert e.change == pytest.approx(e.after - e.before)
    assert e.samples > at
    assert 0 < e.after_samples < e.samples
    assert watch.detections == 1


@pytest.mark.parametrize("seed", [3, 4, 5])
@pytest.mark.parametrize("sigma", [0.5, 1.0])
def test_noise_without_a_step_is_not_a_change(watch, seed, sigma):
    assert feed(watch, noisy(seed, 5000, sigma)) == []
    assert watch.detections == 0
    (status,) = watch.status("c1").values()
    assert status.samples == 5000
    assert status.level == pytest.approx(BASE_DB, abs=0.1)


@pytest.mark.parametrize("at", [3, 10, 20])
@pytest.mark.parametrize("step", [3.0, -3.0, 10.0])
def test_a_step_during_the_warm_up_becomes_the_baseline(watch, at, step):
    assert watch.settings.min_points == 30
    assert feed(watch, noisy(7, 600, steps={at: step})) == []
    (status,) = watch.status("c1").values()
    assert not status.warming_up
    assert status.level == pytest.approx(BASE_DB + step, abs=0.3)


def test_a_change_after_a_warm_up_step_is_measured_from_the_new_level(watch):
    events = feed(watch, noisy(8, 900, steps={10: 3.0, 500: 3.0}))
    assert [e.direction for e in events] == ["worse"]
    assert events[0].before == pytest.approx(BASE_DB + 3.0, abs=0.3)
    assert events[0].after == pytest.approx(BASE_DB + 6.0, abs=0.6)


def test_after_a_change_a_new_baseline_forms(watch):
    events = feed(watch, noisy(9, 1300, steps={400: 3.0, 850: -3.0}))
    assert [e.direction for e in events] == ["worse", "better"]
    first, second = events
    assert second.before == pytest.approx(BASE_DB + 3.0, abs=0.3)
    assert second.after == pytest.approx(BASE_DB, abs=0.6)
    assert second.samples < 1300 - 400
    assert abs(second.change_t_ns - t(850)) <= 5 * STEP_NS
    assert first.t_ns < second.change_t_ns


def test_cells_are_independent(watch):
    moving, steady = noisy(10, 800, steps={400: 4.0}), noisy(11, 800)
    events = []
    for i in range(800):
        events += watch.update("moving", t(i), {"nmse_db": float(moving[i])})
        events += watch.update("steady", t(i), {"nmse_db": float(steady[i])})
    assert [(e.cell, e.direction) for e in events] == [("moving", "worse")]
    assert watch.cells == ["moving", "steady"]
    assert watch.status("steady")["nmse_db"].samples == 800
    assert watch.status("moving")["nmse_db"].samples < 800


@pytest.mark.parametrize(
    ("step", "direction"), [(-30.0, "worse"), (30.0, "better")], ids=["fall", "rise"]
)
def test_a_series_where_lower_is_worse(step, direction):
    settings = DriftSettings(
        series=("nmse_db", "served"), lower_is_worse=("served",), delta=5.0, threshold=250.0
    )
    watch = DriftWatch(settings)
    served = 100.0 + 10.0 * np.random.default_rng(12).standard_normal(800)
    served[400:] += step
    nmse = noisy(13, 800)
    events = []
    for i in range(800):
        events += watch.update("c1", t(i), {"nmse_db": float(nmse[i]), "served": served[i]})
    assert [(e.series, e.direction) for e in events] == [("served", direction)]
    assert set(watch.status("c1")) == {"nmse_db", "served"}


def test_points_not_newer_than_the_last_are_ignored(watch):
    xs = noisy(14, 100)
    feed(watch, xs)
    feed(watch, xs[:50] + 20.0)  # a re-read of an overlapping window, shifted to show
    assert watch.stale_points == 50
    status = watch.status("c1")["nmse_db"]
    assert status.samples == 100
    assert status.last_t_ns == t(99)


@pytest.mark.parametrize("value", [math.nan, math.inf, None, True])
def test_missing_and_non_finite_values_are_skipped(watch, value):
    watch.update("c1", t(0), {"nmse_db": -15.0})
    watch.update("c1", t(1), {"nmse_db": value, "served": 3.0})
    watch.update("c1", t(2), {"served": 3.0})
    assert watch.status("c1")["nmse_db"].samples == 1


def test_reset_forgets_a_cell_or_all(watch):
    for cell in ("a", "b"):
        feed(watch, noisy(15, 40), cell=cell)
    watch.reset("a")
    assert watch.cells == ["b"]
    assert watch.status("a") == {}
    watch.reset()
    assert watch.cells == []


def test_status_reports_the_warm_up(watch):
    feed(watch, noisy(16, 29))
    assert watch.status("c1")["nmse_db"].warming_up
    feed(watch, [BASE_DB], series="nmse_db", cell="c2")
    assert watch.status("c2")["nmse_db"].samples == 1


class AlwaysFires(DriftDetector):
    """A detector that calls every point a change."""

    def update(self, x: float) -> None:
        self._drift_detected = True


def test_a_detector_that_always_fires_never_gets_past_the_warm_up():
    watch = DriftWatch(detector_factory=lambda series: AlwaysFires())
    assert feed(watch, noisy(17, 200)) == []
    assert watch.warmup_restarts == 200
    assert watch.status("c1")["nmse_db"].warming_up


@pytest.mark.parametrize(
    "kwargs",
    [
        {"series": ()},
        {"series": ("nmse_db", "nmse_db")},
        {"lower_is_worse": ("served",)},
        {"min_points": 0},
        {"min_points": 100, "history_points": 100},
        {"delta": -1.0},
        {"threshold": 0.0},
        {"alpha": 0.0},
        {"alpha": 1.5},
    ],
)
def test_settings_are_checked(kwargs):
    with pytest.raises(ConfigError):
        DriftSettings(**kwargs)
