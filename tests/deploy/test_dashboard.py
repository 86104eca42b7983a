"""The Grafana dashboard: the shipped JSON is the builder's, Grafana's model reads it, and every
query answers with data on a real InfluxDB holding what the xApp and the rApp write."""

from __future__ import annotations

import json
import re
import time

import pytest
from grafana_foundation_sdk.models.dashboard import Dashboard

from lasco_ric.cli import main
from lasco_ric.dashboard import DASHBOARD_UID, QUERIES, dashboard_json, influxql_queries
from rapp.telemetry import TelemetrySettings
from rapp.telemetry_events import EVENT_KINDS, RappEvent
from tests.deploy.kube import HELM
from xapp import telemetry as xt

SHIPPED = HELM / "csi-xapp" / "dashboards" / "lasco-ric.json"


def test_the_shipped_dashboard_is_the_builders():
    assert SHIPPED.read_text() == dashboard_json(), (
        f"{SHIPPED} is stale: lasco-ric dashboard --out {SHIPPED.relative_to(HELM.parent)}"
    )


def test_the_command_writes_it(tmp_path, capsys):
    out = tmp_path / "d.json"
    assert main(["dashboard", "--out", str(out)]) == 0
    assert out.read_text() == dashboard_json()
    assert main(["dashboard"]) == 0
    assert capsys.readouterr().out.startswith("{")


def test_grafanas_model_reads_it_and_the_layout_holds():
    model = json.loads(dashboard_json())
    parsed = Dashboard.from_json(model)
    assert parsed.uid == DASHBOARD_UID and model["schemaVersion"] >= 39
    panels = model["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells = set()
    for p in panels:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, p["title"]
        for dx in range(g["w"]):
            for dy in range(g["h"]):
                assert (g["x"] + dx, g["y"] + dy) not in cells, f"{p['title']} overlaps"
                cells.add((g["x"] + dx, g["y"] + dy))
    shown = {t["query"] for p in panels for t in p.get("targets", [])}
    assert shown == set(QUERIES.values())
    names = {v["name"] for v in model["templating"]["list"]}
    assert names == {"DS_INFLUX", "cell", "env"}
    # every panel reads the datasource the import asks for
    assert {p["datasource"]["uid"] for p in panels if p["type"] != "row"} == {"${DS_INFLUX}"}


def _concrete(q: str) -> str:
    """A panel's query as Grafana sends it: the time filter, interval and variables filled."""
    q = q.replace("$timeFilter", "time > now() - 1h").replace("$__interval", "10s")
    return re.sub(r"/\^\$(cell|env)\$/", "/^.*$/", q)


@pytest.fixture
def telemetry_db(influx):
    """A database holding two intervals of the xApp's telemetry and one rApp adaptation's
    events, written the way each writes them."""
    server, bridge = influx
    db = f"dash_{time.time_ns()}"
    server.create_db(db)
    sink = xt.InfluxSink(bridge.url, "", "lasco", f"{db}/autogen")
    tel = xt.Telemetry(sink)
    for version in (None, 3):
        tel.record("c1", "umi", version, served=8, latency_s=0.003, nmse=[0.05], beam_share=0.4)
        tel.dropped("c1", "e2sm-width", 1)
        tel.close_interval()
        assert tel.flush()
    sink.client.close()
    events = [
        RappEvent("trigger", "umi", {"trigger": "drift", "cell": "c1"}),
        RappEvent("adaptation", "umi", {"trigger": "drift", "samples": 900, "seconds": 41.0}),
        RappEvent(
            "gate",
            "umi",
            {"accepted": True, "reason": "better", "nmse_before_db": -9.1, "nmse_after_db": -11},
        ),
        RappEvent("publish", "umi", {"version": 3, "name": "proxy-umi", "samples": 900}),
        RappEvent("a1", "umi", {"a1_status": "OK", "operation": "CREATE", "seconds": 0.2}),
    ]
    assert {e.kind for e in events} == set(EVENT_KINDS)
    settings = TelemetrySettings(url=server.url, bucket=f"{db}/autogen")
    with settings.open_event_log() as log:
        for e in events:
            log.emit(e)
    assert log.write_failures == 0
    return server, db


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(influxql_queries()))
def test_every_query_answers_with_data(telemetry_db, name):
    server, db = telemetry_db
    answer = server.query(_concrete(influxql_queries()[name]), db)["results"][0]
    assert "error" not in answer, answer.get("error")
    values = [v for s in answer.get("series", []) for row in s["values"] for v in row[1:]]
    assert any(v is not None for v in values), f"{name}: no data in {answer}"
