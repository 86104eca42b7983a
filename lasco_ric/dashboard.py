"""The Grafana dashboard of a LASCO-RIC deployment, built from the telemetry it reads.

One dashboard for an operator: the xApp's per-cell serving (measurement ``csi_xapp``: NMSE,
reports served and dropped, p50/p99 latency, the strongest beam's share, the SAM version in
force per environment) and the rApp's adaptation (measurement ``csi_rapp``: triggers,
adaptations, the gate's verdicts, publications and A1 results). Queries are InfluxQL, which
InfluxDB 1.x serves natively and 2.x through its v1 compatibility API, the same interface the
rApp reads; the datasource is a dashboard variable, so an import asks which InfluxDB to use.

Built with Grafana's own schema-generated builders (grafana-foundation-sdk, Grafana 11.6
schema). The measurement, tag, field and event-kind names come from the modules that write
them, so the dashboard cannot drift from the telemetry. ``lasco-ric dashboard`` writes the
JSON the xApp chart ships as a ConfigMap for Grafana's dashboard sidecar.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.builders.common import (
    ReduceDataOptions,
    VizLegendOptions,
    VizTooltipOptions,
)
from grafana_foundation_sdk.cog import variants
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    VariableRefresh,
    VariableSort,
)

from rapp.telemetry_base import RAPP_MEASUREMENT, XAPP_MEASUREMENT
from rapp.telemetry_events import EVENT_KINDS

__all__ = ["DASHBOARD_UID", "QUERIES", "dashboard_json", "influxql_queries"]

DASHBOARD_UID = "lasco-ric-csi"
DS = "${DS_INFLUX}"
_X, _R = f'"{XAPP_MEASUREMENT}"', f'"{RAPP_MEASUREMENT}"'
_CELLS = '"cell" =~ /^$cell$/'
_ENVS = '"env" =~ /^$env$/'
_RENVS = '"environment" =~ /^$env$/'

# Every panel's query: (title, InfluxQL). The tests run each against a real InfluxDB holding
# the telemetry the xApp and the rApp write.
QUERIES: dict[str, str] = {
    "nmse": (
        f'SELECT mean("nmse_db") FROM {_X} WHERE {_CELLS} AND $timeFilter '
        'GROUP BY time($__interval), "cell" fill(none)'
    ),
    "served": (
        f'SELECT sum("served") AS "served", sum("dropped") AS "dropped" FROM {_X} '
        f'WHERE {_CELLS} AND $timeFilter GROUP BY time($__interval), "cell" fill(none)'
    ),
    "latency": (
        f'SELECT mean("p50_ms") AS "p50", max("p99_ms") AS "p99" FROM {_X} '
        f'WHERE {_CELLS} AND $timeFilter GROUP BY time($__interval), "cell" fill(none)'
    ),
    "beam": (
        f'SELECT mean("beam_db") FROM {_X} WHERE {_CELLS} AND $timeFilter '
        'GROUP BY time($__interval), "cell" fill(none)'
    ),
    "sam_version": (
        f'SELECT last("sam_version") FROM {_X} WHERE {_ENVS} AND $timeFilter '
        'GROUP BY time($__interval), "env" fill(previous)'
    ),
    "served_total": f'SELECT sum("served") FROM {_X} WHERE {_CELLS} AND $timeFilter',
    "dropped_total": f'SELECT sum("dropped") FROM {_X} WHERE {_CELLS} AND $timeFilter',
    "nmse_now": (
        f'SELECT last("nmse_db") FROM {_X} WHERE {_CELLS} AND $timeFilter GROUP BY "cell"'
    ),
    "events": (
        f'SELECT count("event") FROM {_R} WHERE {_RENVS} AND $timeFilter '
        'GROUP BY time($__interval), "kind" fill(none)'
    ),
    "adaptations": (
        'SELECT "accepted", "nmse_before_db", "nmse_after_db", "reason" '
        f"FROM {_R} WHERE \"kind\" = 'gate' AND {_RENVS} AND $timeFilter "
        'GROUP BY "environment" ORDER BY time DESC LIMIT 200'
    ),
    "deployments": (
        'SELECT "version", "name", "a1_status", "operation", "reason" '
        f"FROM {_R} WHERE (\"kind\" = 'publish' OR \"kind\" = 'a1') AND {_RENVS} AND $timeFilter "
        'GROUP BY "environment", "kind" ORDER BY time DESC LIMIT 200'
    ),
}
# The template variables' queries.
VARIABLE_QUERIES = {
    "cell": f'SHOW TAG VALUES FROM {_X} WITH KEY = "cell"',
    "env": f'SHOW TAG VALUES FROM {_X} WITH KEY = "env"',
}


def influxql_queries() -> dict[str, str]:
    """Every InfluxQL query of the dashboard, panels and variables, by name."""
    return {**QUERIES, **{f"variable:{k}": q for k, q in VARIABLE_QUERIES.items()}}


def dashboard_json() -> str:
    """The dashboard as Grafana's JSON model (stable output: sorted, two-space indent)."""
    model = json.loads(json.dumps(_build(), cls=JSONEncoder))
    _layout(model["panels"])
    return json.dumps(model, indent=2, sort_keys=True) + "\n"


def _layout(panels: list[dict[str, Any]]) -> None:
    """Left to right, top to bottom on Grafana's 24-column grid (a row panel starts a new
    line), and a unique id per panel."""
    x = y = line_h = 0
    for i, p in enumerate(panels, start=1):
        g = p["gridPos"]
        if p["type"] == "row" or x + g["w"] > 24:
            x, y, line_h = 0, y + line_h, 0
        g["x"], g["y"] = x, y
        p["id"] = i
        x, line_h = x + g["w"], max(line_h, g["h"])
        if p["type"] == "row":
            x, y, line_h = 0, y + g["h"], 0


def _build() -> Any:
    src = DataSourceRef(type_val="influxdb", uid=DS)
    legend = VizLegendOptions().display_mode(cm.LegendDisplayMode.TABLE)
    legend = legend.placement(cm.LegendPlacement.BOTTOM).show_legend(True)
    legend = legend.calcs(["mean", "lastNotNull"])
    tooltip = VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.DESCENDING)

    def series(title: str, key: str, unit: str, alias: str, desc: str, **kw: Any) -> Any:
        p = timeseries.Panel().title(title).description(desc).datasource(src)
        p = p.with_target(_InfluxQL(QUERIES[key], alias=alias)).unit(unit)
        p = p.legend(legend).tooltip(tooltip).height(kw.pop("height", 8)).span(kw.pop("span", 12))
        if kw.pop("steps", False):
            p = p.line_interpolation(cm.LineInterpolation.STEP_AFTER)
        if kw.pop("bars", False):
            p = p.draw_style(cm.GraphDrawStyle.BARS).fill_opacity(60)
        return p

    def number(title: str, key: str, unit: str, desc: str, red: float | None = None) -> Any:
        steps = [Threshold(value=None, color="green")]
        if red is not None:
            steps.append(Threshold(value=red, color="red"))
        p = stat.Panel().title(title).description(desc).datasource(src).unit(unit)
        p = p.with_target(_InfluxQL(QUERIES[key], alias="$tag_cell"))
        p = p.thresholds(db.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps))
        p = p.reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        p = p.graph_mode(cm.BigValueGraphMode.NONE)
        return p.color_mode(cm.BigValueColorMode.BACKGROUND).height(4).span(8)

    def events(title: str, key: str, desc: str) -> Any:
        p = table.Panel().title(title).description(desc).datasource(src)
        return p.with_target(_InfluxQL(QUERIES[key], fmt="table")).height(8).span(12)

    def variable(name: str, label: str) -> Any:
        v = db.QueryVariable(name).label(label).datasource(src).query(VARIABLE_QUERIES[name])
        v = v.multi(True).include_all(True).all_value(".*")
        return v.refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).sort(VariableSort.ALPHABETICAL_ASC)

    kinds = ", ".join(EVENT_KINDS)
    d = (
        db.Dashboard("LASCO-RIC: CSI feedback")
        .uid(DASHBOARD_UID)
        .description(
            "The csi-xapp's serving per cell and the csi-rapp's adaptation per environment, "
            "from their InfluxDB telemetry."
        )
        .tags(["lasco-ric", "o-ran", "csi"])
        .annotation(
            db.AnnotationQuery()
            .name("Annotations & Alerts")
            .datasource(DataSourceRef(type_val="grafana", uid="-- Grafana --"))
            .enable(True)
            .hide(True)
            .icon_color("rgba(0, 211, 255, 1)")
            .type("dashboard")
            .built_in(1)
        )
        .time("now-6h", "now")
        .refresh("30s")
        .with_variable(db.DatasourceVariable("DS_INFLUX").label("InfluxDB").type("influxdb"))
        .with_variable(variable("cell", "Cell"))
        .with_variable(variable("env", "Environment"))
        .with_row(db.Row("Serving: csi-xapp"))
        .with_panel(number("Reports served", "served_total", "short", "CSI reports served."))
        .with_panel(
            number("Reports dropped", "dropped_total", "short", "CSI reports dropped.", red=1)
        )
        .with_panel(
            number("NMSE now", "nmse_now", "dB", "The latest NMSE per cell (labelled reports).")
        )
        .with_panel(
            series(
                "NMSE per cell",
                "nmse",
                "dB",
                "$tag_cell",
                "Reconstruction NMSE of the labelled reports, per cell and interval (lower "
                "is better); a rise is what the rApp's drift detection watches.",
            )
        )
        .with_panel(
            series(
                "Reports served and dropped",
                "served",
                "short",
                "$tag_cell $col",
                "Reports per interval and cell; the xApp's /ric/v1/metrics has the drop reasons.",
            )
        )
        .with_panel(
            series(
                "Latency p50 and p99",
                "latency",
                "ms",
                "$tag_cell $col",
                "From an indication's arrival to its reconstruction, per cell.",
            )
        )
        .with_panel(
            series(
                "Strongest beam's share of the channel energy",
                "beam",
                "dB",
                "$tag_cell",
                "A cheap channel statistic of every report, labelled or not; the rApp "
                "watches it for drift too.",
            )
        )
        .with_panel(
            series(
                "SAM version in force per environment",
                "sam_version",
                "none",
                "$tag_env",
                "The proxy SAM version serving each environment (-1: the LAM alone). A step "
                "is a deployment.",
                steps=True,
                span=24,
            )
        )
        .with_row(db.Row("Adaptation: csi-rapp"))
        .with_panel(
            series(
                "rApp events",
                "events",
                "short",
                "$tag_kind",
                f"Events per interval by kind ({kinds}).",
                bars=True,
                span=24,
            )
        )
        .with_panel(
            events(
                "Adaptations and the gate's verdicts",
                "adaptations",
                "Each adapted SAM against the one in force on held-out reports.",
            )
        )
        .with_panel(
            events(
                "Publications and A1",
                "deployments",
                "SAM versions published to the store and the A1 policy results.",
            )
        )
    )
    return d.build()


class _InfluxQLQuery(variants.Dataquery):
    """An InfluxDB datasource target in raw InfluxQL mode (the SDK has no InfluxDB builder)."""

    def __init__(self, query: str, alias: str, fmt: str) -> None:
        self.query, self.alias, self.fmt = query, alias, fmt

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"refId": "A", "query": self.query, "rawQuery": True}
        out["resultFormat"] = self.fmt
        out["datasource"] = {"type": "influxdb", "uid": DS}
        if self.alias:
            out["alias"] = self.alias
        return out


class _InfluxQL(Builder[_InfluxQLQuery]):
    def __init__(self, query: str, *, alias: str = "", fmt: str = "time_series") -> None:
        self._query = _InfluxQLQuery(query, alias, fmt)

    def build(self) -> _InfluxQLQuery:
        return self._query
