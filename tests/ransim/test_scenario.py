"""ransim scenarios: validation of the file, and the simulated RAN's clock and moves."""

import json

import numpy as np
import pytest

from lasco.errors import ConfigError
from ransim.scenario import Ran, Scenario
from schemas import load
from xapp import e2ap
from xapp.e2sm_csi import decode_report

EXAMPLE = load("ransim-scenario")["examples"][0]


def _small(**over):
    return {
        "period_ms": 100,
        "ues_per_report": 4,
        "label_fraction": 0.5,
        "samples_per_environment": 12,
        "nodes": [
            {"id": "gnb-1", "cells": [{"id": "a", "environment": "12"}]},
            {"id": "gnb-2", "cells": [{"id": "b", "environment": "14"}]},
        ],
        "moves": [{"at_s": 0.2, "cell": "a", "environment": "102"}],
        **over,
    }


def test_the_example_scenario_reads_typed():
    sc = Scenario.from_dict(EXAMPLE)
    assert [n.node_id for n in sc.nodes] == ["gnb-1", "gnb-2"]
    assert sc.cells() == {
        "cell-1": "gnb-1",
        "cell-2": "gnb-1",
        "cell-3": "gnb-2",
        "cell-4": "gnb-2",
    }
    assert [m.environment for m in sc.moves] == ["102", "104", "101"]
    assert (sc.period_ms, sc.ues_per_report, sc.samples_per_environment) == (10, 16, 400)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"nodes": []}, "scenario: ransim-scenario: /nodes"),
        ({"period_ms": 0}, "/period_ms"),
        ({"moves": [{"at_s": 1, "cell": "z", "environment": "101"}]}, "names cell 'z'"),
        ({"moves": [{"at_s": 1, "cell": "a", "environment": "999"}]}, "no region '999'"),
        (
            {"nodes": [{"id": "g", "cells": [{"id": "a", "environment": "1"}] * 2}]},
            "a cell id is used twice",
        ),
    ],
    ids=["no-nodes", "zero-period", "unknown-cell", "unknown-environment", "duplicate-cell"],
)
def test_a_bad_scenario_is_refused_naming_what_is_wrong(change, message):
    with pytest.raises(ConfigError, match=message):
        Scenario.from_dict(_small(**change))


def test_load_refuses_a_file_that_is_not_json(tmp_path):
    path = tmp_path / "s.json"
    path.write_text("{nodes")
    with pytest.raises(ConfigError, match=f"scenario {path}"):
        Scenario.load(path)


def test_each_period_every_cell_reports_and_moves_happen_on_time(tmp_path, channel_cache):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(_small()))
    ran = Ran(Scenario.load(path), cache=channel_cache)
    first = ran.step()
    assert [(i.node_id, i.cell, i.environment, i.t_s) for i in first] == [
        ("gnb-1", "a", "12", 0.0),
        ("gnb-2", "b", "14", 0.0),
    ]
    ind = e2ap.decode_indication(first[0].pdu)
    report = decode_report(ind.header, ind.message, max_payload=1 << 22, max_ues=64)
    assert report.cell_id == "a" and len(report) == 4 and len(report.label_rows) == 2
    rest = list(ran.run(until_s=0.4))
    assert [(i.cell, i.environment) for i in rest if i.t_s < 0.15] == [("a", "12"), ("b", "14")]
    assert [(i.cell, i.environment) for i in rest if i.t_s > 0.15] == [
        ("a", "102"),
        ("b", "14"),
        ("a", "102"),
        ("b", "14"),
    ]
    assert ran.environment("a") == "102" and [m.cell for m in ran.moved] == ["a"]
    assert ran.t_s == pytest.approx(0.4)


def test_a_moved_cell_draws_its_channels_from_the_new_environment(channel_cache):
    ran = Ran(Scenario.from_dict(_small()), cache=channel_cache)
    before = ran.nodes["gnb-1"].cells["a"].h.copy()
    list(ran.run(until_s=0.3))
    after = ran.nodes["gnb-1"].cells["a"].h
    assert after.shape == before.shape and not np.allclose(after, before)


def test_a_cell_can_be_moved_by_hand(channel_cache):
    ran = Ran(Scenario.from_dict(_small(moves=[])), cache=channel_cache)
    move = ran.move("b", "104")
    assert ran.environment("b") == "104" and move.at_s == 0.0 and ran.moved == [move]
    with pytest.raises(ConfigError, match="no cell 'z'"):
        ran.move("z", "101")
    with pytest.raises(ConfigError, match="no region '999'"):
        ran.move("b", "999")
