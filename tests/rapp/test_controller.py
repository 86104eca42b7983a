"""The rApp's loop with its parts replaced by recording fakes: triggers, waiting for samples,
adaptation outcomes, A1 deployment, the operator's requests, and failing parts."""

import dataclasses

import numpy as np
import pytest

from datastore import LabelledSamples
from rapp.a1_base import A1Result, A1Status
from rapp.controller import RappController
from rapp.drift import DriftSettings, DriftWatch
from rapp.environments import Environment, ProxyVersion, policy_id
from rapp.loop_types import ControllerSettings
from rapp.telemetry import TelemetryRow, TelemetryUnavailable, open_event_log
from schemas import Mode

LAM = "a" * 64
T0 = 1_000_000_000_000


def samples(env, cells, t0, n):
    return LabelledSamples(
        env,
        "gauss-0-512",
        np.zeros((n, 2, 32, 32), np.float32),
        np.zeros((n, 8), np.float32),
        np.array(cells * (n // len(cells)), dtype=object),
        np.arange(t0, t0 + n, dtype=np.int64),
    )


class Telemetry:
    def __init__(self):
        self.rows, self.down = [], False

    def read(self, since_ns, until_ns=None):
        if self.down:
            raise TelemetryUnavailable("InfluxDB is down")
        return [r for r in self.rows if r.t_ns > since_ns]

    def step(self, cell, before, after, n=40, t0=T0):
        """n points at ``before`` dB then n at ``after`` (one per second)."""
        levels = [before] * n + [after] * n
        self.rows += [
            TelemetryRow(cell, "", t0 + i * 10**9, {"nmse_db": x + 0.05 * (-1) ** i})
            for i, x in enumerate(levels)
        ]


class Data:
    def __init__(self):
        self.by_key, self.fail = {}, False

    def read(self, environment, max_samples=None, since_ns=None):
        if self.fail:
            raise OSError("data store unreachable")
        s = self.by_key.get(environment, samples(environment, ["x"], 0, 0))
        s = s.take(s.t_ns >= (since_ns or 0))
        return s.newest(max_samples) if max_samples else s

    def count(self, environment):
        return len(self.by_key.get(environment, samples(environment, ["x"], 0, 0)))


class Adapter:
    def __init__(self, accepted=True):
        self.accepted, self.calls, self.fail = accepted, [], False

    def __call__(self, environment, s, running):
        self.calls.append((environment, len(s), running, set(s.cells)))
        if self.fail:
            raise RuntimeError("the training node died")
        if not self.accepted:
            return {"accepted": False, "reason": "not-better-than-lam", "lam_nmse_db": -5.0}
        version = 1 + sum(c[0] == environment for c in self.calls[:-1])
        return {
            "accepted": True,
            "reason": "accepted",
            "mode": "e-lasco",
            "alpha": 0.8,
            "lam_nmse_db": -5.0,
            "candidate_nmse_db": -7.0,
            "published": {
                "name": f"proxy-{environment}",
                "version": version,
                "onnx_sha256": "b" * 64,
            },
        }


class A1:
    def __init__(self):
        self.puts, self.deletes, self.down = [], [], False

    def put_policy(self, instance_id, policy):
        self.puts.append((instance_id, policy))
        status = A1Status.UNREACHABLE if self.down else A1Status.ENFORCED
        return A1Result(not self.down, status, "put_policy", instance_id)

    def delete_policy(self, instance_id):
        self.deletes.append(instance_id)
        return A1Result(True, A1Status.DELETED, "delete_policy", instance_id)


@pytest.fixture
def world():
    tel, data, adapter, a1 = Telemetry(), Data(), Adapter(), A1()
    bad = []
    ctl = RappController(
        ControllerSettings(min_fresh_samples=100, store_uri="/srv/store"),
        telemetry=tel,
        events=open_event_log(None),
        data=data,
        adapter=adapter,
        a1=a1,
        lam_sha256=LAM,
        drift=DriftWatch(DriftSettings(min_points=20)),
        mark_bad=lambda *a: bad.append(a),
        clock=lambda: T0 + 10**12,
    )
    return dataclasses.make_dataclass("W", ["ctl", "tel", "data", "adapter", "a1", "bad"])(
        ctl, tel, data, adapter, a1, bad
    )


def kinds(events):
    return [(e.kind, e.environment) for e in events]


@pytest.mark.parametrize(
    ("before", "after", "direction"),
    [(-10.0, -4.0, "worse"), (-4.0, -10.0, "better")],
    ids=["worse", "better"],
)
def test_a_drifted_cell_gets_an_environment_of_its_own_once_its_samples_arrive(
    world, before, after, direction
):
    world.tel.step("cell-1", before, after)
    events = world.ctl.tick()
    assert kinds(events) == [("trigger", "cell-1.1")]
    assert events[0].fields["direction"] == direction
    assert world.adapter.calls == []  # no fresh samples yet
    change = T0 + 40 * 10**9
    world.data.by_key["cell:cell-1"] = samples(
        "cell:cell-1", ["cell-1", "cell-2"], change - 50, 400
    )
    events = world.ctl.tick()
    assert kinds(events) == [
        ("adaptation", "cell-1.1"),
        ("gate", "cell-1.1"),
        ("publish", "cell-1.1"),
        ("a1", "cell-1.1"),
    ]
    ((env, n, running, cells),) = world.adapter.calls
    assert (env, running, cells) == ("cell-1.1", None, {"cell-1"})
    assert n == 200 - 25  # only cell-1's samples since the change
    ((instance, policy),) = world.a1.puts
    assert instance == policy_id("cell-1.1") and policy.cells == ("cell-1",)
    assert policy.mode is Mode.E_LASCO and policy.lam_sha256 == LAM and policy.alpha == 0.8
    assert policy.proxy.name == "proxy-cell-1.1" and policy.proxy.store_uri == "/srv/store"
    assert world.ctl.history[-1]["accepted"] and world.ctl.history[-1]["a1_status"] == "ENFORCED"


def _serving(world, env, cells, version=1):
    pv = ProxyVersion(f"proxy-{env}", version, "c" * 64, Mode.E_LASCO, 0.9)
    world.ctl.table.put(Environment(env, cells, Mode.E_LASCO, (pv,), "new"))
    return pv


@pytest.mark.parametrize(
    ("cells", "updated", "deleted"),
    [
        (("cell-1", "cell-2"), [(policy_id("101"), ("cell-2",))], []),
        (("cell-1",), [], ["csi-sam-101"]),
    ],
    ids=["others-stay", "last-cell"],
)
def test_a_cell_that_moves_out_leaves_its_old_environments_policy(world, cells, updated, deleted):
    pv = _serving(world, "101", cells)
    world.tel.step("cell-1", -12.0, -5.0)
    world.data.by_key["101"] = samples("101", ["cell-1"], T0 + 40 * 10**9, 300)
    world.ctl.tick()
    ((_, _, running, _),) = world.adapter.calls
    assert running == pv.running()  # the gate compares with what the cell runs now
    assert world.a1.puts[0][0] == policy_id("cell-1.1")
    assert [(i, p.cells) for i, p in world.a1.puts[1:]] == updated
    assert world.a1.deletes == deleted


def test_a_declined_adaptation_deploys_nothing(world):
    world.adapter.accepted = False
    world.tel.step("cell-1", -10.0, -4.0)
    world.data.by_key["cell:cell-1"] = samples("cell:cell-1", ["cell-1"], T0 + 40 * 10**9, 300)
    world.ctl.tick()
    assert world.a1.puts == [] and world.ctl.counters["declined"] == 1
    assert world.ctl.history[-1]["reason"] == "not-better-than-lam"
    assert "cell-1.1" not in world.ctl.table


def test_failing_parts_end_in_counters_and_the_loop_goes_on(world):
    world.tel.down = True
    assert world.ctl.tick() == [] and world.ctl.counters["telemetry_unavailable"] == 1
    world.tel.down = False
    world.tel.step("cell-1", -10.0, -4.0)
    world.ctl.tick()
    world.data.fail = True
    assert world.ctl.tick() == [] and world.ctl.counters["data_unavailable"] == 1
    world.data.fail = False
    world.adapter.fail = True
    world.data.by_key["cell:cell-1"] = samples("cell:cell-1", ["cell-1"], T0 + 40 * 10**9, 300)
    world.ctl.tick()
    assert world.ctl.counters["adaptation_failed"] == 1 and world.a1.puts == []
    assert world.ctl.history[-1]["reason"] == "error"


def test_an_a1_failure_is_counted_and_reported(world):
    world.a1.down = True
    world.tel.step("cell-1", -10.0, -4.0)
    world.data.by_key["cell:cell-1"] = samples("cell:cell-1", ["cell-1"], T0 + 40 * 10**9, 300)
    events = world.ctl.tick() + world.ctl.tick()
    a1 = [e for e in events if e.kind == "a1"]
    assert [e.fields["a1_status"] for e in a1] == ["UNREACHABLE"]
    assert world.ctl.counters["a1_errors"] == 1


def test_a_new_environment_trigger_needs_enough_samples(world):
    world.ctl.settings = dataclasses.replace(world.ctl.settings, new_environment_samples=500)
    world.tel.rows = [TelemetryRow("cell-7", "", T0, {"served": 16.0})]
    world.data.by_key["cell:cell-7"] = samples("cell:cell-7", ["cell-7"], T0, 300)
    assert world.ctl.tick() == []
    world.data.by_key["cell:cell-7"] = samples("cell:cell-7", ["cell-7"], T0, 600)
    events = world.ctl.tick()
    assert kinds(events)[0] == ("trigger", "cell-7.1") and events[0].fields["trigger"] == "new"
    assert world.adapter.calls[0][1] == 600


def test_a_trigger_whose_samples_never_come_is_dropped(world):
    world.tel.step("cell-1", -10.0, -4.0)
    world.ctl.tick()
    world.ctl.clock = lambda: T0 + 10**15
    events = world.ctl.tick()
    assert [e.fields.get("reason") for e in events] == ["too-few-samples"]
    assert world.ctl.pending == {} and world.adapter.calls == []


def test_operator_requests(world):
    with pytest.raises(KeyError, match="no environment 'nope'"):
        world.ctl.request_adaptation("nope")
    first = _serving(world, "101", ("cell-1",), version=1)
    second = ProxyVersion("proxy-101", 2, "d" * 64, Mode.LASCO, None)
    world.ctl.table.update("101", versions=(first, second), mode=Mode.LASCO)
    world.ctl.request_adaptation("101")
    with pytest.raises(ValueError, match="already waiting"):
        world.ctl.request_adaptation("101")
    result = world.ctl.rollback("101")
    assert result.ok and world.bad == [("proxy-101", 2, "rolled back by the operator")]
    assert world.a1.puts[-1][1].proxy.version == 1 and world.a1.puts[-1][1].mode is Mode.E_LASCO
    world.ctl.rollback("101")
    assert world.a1.puts[-1][1].mode is Mode.LAM_ONLY and world.a1.puts[-1][1].proxy is None
    with pytest.raises(ValueError, match="no proxy to roll back"):
        world.ctl.rollback("101")
    with pytest.raises(ValueError, match="no proxy to serve in mode e-lasco"):
        world.ctl.set_mode("101", Mode.E_LASCO)
    world.ctl.set_cells("101", ("cell-1", "cell-9"))
    assert world.a1.puts[-1][1].cells == ("cell-1", "cell-9")
    with pytest.raises(ValueError, match="at least one cell"):
        world.ctl.set_cells("101", ())


def test_a_side_network_serves_in_mode_side_only_and_rolls_back_to_a_proxy(world):
    first = _serving(world, "101", ("cell-1",), version=1)
    side = ProxyVersion("proxy-101", 2, "e" * 64, Mode.SIDE, None)
    world.ctl.table.update("101", versions=(first, side), mode=Mode.SIDE)
    with pytest.raises(ValueError, match="proxy-101 v2, a side network: it cannot serve in mode"):
        world.ctl.set_mode("101", Mode.E_LASCO)
    assert world.ctl.set_mode("101", Mode.SIDE).ok
    policy = world.a1.puts[-1][1]
    assert policy.mode is Mode.SIDE and policy.proxy.version == 2 and policy.alpha is None
    world.ctl.rollback("101")
    assert world.a1.puts[-1][1].mode is Mode.E_LASCO and world.a1.puts[-1][1].proxy.version == 1
    with pytest.raises(ValueError, match="proxy-101 v1, a proxy SAM: it cannot serve in mode side"):
        world.ctl.set_mode("101", Mode.SIDE)


def test_a_deployment_taking_effect_is_not_drift(world):
    """The step a new proxy brings (its SAM version in the telemetry) starts a new baseline."""
    rows = [
        TelemetryRow("cell-1", "e", T0 + i * 10**9, {"nmse_db": -8.0 - 2.0 * (i >= 40)}, v)
        for i, v in ((i, None if i < 40 else 1) for i in range(80))
    ]
    world.tel.rows = rows
    assert world.ctl.tick() == [] and world.ctl.pending == {}
    world.tel.rows = [
        TelemetryRow("cell-1", "e", T0 + (80 + i) * 10**9, {"nmse_db": -3.0}, 1) for i in range(40)
    ]
    assert kinds(world.ctl.tick()) == [("trigger", "cell-1.1")]  # a real change still counts


def test_a_cell_another_environment_serves_cannot_be_given_to_a_second(world):
    _serving(world, "101", ("cell-1",))
    _serving(world, "102", ("cell-2",))
    with pytest.raises(ValueError, match="cell 'cell-2' is served by environment '102'"):
        world.ctl.set_cells("101", ("cell-1", "cell-2"))
    with pytest.raises(KeyError, match="no environment 'nope'"):
        world.ctl.set_cells("nope", ("cell-9",))
    assert world.a1.puts == [] and world.ctl.table.get("101").cells == ("cell-1",)


def test_cells_filed_under_one_key_are_read_once(world):
    reads = []
    read = world.data.read
    world.data.read = lambda key, **kw: reads.append(key) or read(key, **kw)
    _serving(world, "101", ("cell-1", "cell-2"))
    world.data.by_key["101"] = samples("101", ["cell-1", "cell-2", "cell-3"], T0, 300)
    world.ctl.request_adaptation("101")
    world.ctl.tick()
    assert reads == ["101"]
    assert world.adapter.calls[0][1:4:2] == (200, {"cell-1", "cell-2"})
