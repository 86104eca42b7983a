"""The closed loop on one machine (``lasco-ric demo``): cells serve in environments the LAM
knows, three of them move into new environments, the rApp notices the change in the xApp's
telemetry, adapts a plug-in (the rApp's default: a side network) per moved cell on the labelled
samples the xApp collected, gates it, publishes it and pushes its A1 policy; the xApp swaps it
in. NMSE is measured live, from the xApp's own telemetry of the labelled reports it served.

Two processes, as in a RIC: the RAN side (E2 nodes, the xApp, the A1 mediator) in a child
process, the rApp in this one; they meet through A1 over HTTP, the model store, the data store
and InfluxDB. Phases: warm-up (the drift watch's baseline), drift, waiting for the rApp (every
moved cell adapted or declined, or ``max_wait_s``), settling (NMSE after the last deployment).
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from lasco.channels import ChannelCache
from lasco_ric.demo_report import DemoRun, cell_summary, write_outputs
from lasco_ric.demo_world import (
    BUCKET,
    DemoPlan,
    Shared,
    build_ran_side,
    build_rapp,
    prepare,
)
from rapp.controller import RappController
from rapp.telemetry import RappEvent, open_telemetry

__all__ = ["run_demo"]

log = logging.getLogger(__name__)


def _describe(event: RappEvent) -> str:
    f = dict(event.fields)
    if event.kind == "trigger":
        what = f"{f.get('trigger')} on {f.get('cell', 'its cells')}"
        if "level_before" in f:
            what += f" ({f['series']} {f['level_before']:.2f} -> {f['level_after']:.2f})"
        return f"trigger   {event.environment}: {what}"
    if event.kind == "gate":
        after = f.get("nmse_after_db")
        tail = f", candidate {after:.2f} dB" if isinstance(after, float) else ""
        return f"gate      {event.environment}: {f.get('reason')}{tail}"
    if event.kind == "publish":
        return f"publish   {event.environment}: {f.get('name')} v{f.get('version')}"
    if event.kind == "a1":
        return f"a1        {event.environment}: {f.get('operation')} {f.get('a1_status')}"
    return f"{event.kind:<9} {event.environment}: " + ", ".join(
        f"{k}={v}" for k, v in f.items() if v is not None
    )


def _ran_process(conn: Connection, shared: Shared, plan: DemoPlan, cache: str | None) -> None:
    """The RAN side: serve the warm-up, move the cells, serve until told to stop."""
    logging.basicConfig(level=logging.WARNING)
    side = build_ran_side(shared, plan, ChannelCache(cache))
    core = side.ric.core
    conn.send(("ready", side.mediator.url, time.time_ns()))
    stop, t0, moved, next_status = False, time.perf_counter(), False, time.perf_counter() + 10
    while not stop:
        for ind in side.ran.step():
            side.ric.indication(ind.node_id, ind.pdu)  # a full micro-batch is served at once
        side.ric.tick()  # the rest after max_wait_ms; labelled samples to the data store
        now = time.perf_counter()
        if not moved and now - t0 >= plan.warmup_s:
            for cell, env in plan.drift.items():
                side.ran.move(cell, env)
            moved = True
            conn.send(("drift", time.time_ns()))
        if now >= next_status:
            next_status += 10
            counts = {k: core.counters[k] for k in ("served", "dropped")}
            conn.send(("status", {**counts, "t_ns": time.time_ns()}))
        while conn.poll():
            stop = conn.recv() == "stop"
    side.close()
    conn.send(("done", core.counters.snapshot()))


def _tick(ctl: RappController, run: DemoRun, say: Callable[[str], None]) -> None:
    try:
        events = ctl.tick()
    except Exception as exc:  # one failing tick never ends the loop
        log.exception("rApp tick failed")
        say(f"rApp tick failed: {exc}")
        return
    for e in events:  # stamped by the controller when it made them
        run.events.append(e)
        say(_describe(e))
        enforced = e.kind == "a1" and e.fields.get("a1_status") == "ENFORCED"
        if enforced and e.environment in ctl.table:
            for cell in ctl.table.get(e.environment).cells:
                run.deployed_ns.setdefault(cell, e.t_ns or time.time_ns())


def _decided(ctl: RappController, cells: list[str]) -> bool:
    """Every moved cell has an adaptation outcome (deployed or declined)."""
    done = {c for h in ctl.history for c in h["cells"]}
    return set(cells) <= done


def run_demo(
    out: Path,
    *,
    quick: bool = False,
    say: Callable[[str], None] = print,
    cache: str | None = None,
    plan: DemoPlan | None = None,
) -> dict[str, Any]:
    """Run the loop, write ``out``/summary.json, report.md and nmse_over_time.png; return the
    summary (see ``lasco_ric.demo_report.cell_summary``) with the seconds of each stage."""
    import torch

    torch.set_num_threads(1)  # the other core serves the RAN side
    plan = plan or DemoPlan.default(quick)
    run = DemoRun()
    t = time.perf_counter()
    shared, services = prepare(out)
    say(f"starting the RAN side and the xApp under {out} (channels drawn on first use)")
    ctx = multiprocessing.get_context("spawn")
    conn, child_conn = ctx.Pipe()
    child = ctx.Process(target=_ran_process, args=(child_conn, shared, plan, cache), daemon=True)
    child.start()
    try:
        if not conn.poll(600):
            raise RuntimeError("the RAN side did not start in 600 s")
        _, a1_url, run.t_start_ns = conn.recv()
        ctl = build_rapp(shared, plan, a1_url)
        run.stages_s["start"] = time.perf_counter() - t
        say(f"xApp serving; A1 mediator {a1_url}; telemetry {shared.telemetry_read}")
        moved, t = list(plan.drift), time.perf_counter()
        t_drift = t_decided = None
        while True:
            _tick(ctl, run, say)
            while conn.poll():
                kind, value = conn.recv()
                if kind == "drift":
                    run.t_drift_ns, t_drift = value, time.perf_counter()
                    run.stages_s["warm-up"] = t_drift - t
                    say("drift: " + ", ".join(f"{c} -> region {e}" for c, e in plan.drift.items()))
                elif kind == "status":
                    waiting = ", ".join(ctl.pending) or "none"
                    say(
                        f"  t = {(value['t_ns'] - run.t_start_ns) / 1e9:5.0f} s: served "
                        f"{value['served']:,}, dropped {value['dropped']:,}; waiting: {waiting}"
                    )
            now = time.perf_counter()
            over = t_drift is not None and now - t_drift > plan.max_wait_s
            if t_drift is not None and t_decided is None and (_decided(ctl, moved) or over):
                t_decided = now
                run.stages_s["detect, adapt, deploy"] = now - t_drift
            if t_decided is not None and now - t_decided >= plan.settle_s:
                run.stages_s["settle"] = now - t_decided
                break
            time.sleep(1.0)
        run.t_end_ns = time.time_ns()
        conn.send("stop")
        counters = conn.recv()[1] if conn.poll(120) else {}
        ctl.events.stop()
        t = time.perf_counter()
        rows = open_telemetry(shared.telemetry_read, bucket=BUCKET).read(run.t_start_ns - 1)
        summary = cell_summary(plan, ctl, run, rows)
        summary["xapp_counters"] = {k: v for k, v in counters.items() if v}
        paths = write_outputs(out, plan, run, rows, summary)
        run.stages_s["report"] = time.perf_counter() - t
    finally:
        child.join(timeout=60)
        if child.is_alive():
            child.terminate()
        services.stop()
    summary["stages_s"] = {k: round(v, 1) for k, v in run.stages_s.items()}
    for p in paths:
        say(f"wrote {p}")
    return summary
