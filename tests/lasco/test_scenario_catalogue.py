"""The built-in ``scenarios`` catalogue: the paper's UMi sources, and targets of
other TR 38.901 scenarios that a model pre-trained on those sources never saw."""

import numpy as np
import pytest

from lasco.channels import (
    Catalogue,
    builtin_catalogue,
    paper_catalogue,
    scenario_catalogue,
)
from lasco.errors import ConfigError

TARGETS = {
    "uma-los": ("UMa", True),
    "uma-nlos": ("UMa", False),
    "rma-los": ("RMa", True),
    "rma-nlos": ("RMa", False),
    "inh-los": ("InH", True),
    "inh-nlos": ("InH", False),
    "cdl-a": ("CDL-A", False),
    "cdl-d": ("CDL-D", True),
}


@pytest.fixture(scope="module")
def cat():
    return scenario_catalogue()


@pytest.fixture(scope="module")
def paper():
    return paper_catalogue()


def test_sources_are_the_papers(cat, paper):
    assert cat.name == "scenarios"
    assert cat.ids("source") == paper.ids("source")
    for env_id in paper.ids("source"):
        assert cat.get(env_id) == paper.get(env_id)
        assert cat.get(env_id).key() == paper.get(env_id).key()
    assert cat.hash() != paper.hash()


def test_targets_are_the_eight_other_scenarios(cat, paper):
    assert cat.ids("target") == list(TARGETS)
    assert len(set(cat.ids())) == len(cat) == 108
    specs = [cat.get(t) for t in TARGETS]
    for spec in specs:
        assert (spec.scenario, spec.los) == TARGETS[spec.env_id]
        assert spec.snapshot_ues == 5000
    seeds = {s.seed for s in specs}
    assert seeds == {2025 * 1000 + k for k in range(201, 209)}
    assert not seeds & {paper.get(i).seed for i in paper.ids()}


def test_target_geometry_follows_the_scenarios(cat):
    for spec in (cat.get(t) for t in TARGETS if not t.startswith("cdl")):
        x, y = spec.centre
        dist = np.hypot(x, y)
        assert abs(np.degrees(np.arctan2(y, x))) <= 60.0  # in front of the array (+x)
        lo, hi = {"UMa": (35.0, 300.0), "RMa": (300.0, 1200.0), "InH": (3.0, 40.0)}[spec.scenario]
        assert lo <= dist - spec.radius and dist + spec.radius <= hi
    assert cat.get("uma-los").bs_h == 25.0 and cat.get("rma-los").bs_h == 35.0
    assert cat.get("inh-los").radius < 5.0 and cat.get("inh-los").bs_h == 3.0
    for t in ("cdl-a", "cdl-d"):
        assert 100e-9 <= cat.get(t).delay_spread_s <= 300e-9


def test_seeded_and_roundtrips(cat, tmp_path):
    assert scenario_catalogue().hash() == cat.hash()
    assert scenario_catalogue(seed=1).hash() != cat.hash()
    path = tmp_path / "scenarios.json"
    cat.save(path)
    back = Catalogue.load(path)
    assert back.name == "scenarios" and back.hash() == cat.hash()
    assert [back.get(i) for i in back.ids()] == [cat.get(i) for i in cat.ids()]


def test_builtin_catalogue_by_name(cat, paper):
    assert builtin_catalogue("paper").hash() == paper.hash()
    assert builtin_catalogue("scenarios").hash() == cat.hash()
    with pytest.raises(ConfigError, match=r"'mars'.*paper, scenarios"):
        builtin_catalogue("mars")


@pytest.mark.slow
def test_every_target_generates(cat):
    from lasco.channels.generate import generate_region

    for env_id in TARGETS:
        h = generate_region(cat.get(env_id), 8)
        assert h.shape == (8, 32, 32) and h.dtype == np.complex64, env_id
        assert np.isfinite(h).all(), env_id
        assert np.allclose(np.mean(np.abs(h) ** 2, axis=(1, 2)), 1.0, atol=1e-4), env_id
