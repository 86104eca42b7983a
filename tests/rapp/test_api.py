"""The operator API over a controller whose parts are fakes: each route, each error code,
malformed bodies, health, metrics, and two requests for one environment at once."""

import math
import threading

import pytest
from fastapi.testclient import TestClient

from rapp.api import PREFIX, LoopState, create_app
from rapp.controller import RappController
from rapp.drift import DriftSettings, DriftWatch
from rapp.environments import Environment, ProxyVersion, policy_id
from rapp.loop_types import ControllerSettings
from rapp.telemetry import open_event_log
from schemas import Mode
from tests.rapp.test_controller import A1, LAM, T0, Adapter, Data, Telemetry, samples

ROUTES = [
    ("get", "/environments"),
    ("get", "/environments/{env}"),
    ("post", "/environments/{env}/adaptations"),
    ("post", "/environments/{env}/rollback"),
    ("put", "/environments/{env}/cells"),
    ("put", "/environments/{env}/mode"),
    ("get", "/adaptations"),
    ("get", "/health"),
    ("get", "/metrics"),
]


class World:
    """A controller whose parts are the loop tests' fakes, and a client of its API."""

    def __init__(self):
        self.tel, self.data, self.adapter, self.a1 = Telemetry(), Data(), Adapter(), A1()
        self.bad = []
        self.ctl = RappController(
            ControllerSettings(min_fresh_samples=100, store_uri="/srv/store"),
            telemetry=self.tel,
            events=open_event_log(None),
            data=self.data,
            adapter=self.adapter,
            a1=self.a1,
            lam_sha256=LAM,
            drift=DriftWatch(DriftSettings(min_points=20)),
            mark_bad=lambda *a: self.bad.append(a),
            clock=lambda: T0 + 10**12,
        )
        self.state = LoopState()
        self.client = TestClient(create_app(self.ctl, self.state))

    def serve(self, env, cells, versions=1, mode=Mode.E_LASCO):
        pvs = tuple(
            ProxyVersion(f"proxy-{env}", v, f"{v:x}" * 64, Mode.E_LASCO, 0.9)
            for v in range(1, versions + 1)
        )
        self.ctl.table.put(Environment(env, cells, mode if pvs else Mode.LAM_ONLY, pvs, "new"))

    def drift_and_adapt(self, cell="cell-1", t0=T0):
        """A step in ``cell``'s NMSE at ``t0`` + 40 s, then its samples since."""
        self.tel.step(cell, -10.0, -4.0, t0=t0)
        self.ctl.tick()
        self.data.by_key[f"cell:{cell}"] = samples(f"cell:{cell}", [cell], t0 + 40 * 10**9, 300)
        self.ctl.tick()


@pytest.fixture
def w():
    world = World()
    with world.client:
        yield world


def url(path):
    return PREFIX + path


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_the_openapi_document_lists_every_route(w, method, path):
    doc = w.client.get("/openapi.json").json()
    assert method in doc["paths"][url(path)]


def test_environments_lists_cells_mode_active_version_nmse_and_pending(w):
    assert w.client.get(url("/environments")).json() == {"environments": [], "pending": []}
    w.serve("101", ("cell-1", "cell-2"), versions=2)
    w.ctl.table.update("101", nmse_db=-9.5)
    w.ctl.request_adaptation("101")
    body = w.client.get(url("/environments")).json()
    (env,) = body["environments"]
    assert env["cells"] == ["cell-1", "cell-2"] and env["mode"] == "e-lasco"
    assert env["active"] == "proxy-101 v2" and env["versions"] == [1, 2]
    assert env["nmse_db"] == -9.5 and env["pending"]["trigger"] == "operator"
    assert [p["environment"] for p in body["pending"]] == ["101"]


def test_a_non_finite_nmse_reads_as_null(w):
    w.serve("101", ("cell-1",))
    w.ctl.table.update("101", nmse_db=math.inf)
    assert w.client.get(url("/environments/101")).json()["nmse_db"] is None


def test_one_environment_with_its_adaptations(w):
    w.drift_and_adapt()
    body = w.client.get(url("/environments/cell-1.1")).json()
    assert body["environment"] == "cell-1.1" and body["active"] == "proxy-cell-1.1 v1"
    (adaptation,) = body["adaptations"]
    assert adaptation["accepted"] and adaptation["outcome"]["published"]["version"] == 1


def test_an_environment_waiting_for_its_first_samples_is_shown_as_pending(w):
    w.tel.step("cell-1", -10.0, -4.0)
    w.ctl.tick()
    body = w.client.get(url("/environments/cell-1.1")).json()
    assert body["mode"] is None and body["pending"]["trigger"] == "drift"
    assert body["cells"] == ["cell-1"]


@pytest.mark.parametrize(
    ("method", "path", "json"),
    [
        ("get", "/environments/nope", None),
        ("post", "/environments/nope/adaptations", None),
        ("post", "/environments/nope/rollback", None),
        ("put", "/environments/nope/cells", {"cells": ["c"]}),
        ("put", "/environments/nope/mode", {"mode": "lam-only"}),
    ],
)
def test_an_unknown_environment_is_404_naming_it(w, method, path, json):
    r = w.client.request(method, url(path), json=json)
    assert r.status_code == 404 and r.json()["detail"] == "no environment 'nope'"


def test_a_trigger_is_202_and_a_second_one_is_409(w):
    w.serve("101", ("cell-1",))
    r = w.client.post(url("/environments/101/adaptations"))
    assert r.status_code == 202
    assert r.json() | {"created_ns": 0} == {
        "status": "waiting",
        "environment": "101",
        "cells": ["cell-1"],
        "trigger": "operator",
        "since_ns": 0,
        "created_ns": 0,
    }
    assert "101" in w.ctl.pending
    r = w.client.post(url("/environments/101/adaptations"))
    assert r.status_code == 409 and "already waiting" in r.json()["detail"]


@pytest.mark.parametrize("threads", [2, 8])
def test_concurrent_triggers_for_one_environment_get_one_202_and_409s(w, threads):
    w.serve("101", ("cell-1",))
    barrier, codes = threading.Barrier(threads), []

    def trigger():
        barrier.wait()
        codes.append(w.client.post(url("/environments/101/adaptations")).status_code)

    workers = [threading.Thread(target=trigger) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert sorted(codes) == [202] + [409] * (threads - 1)
    assert list(w.ctl.pending) == ["101"]


def test_rollback_serves_the_previous_proxy_then_the_lam_then_refuses(w):
    w.serve("101", ("cell-1",), versions=2)
    r = w.client.post(url("/environments/101/rollback"), json={"reason": "worse in the field"})
    assert r.status_code == 200
    body = r.json()
    assert body["a1"]["ok"] and body["a1"]["status"] == "ENFORCED"
    assert body["environment"]["active"] == "proxy-101 v1"
    assert w.bad == [("proxy-101", 2, "worse in the field")]
    assert w.a1.puts[-1][1].proxy.version == 1
    r = w.client.post(url("/environments/101/rollback"))
    assert r.status_code == 200 and r.json()["environment"]["mode"] == "lam-only"
    assert w.bad[-1] == ("proxy-101", 1, "rolled back by the operator")
    r = w.client.post(url("/environments/101/rollback"))
    assert r.status_code == 409 and "no proxy to roll back" in r.json()["detail"]


def test_cells_update_the_policy(w):
    w.serve("101", ("cell-1",))
    r = w.client.put(url("/environments/101/cells"), json={"cells": ["cell-1", " cell-9 "]})
    assert r.status_code == 200 and r.json()["environment"]["cells"] == ["cell-1", "cell-9"]
    instance, policy = w.a1.puts[-1]
    assert instance == policy_id("101") and policy.cells == ("cell-1", "cell-9")


def test_a_cell_another_environment_serves_is_409_naming_it(w):
    w.serve("101", ("cell-1",))
    w.serve("102", ("cell-2",))
    r = w.client.put(url("/environments/101/cells"), json={"cells": ["cell-1", "cell-2"]})
    assert r.status_code == 409 and "environment '102'" in r.json()["detail"]
    assert w.ctl.table.get("101").cells == ("cell-1",) and w.a1.puts == []


def test_an_a1_failure_is_reported_in_the_answer(w):
    w.serve("101", ("cell-1",))
    w.a1.down = True
    body = w.client.put(url("/environments/101/mode"), json={"mode": "lam-only"}).json()
    assert body["a1"]["ok"] is False and body["a1"]["status"] == "UNREACHABLE"


@pytest.mark.parametrize(
    ("mode", "versions", "code"),
    [("lam-only", 1, 200), ("lasco", 1, 200), ("e-lasco", 0, 409)],
)
def test_mode(w, mode, versions, code):
    w.serve("101", ("cell-1",), versions=versions)
    r = w.client.put(url("/environments/101/mode"), json={"mode": mode})
    assert r.status_code == code
    assert w.ctl.table.get("101").mode == (Mode(mode) if code == 200 else Mode.LAM_ONLY)


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("cells", {}, "body.cells"),
        ("cells", {"cells": []}, "body.cells"),
        ("cells", {"cells": "cell-1"}, "body.cells"),
        ("cells", {"cells": [""]}, "body.cells.0"),
        ("cells", {"cells": [7]}, "body.cells.0"),
        ("cells", {"cells": ["a", "a"]}, "cells repeat: a"),
        ("cells", {"cells": ["a"], "colour": "red"}, "body.colour"),
        ("cells", "not json", "body"),
        ("mode", {"mode": "full"}, "body.mode"),
        ("mode", {}, "body.mode"),
        ("rollback", {"reason": ""}, "body.reason"),
        ("rollback", {"why": "x"}, "body.why"),
    ],
)
def test_malformed_bodies_are_422_naming_what_was_wrong(w, path, body, named):
    w.serve("101", ("cell-1",))
    method = "post" if path == "rollback" else "put"
    kw = {"content": body} if isinstance(body, str) else {"json": body}
    r = w.client.request(method, url(f"/environments/101/{path}"), **kw)
    assert r.status_code == 422
    assert r.json()["detail"].startswith("invalid request: ") and named in r.json()["detail"]
    assert r.json()["errors"] and w.a1.puts == []


def test_adaptations_lists_the_history_with_outcomes(w):
    w.drift_and_adapt("cell-1")
    w.adapter.accepted = False
    w.drift_and_adapt("cell-2", t0=T0 + 100 * 10**9)
    body = w.client.get(url("/adaptations")).json()
    assert body["total"] == 2
    assert [(a["environment"], a["accepted"], a["reason"]) for a in body["adaptations"]] == [
        ("cell-1.1", True, "accepted"),
        ("cell-2.1", False, "not-better-than-lam"),
    ]
    assert body["adaptations"][0]["a1_status"] == "ENFORCED"
    only = w.client.get(url("/adaptations"), params={"environment": "cell-2.1"}).json()
    assert [a["environment"] for a in only["adaptations"]] == ["cell-2.1"]
    last = w.client.get(url("/adaptations"), params={"limit": 1}).json()
    assert [a["environment"] for a in last["adaptations"]] == ["cell-2.1"]


@pytest.mark.parametrize("limit", [0, -1, "many"])
def test_a_bad_limit_is_422(w, limit):
    assert w.client.get(url("/adaptations"), params={"limit": limit}).status_code == 422


def test_health_is_503_until_the_first_tick(w):
    r = w.client.get(url("/health"))
    assert r.status_code == 503 and r.json()["alive"] and not r.json()["ready"]
    w.state.tick_done()
    r = w.client.get(url("/health"))
    assert r.status_code == 200 and r.json()["ready"] and r.json()["ticks"] == 1


def test_metrics_are_the_counters_in_prometheus_text(w):
    w.drift_and_adapt()
    w.ctl.counters["tick_failures"] += 2
    w.state.tick_done()
    r = w.client.get(url("/metrics"))
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = set(r.text.splitlines())
    assert {
        "csi_rapp_adapted_total 1",
        "csi_rapp_drift_total 1",
        "csi_rapp_declined_total 0",
        "csi_rapp_tick_failures_total 2",
        "csi_rapp_environments 1",
        "csi_rapp_pending_adaptations 0",
        "csi_rapp_ticks_total 1",
        "csi_rapp_ready 1",
        "# TYPE csi_rapp_adapted_total counter",
    } <= lines
