"""Everything the closed-loop demo runs, built on one machine under one output folder.

:func:`prepare` makes what both sides share: a copy of the shipped model store and a signing
key for the rApp's proxies, a data store folder, and a real InfluxDB on a loopback port (a
telemetry file where none can be had). The RAN side (:func:`build_ran_side`: simulated E2
nodes, the xApp on the in-process transport, the local A1 mediator in front of it) runs in a
process of its own; the rApp (:func:`build_rapp`) in another. They meet only where they would
in a RIC: A1 over HTTP, the model store, the data store and InfluxDB.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datastore.reader import DataReader
from lasco.channels import ChannelCache
from lasco.train import AdaptConfig
from lasco_ric.local_influx import InfluxServer, NotInstalled, V2WriteBridge
from model_store import DEFAULT_STORE, DEFAULT_TRUSTED_KEYS, ModelStore, TrustedKeys
from model_store.signing import generate_keypair, load_private_key
from ransim.a1_mediator import A1Mediator
from ransim.scenario import Ran, Scenario
from rapp.a1 import a1_client
from rapp.adapt_settings import AdaptationSettings
from rapp.adaptation import adapt_environment
from rapp.controller import RappController
from rapp.drift import DriftSettings, DriftWatch
from rapp.loop_types import ControllerSettings
from rapp.telemetry import open_event_log, open_telemetry
from xapp.app import build_core
from xapp.settings import Settings
from xapp.transport import LocalRic

__all__ = ["DemoPlan", "RanSide", "Services", "Shared", "build_ran_side", "build_rapp", "prepare"]

log = logging.getLogger(__name__)
BUCKET = "lasco/autogen"


@dataclass(frozen=True)
class DemoPlan:
    """How long each phase runs and how hard the rApp trains (``quick`` is the short one).

    Attributes:
        scenario: the RAN (cells start in environments the LAM was trained on).
        drift: ``{cell: environment}`` the cells move to after the warm-up.
        warmup_s: wall seconds in the first environments (the drift watch's baseline).
        settle_s: wall seconds measured after an adaptation is deployed.
        max_wait_s: the longest the demo waits for the rApp after the drift.
        telemetry_interval_s: the xApp's telemetry interval (one drift-watch point).
        min_fresh_samples: labelled samples an adaptation waits for after a drift.
        adapt: the adaptation's training loop; ``gate_margin_db`` its gate.
        method: what the rApp adapts (``side``: a side network on the LAM's hidden states;
            ``e-lasco``: the paper's); ``phase_views`` its phase-rotation augmentation (1:
            none).
    """

    scenario: dict[str, Any]
    drift: dict[str, str]
    warmup_s: float = 20.0
    settle_s: float = 10.0
    max_wait_s: float = 360.0
    telemetry_interval_s: float = 0.5
    min_fresh_samples: int = 2000
    adapt: AdaptConfig = field(default_factory=lambda: AdaptConfig(max_epochs=60, patience=15))
    gate_margin_db: float = 0.4
    method: str = "side"
    phase_views: int = 16

    @classmethod
    def default(cls, quick: bool = False) -> DemoPlan:
        """Four cells on two E2 nodes in environments the LAM knows (regions 11-14 of the
        paper's layout); three move into target regions: two NLOS cells into LOS regions 102
        and 104, one LOS cell into NLOS region 101; the fourth stays."""
        scenario = {
            "period_ms": 10,
            "ues_per_report": 32,
            "label_fraction": 0.25,
            "samples_per_environment": 400 if quick else 800,
            "nodes": [
                {
                    "id": "gnb-1",
                    "cells": [
                        {"id": "cell-1", "environment": "11"},
                        {"id": "cell-2", "environment": "13"},
                    ],
                },
                {
                    "id": "gnb-2",
                    "cells": [
                        {"id": "cell-3", "environment": "12"},
                        {"id": "cell-4", "environment": "14"},
                    ],
                },
            ],
        }
        drift = {"cell-1": "102", "cell-2": "104", "cell-3": "101"}
        if quick:
            return cls(
                scenario,
                drift,
                warmup_s=12.0,
                settle_s=6.0,
                max_wait_s=150.0,
                min_fresh_samples=1500,
                adapt=AdaptConfig(max_epochs=40, patience=10),
            )
        return cls(scenario, drift)


@dataclass(frozen=True)
class Shared:
    """Where the two sides meet (plain paths and URLs: it crosses the process boundary)."""

    out: str
    store: str
    data: str
    key: str
    trusted: tuple[str, ...]
    telemetry_write: str  # the xApp's InfluxDB write URL (v2 API), or a line-protocol file
    telemetry_read: str  # InfluxDB's URL for the readers, or the same file
    on_file: bool


@dataclass
class Services:
    """The processes ``prepare`` started (InfluxDB and its bridge); ``stop`` ends them."""

    influx: InfluxServer | None = None
    bridge: V2WriteBridge | None = None

    def stop(self) -> None:
        if self.bridge is not None:
            self.bridge.stop()
        if self.influx is not None:
            self.influx.stop()


def _influx(out: Path) -> tuple[Services, str, str]:
    """InfluxDB and its v2 write bridge, or a line-protocol file when influxd is missing.
    Returns (the services, the xApp's write URL or file, the readers' URL or file)."""
    try:
        server = InfluxServer(out / "influxdb")
    except NotInstalled as exc:
        log.warning("%s: telemetry goes to a file instead", exc)
        path = str(out / "telemetry.lp")
        return Services(), path, path
    server.create_db(BUCKET.split("/")[0])
    bridge = V2WriteBridge(server.url)
    return Services(server, bridge), bridge.url, server.url


def prepare(out: Path) -> tuple[Shared, Services]:
    """The output folder (emptied first), the store copy, the rApp's key, InfluxDB."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    store_dir, data_dir = out / "store", out / "data"
    shutil.copytree(DEFAULT_STORE, store_dir)
    (out / "keys").mkdir()
    key_path, pub_path = generate_keypair(out / "keys" / "rapp")
    release = sorted(str(p) for p in DEFAULT_TRUSTED_KEYS.glob("*.pub"))
    services, write_to, read_from = _influx(out)
    shared = Shared(
        str(out),
        str(store_dir),
        str(data_dir),
        str(key_path),
        (*release, str(pub_path)),
        write_to,
        read_from,
        services.influx is None,
    )
    return shared, services


@dataclass
class RanSide:
    """The E2 nodes, the xApp on the in-process transport, and the A1 mediator."""

    ran: Ran
    ric: LocalRic
    mediator: A1Mediator

    def close(self) -> None:
        self.mediator.stop()
        self.ric.core.flush()
        self.ric.core.telemetry.stop()


def build_ran_side(shared: Shared, plan: DemoPlan, cache: ChannelCache | None) -> RanSide:
    """Start the E2 nodes, the xApp (its controls saved as ``xapp-controls.json``) and the
    A1 mediator delivering to it."""
    ran = Ran(Scenario.from_dict(plan.scenario), cache=cache)
    controls = {
        "subscription": {"e2_nodes": list(ran.nodes), "mode": "rmr"},  # ransim's E2 nodes
        "store": {"uri": shared.store, "trusted_keys": list(shared.trusted)},
        "telemetry": {
            "influx_url": None if shared.on_file else shared.telemetry_write,
            "file": shared.telemetry_write if shared.on_file else None,
            "bucket": BUCKET,
            "interval_s": plan.telemetry_interval_s,
        },
        "data": {"uri": shared.data, "shard_samples": 128, "flush_partial_after_s": 2.0},
        "micro_batch": {"max_batch": 128},
        "runtime": {"workers": 1},  # one core for the RAN side, the other for the rApp
    }
    Path(shared.out, "xapp-controls.json").write_text(json.dumps(controls, indent=1) + "\n")
    core = build_core(Settings.from_controls(controls, env={}))
    ric = LocalRic(core)
    for node in ran.nodes.values():
        ric.add_e2_node(node)
    ric.start()
    core.telemetry.start()
    return RanSide(ran, ric, A1Mediator(ric.a1).start())


def build_rapp(shared: Shared, plan: DemoPlan, a1_url: str) -> RappController:
    """The rApp's loop on the shared stores, InfluxDB and the A1 mediator at ``a1_url``
    (its settings saved as ``rapp-settings.json``); its event log is started."""
    store = ModelStore(shared.store, TrustedKeys(list(shared.trusted)))
    key = load_private_key(shared.key)
    adapt_settings = AdaptationSettings(
        method=plan.method,
        adapt=plan.adapt,
        gate_margin_db=plan.gate_margin_db,
        max_samples=plan.min_fresh_samples,
        phase_views=plan.phase_views,
    )

    def adapter(environment, samples, running):
        return adapt_environment(
            environment, samples, store, key, settings=adapt_settings, running=running
        ).to_dict()

    events = open_event_log(shared.telemetry_read, bucket=BUCKET)
    events.start()
    a1 = f"a1p+{a1_url}"
    Path(shared.out, "rapp-settings.json").write_text(
        json.dumps(
            {
                "store": shared.store,
                "data": shared.data,
                "telemetry": shared.telemetry_read,
                "a1": a1,
                "adaptation": {
                    "method": adapt_settings.method,
                    "phase_views": adapt_settings.phase_views,
                    "gate_margin_db": plan.gate_margin_db,
                    "max_epochs": plan.adapt.max_epochs,
                    "patience": plan.adapt.patience,
                    "samples": plan.min_fresh_samples,
                },
            },
            indent=1,
        )
        + "\n"
    )
    return RappController(
        ControllerSettings(
            min_fresh_samples=plan.min_fresh_samples,
            max_samples=plan.min_fresh_samples,
            store_uri=shared.store,
        ),
        telemetry=open_telemetry(shared.telemetry_read, bucket=BUCKET),
        events=events,
        data=DataReader(shared.data),
        adapter=adapter,
        a1=a1_client(a1),
        lam_sha256=store.fetch("lam").manifest.onnx_sha256,
        drift=DriftWatch(DriftSettings(min_points=10)),
        mark_bad=store.mark_bad,
    )
