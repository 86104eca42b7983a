"""The demo's results: a per-cell summary measured from the xApp's telemetry, written as
``summary.json``, ``report.md`` and ``nmse_over_time.png``."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rapp.telemetry import RappEvent, TelemetryRow

if TYPE_CHECKING:
    from lasco_ric.demo_world import DemoPlan
    from rapp.controller import RappController

__all__ = ["DemoRun", "cell_summary", "write_outputs"]


@dataclass
class DemoRun:
    """What happened, for the report: moments (ns since the epoch) and the rApp's events."""

    t_start_ns: int = 0
    t_drift_ns: int = 0
    t_end_ns: int = 0
    deployed_ns: dict[str, int] = field(default_factory=dict)  # cell -> A1 ENFORCED
    events: list[RappEvent] = field(default_factory=list)
    stages_s: dict[str, float] = field(default_factory=dict)


_METHOD_TEXT = {
    "side": "a side network (on the LAM's hidden states)",
    "e-lasco": "an E-LASCO proxy SAM",
    "lasco": "a LASCO proxy SAM",
}


def _views(k: int) -> str:
    return f" (each sample in {k} phase-rotation views)" if k > 1 else ""


def _nmse_db(rows: Sequence[TelemetryRow], cell: str, t0: int, t1: int) -> float | None:
    """NMSE (dB) of the labelled reports a cell sent in ``[t0, t1)``: the intervals' linear
    NMSE weighted by their labelled reports."""
    num = den = 0.0
    for r in rows:
        if r.cell == cell and t0 <= r.t_ns < t1 and "nmse_db" in r.fields:
            w = float(r.fields.get("labelled", 1.0))
            num += w * 10 ** (float(r.fields["nmse_db"]) / 10)
            den += w
    return round(10 * math.log10(num / den), 3) if den else None


def cell_summary(
    plan: DemoPlan, ctl: RappController, run: DemoRun, rows: Sequence[TelemetryRow]
) -> dict[str, Any]:
    """``{"cells": [...], "adaptations", "declined", "a1_errors"}``; a cell's fields are
    ``cell, env_before, env_after, drifted, nmse_db_before_drift, nmse_db_after_drift,
    nmse_db_after_adaptation, adapted, reason, sam_version, served, dropped, p99_ms``."""
    start = {c["id"]: c["environment"] for n in plan.scenario["nodes"] for c in n["cells"]}
    skip = int(2 * plan.telemetry_interval_s * 1e9)  # intervals that straddle a moment
    warm_from = run.t_start_ns + (run.t_drift_ns - run.t_start_ns) // 2
    cells = []
    for cell, env_before in start.items():
        mine = [r for r in rows if r.cell == cell]
        deployed = run.deployed_ns.get(cell)
        history = [h for h in ctl.history if cell in h["cells"]]
        deployed_entries = [
            h for h in history if h["accepted"] and h.get("a1_status") == "ENFORCED"
        ]
        adapted = bool(deployed_entries)
        last = deployed_entries[-1] if deployed_entries else (history[-1] if history else None)
        p99 = [float(r.fields["p99_ms"]) for r in mine if "p99_ms" in r.fields]
        after_drift_end = deployed if deployed else run.t_end_ns
        cells.append(
            {
                "cell": cell,
                "env_before": env_before,
                "env_after": plan.drift.get(cell, env_before),
                "drifted": cell in plan.drift,
                "nmse_db_before_drift": _nmse_db(rows, cell, warm_from, run.t_drift_ns),
                "nmse_db_after_drift": _nmse_db(rows, cell, run.t_drift_ns + skip, after_drift_end),
                "nmse_db_after_adaptation": (
                    _nmse_db(rows, cell, deployed + skip, run.t_end_ns) if adapted else None
                ),
                "adapted": adapted,
                "reason": (last["reason"] if last else "no adaptation triggered"),
                "sam_version": mine[-1].sam_version if mine else None,
                "served": int(sum(r.fields.get("served", 0) for r in mine)),
                "dropped": int(sum(r.fields.get("dropped", 0) for r in mine)),
                "p99_ms": round(float(np.percentile(p99, 99)), 2) if p99 else None,
            }
        )
    return {
        "cells": cells,
        "adaptations": sum(1 for h in ctl.history if h["accepted"]),
        "declined": sum(1 for h in ctl.history if not h["accepted"]),
        "a1_errors": int(ctl.counters["a1_errors"]),
    }


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.2f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


COLUMNS = (
    ("cell", "cell"),
    ("env_before", "env before"),
    ("env_after", "env after"),
    ("nmse_db_before_drift", "NMSE before drift"),
    ("nmse_db_after_drift", "right after drift"),
    ("nmse_db_after_adaptation", "after adaptation"),
    ("sam_version", "SAM version"),
    ("adapted", "adapted"),
    ("reason", "reason"),
    ("served", "served"),
    ("dropped", "dropped"),
    ("p99_ms", "p99 ms"),
)


def table(summary: dict[str, Any]) -> str:
    """The per-cell table in Markdown (NMSE in dB)."""
    head = "| " + " | ".join(h for _, h in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    rows = ["| " + " | ".join(_fmt(c[k]) for k, _ in COLUMNS) + " |" for c in summary["cells"]]
    return "\n".join([head, rule, *rows])


def _plot(path: Path, cells: Sequence[str], run: DemoRun, rows: Sequence[TelemetryRow]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for cell in cells:
        pts = [
            (r.t_ns, r.fields["nmse_db"]) for r in rows if r.cell == cell and "nmse_db" in r.fields
        ]
        if not pts:
            continue
        t, y = np.array(pts, dtype=float).T
        (line,) = ax.plot((t - run.t_start_ns) / 1e9, y, lw=1.2, label=cell)
        if cell in run.deployed_ns:
            x = (run.deployed_ns[cell] - run.t_start_ns) / 1e9
            ax.axvline(x, color=line.get_color(), ls=":", lw=1.5)
    ax.axvline((run.t_drift_ns - run.t_start_ns) / 1e9, color="k", ls="--", lw=1, label="drift")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("NMSE on labelled reports (dB)")
    ax.set_title("Live NMSE per cell: drift (dashed), plug-in deployed (dotted)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_outputs(
    out: Path, plan: DemoPlan, run: DemoRun, rows: Sequence[TelemetryRow], summary: dict[str, Any]
) -> list[Path]:
    """``summary.json``, ``report.md`` and ``nmse_over_time.png`` in ``out``."""
    paths = [out / "summary.json", out / "report.md", out / "nmse_over_time.png"]
    paths[0].write_text(json.dumps(summary, indent=1) + "\n")
    _plot(paths[2], [c["cell"] for c in summary["cells"]], run, rows)
    events = "\n".join(
        f"- `{((e.t_ns or run.t_start_ns) - run.t_start_ns) / 1e9:6.1f} s` {e.kind} "
        f"**{e.environment}**: "
        + ", ".join(f"{k} = {_fmt(v)}" for k, v in e.fields.items() if v is not None)
        for e in run.events
    )
    stages = "\n".join(f"| {k} | {v:.1f} |" for k, v in run.stages_s.items())
    paths[1].write_text(
        f"""# Closed-loop demo

Cells served by the xApp with the LAM alone in environments it was trained on; at the drift
three moved into new environments; the rApp detected the change in the xApp's telemetry,
adapted {_METHOD_TEXT.get(plan.method, plan.method)} per moved cell on the labelled reports the
xApp collected{_views(plan.phase_views)}, gated it
(held-out NMSE at least {plan.gate_margin_db} dB better than what the cell ran), published
it to the store and pushed its A1 policy through the A1 mediator; the xApp swapped it in.
NMSE (dB) is measured live on the labelled reports the xApp served (`docs/closed-loop.md` in the
repository explains the scenario and how to read this).

{table(summary)}

Adaptations deployed: {summary["adaptations"]}; declined: {summary["declined"]};
A1 errors: {summary["a1_errors"]}.

![NMSE over time per cell](nmse_over_time.png)

## Stages (wall seconds)

| stage | seconds |
|---|---|
{stages}

## rApp events

{events or "none"}

## What it ran

The model store (`store/`, with the rApp's signing key in `keys/`), the data store (`data/`),
the xApp's controls (`xapp-controls.json`: `csi-xapp replay --config xapp-controls.json` runs
against the same store) and the rApp's settings (`rapp-settings.json`).
"""
    )
    return paths
