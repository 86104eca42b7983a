"""The rApp's loop, a plain object with its parts passed in: ``tick()`` reads the xApp's
telemetry, watches each cell for drift, finds cells with enough labelled data and no proxy,
adapts environments whose fresh samples suffice, and deploys accepted proxies by A1.

    ctl = RappController(settings, telemetry=..., events=..., data=..., adapter=...,
                         a1=..., store=..., lam_sha256=...)
    while True:
        ctl.tick()                       # the process shell (or a test) drives it
        time.sleep(settings.poll_s)

Triggers: drift of a cell (either direction; the cell gets an environment of its own, adapted
on its samples since the change), a new environment (a cell no policy maps, with enough
labelled samples), and an operator's request. Every step is an event (``RappEvent``: trigger,
adaptation, gate, publish, a1; built by :mod:`rapp.loop_events`) written to the event log. A
failing part (InfluxDB, the data store, an adaptation, A1) ends in an event and a counter; the
running SAM stays and the loop goes on.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from datastore import LabelledSamples
from rapp.a1_base import A1Client, A1Result
from rapp.drift import DriftEvent, DriftWatch
from rapp.environments import Environment, EnvironmentTable, ProxyVersion, data_key, policy_id
from rapp.loop_events import (
    a1_event,
    adaptation_events,
    drift_trigger,
    history_entry,
    publish_event,
    too_few_samples,
    trigger_event,
)
from rapp.loop_types import Adapter, ControllerSettings, Pending, SampleSource
from rapp.telemetry import EventLog, RappEvent, TelemetrySource, TelemetryUnavailable
from schemas import Mode

__all__ = ["RappController"]

log = logging.getLogger(__name__)


@dataclass
class RappController:
    """The rApp's loop (see the module docstring).

    Args:
        settings: the loop's settings.
        telemetry: the xApp's per-cell telemetry (``rapp.telemetry``).
        events: where events go.
        data: the labelled samples (``datastore.DataReader``).
        adapter: adapts an environment (in-process or as a Kubernetes Job).
        a1: the A1 client that deploys policies.
        lam_sha256: the LAM the xApp runs (policies name it).
        drift: the drift watch (default: Page-Hinkley on ``nmse_db``).
        table: the environments (default: empty).
        mark_bad: ``(name, version, reason)``: marks a rolled-back proxy bad in the store.
    """

    settings: ControllerSettings
    telemetry: TelemetrySource | None
    events: EventLog
    data: SampleSource
    adapter: Adapter
    a1: A1Client
    lam_sha256: str
    drift: DriftWatch = field(default_factory=DriftWatch)
    table: EnvironmentTable = field(default_factory=EnvironmentTable)
    mark_bad: Callable[[str, int, str], object] | None = None
    clock: Callable[[], int] = time.time_ns

    def __post_init__(self) -> None:
        self.pending: dict[str, Pending] = {}
        self.history: list[dict[str, Any]] = []
        self.counters: collections.Counter[str] = collections.Counter()
        self.cells_seen: set[str] = set()
        self._serving: dict[str, tuple[str, int | None]] = {}
        self._since_ns = 0
        self._lock = threading.RLock()

    # -- the loop -------------------------------------------------------------------------
    def tick(self) -> list[RappEvent]:
        """One pass: telemetry and drift, new environments, and the first due adaptation
        (the others wait for the next ticks). Returns the events, stamped with the time."""
        with self._lock:
            out = [*self._watch(), *self._discover(), *self._adapt_due()]
        now = self.clock()
        out = [e if e.t_ns else dataclasses.replace(e, t_ns=now) for e in out]
        for event in out:
            self.events.emit(event)
        return out

    def _watch(self) -> list[RappEvent]:
        if self.telemetry is None:
            return []
        try:
            rows = self.telemetry.read(self._since_ns)
        except TelemetryUnavailable as exc:
            self.counters["telemetry_unavailable"] += 1
            log.warning("telemetry unavailable: %s", exc)
            return []
        out = []
        for row in sorted(rows, key=lambda r: r.t_ns):
            self._since_ns = max(self._since_ns, row.t_ns)
            self.cells_seen.add(row.cell)
            serving = (row.env, row.sam_version)
            if self._serving.setdefault(row.cell, serving) != serving:
                # A deployment took effect (another environment or SAM version): the change
                # it brings is planned, not drift; the watch starts a new baseline.
                self._serving[row.cell] = serving
                self.drift.reset(row.cell)
            env = self.table.of_cell(row.cell)
            if env is not None and "nmse_db" in row.fields:
                self.table.update(env.environment_id, nmse_db=float(row.fields["nmse_db"]))
            for change in self.drift.update(row.cell, row.t_ns, row.fields):
                out += self._on_drift(change)
        return out

    def _on_drift(self, change: DriftEvent) -> list[RappEvent]:
        self.counters["drift"] += 1
        if any(change.cell in p.cells for p in self.pending.values()):
            return []  # an adaptation for it is already waiting for its samples
        old = self.table.of_cell(change.cell)
        env_id = self.table.new_id(change.cell)
        self.pending[env_id] = Pending(
            env_id,
            (change.cell,),
            (data_key(change.cell, old.environment_id if old else None),),
            change.change_t_ns,
            "drift",
            self.clock(),
            old.active.running() if old and old.active else None,
            old.environment_id if old else None,
        )
        return [drift_trigger(env_id, change)]

    def _discover(self) -> list[RappEvent]:
        need = self.settings.new_environment_samples
        if need is None:
            return []
        out = []
        waiting = {c for p in self.pending.values() for c in p.cells}
        for cell in sorted(self.cells_seen - waiting):
            if self.table.of_cell(cell) is not None:
                continue
            try:
                have = self.data.count(data_key(cell, None))
            except Exception as exc:  # the data store is a dependency that may fail
                self.counters["data_unavailable"] += 1
                log.warning("data store: %s", exc)
                return out
            if have >= need:
                env_id = self.table.new_id(cell)
                self.pending[env_id] = Pending(
                    env_id, (cell,), (data_key(cell, None),), 0, "new", self.clock()
                )
                out.append(trigger_event(env_id, "new", cell=cell))
        return out

    def _samples(self, p: Pending) -> LabelledSamples | None:
        """The pending cells' samples since the trigger, each data key read once."""
        cells_of: dict[str, list[str]] = {}
        for cell, key in zip(p.cells, p.keys, strict=True):
            cells_of.setdefault(key, []).append(cell)
        parts = []
        for key, cells in cells_of.items():
            s = self.data.read(key, max_samples=self.settings.max_samples, since_ns=p.since_ns)
            if len(s):
                parts.append(s.take(np.isin(np.asarray(s.cells), cells)))
        parts = [s for s in parts if len(s)]
        if not parts:
            return None
        merged = LabelledSamples.concat(
            [
                LabelledSamples(
                    p.environment, s.projection_id, s.labels, s.codewords, s.cells, s.t_ns
                )
                for s in parts
            ]
        )
        return merged.newest(self.settings.max_samples)

    def _adapt_due(self) -> list[RappEvent]:
        out = []
        for env_id, p in list(self.pending.items()):
            try:
                samples = self._samples(p)
            except Exception as exc:  # a corrupt or unreachable data store
                self.counters["data_unavailable"] += 1
                log.warning("data store: %s", exc)
                continue
            n = len(samples) if samples is not None else 0
            if n < self.settings.min_fresh_samples:
                if (self.clock() - p.created_ns) / 1e9 > self.settings.pending_timeout_s:
                    del self.pending[env_id]
                    self._record(p, None, {"reason": "too-few-samples", "samples": n})
                    out.append(too_few_samples(p, n))
                continue
            del self.pending[env_id]
            out += self._adapt(p, samples)
            break  # one adaptation a tick: its outcome is out (and the lock free) sooner
        return out

    def _adapt(self, p: Pending, samples: LabelledSamples) -> list[RappEvent]:
        t0 = time.perf_counter()
        try:
            outcome = self.adapter(p.environment, samples, p.running)
        except Exception as exc:  # an adaptation that fails keeps the running SAM
            self.counters["adaptation_failed"] += 1
            log.exception("adaptation of %s failed", p.environment)
            outcome = {"accepted": False, "reason": "error", "detail": str(exc)}
        seconds = time.perf_counter() - t0
        out = adaptation_events(p, len(samples), seconds, outcome)
        for cell in p.cells:
            self.drift.reset(cell)  # a new baseline, whatever the outcome
        if not outcome.get("accepted"):
            self.counters["declined"] += 1
            self._record(p, outcome, {})
            return out
        self.counters["adapted"] += 1
        pub = outcome["published"]
        out.append(publish_event(p.environment, pub, len(samples)))
        version = ProxyVersion(
            pub["name"],
            int(pub["version"]),
            pub["onnx_sha256"],
            Mode(outcome.get("mode") or Mode.E_LASCO),
            outcome.get("alpha"),
        )
        env = self.table.get(p.environment) if p.environment in self.table else None
        self.table.put(
            Environment(
                p.environment,
                env.cells if env else p.cells,
                version.mode,
                (*(env.versions if env else ()), version),
                env.origin if env else p.trigger,
            )
        )
        result = self._deploy(p.environment)
        out.append(a1_event(p.environment, result))
        if result.ok and p.origin_environment and p.origin_environment != p.environment:
            out += self._release_cells(p.origin_environment, p.cells)
        self._record(p, outcome, {"a1_status": result.status.value})
        return out

    # -- A1 -------------------------------------------------------------------------------
    def _deploy(self, environment: str) -> A1Result:
        env = self.table.get(environment)
        policy = env.policy(self.lam_sha256, self.settings.store_uri)
        result = self.a1.put_policy(policy_id(environment), policy)
        if not result.ok:
            self.counters["a1_errors"] += 1
        return result

    def _release_cells(self, environment: str, cells: tuple[str, ...]) -> list[RappEvent]:
        """Take ``cells`` out of ``environment`` (they moved); its policy follows."""
        env = self.table.get(environment)
        rest = tuple(c for c in env.cells if c not in cells)
        if rest:
            self.table.update(environment, cells=rest)
            return [a1_event(environment, self._deploy(environment))]
        self.table.remove(environment)
        return [a1_event(environment, self.a1.delete_policy(policy_id(environment)))]

    def _record(self, p: Pending, outcome: dict[str, Any] | None, extra: dict[str, Any]) -> None:
        """Keep an adaptation's outcome in ``history`` (the operator API lists it)."""
        self.history.append(history_entry(p, outcome, extra, self.clock()))

    # -- the operator's requests ------------------------------------------------------------
    def request_adaptation(self, environment: str) -> Pending:
        """Adapt ``environment`` on all its recent samples at the next tick (KeyError: no such
        environment; ValueError: one is already waiting)."""
        with self._lock:
            env = self.table.get(environment)
            if environment in self.pending:
                raise ValueError(f"an adaptation of {environment!r} is already waiting")
            p = Pending(
                environment,
                env.cells,
                tuple(environment for _ in env.cells),
                0,
                "operator",
                self.clock(),
                env.active.running() if env.active else None,
            )
            self.pending[environment] = p
        self.events.emit(trigger_event(environment, "operator"))
        return p

    def rollback(self, environment: str, reason: str = "rolled back by the operator") -> A1Result:
        """Serve ``environment`` with its previous proxy (the LAM alone before the first), and
        mark the current one bad in the store."""
        with self._lock:
            env = self.table.get(environment)
            if env.active is None:
                raise ValueError(f"{environment!r} runs no proxy to roll back")
            bad = env.active
            if self.mark_bad is not None:
                try:
                    self.mark_bad(bad.name, bad.version, reason)
                except Exception as exc:  # the store may be down: the roll-back goes on
                    log.warning("could not mark %s v%s bad: %s", bad.name, bad.version, exc)
            versions = env.versions[:-1]
            self.table.update(
                environment,
                versions=versions,
                mode=versions[-1].mode if versions else Mode.LAM_ONLY,
            )
            result = self._deploy(environment)
        self.events.emit(a1_event(environment, result))
        return result

    def set_cells(self, environment: str, cells: tuple[str, ...]) -> A1Result:
        """Change the cells an environment serves; its policy follows (ValueError: a cell
        another environment serves, or no cell)."""
        if not cells:
            raise ValueError("an environment needs at least one cell")
        with self._lock:
            self.table.get(environment)  # KeyError: no such environment
            for cell in cells:
                other = self.table.of_cell(cell)
                if other is not None and other.environment_id != environment:
                    raise ValueError(
                        f"cell {cell!r} is served by environment {other.environment_id!r}; "
                        "take it out of that one first"
                    )
            self.table.update(environment, cells=tuple(cells))
            result = self._deploy(environment)
        self.events.emit(a1_event(environment, result))
        return result

    def set_mode(self, environment: str, mode: Mode) -> A1Result:
        """Change how an environment is served (``lam-only`` keeps its versions)."""
        with self._lock:
            env = self.table.get(environment)
            if mode.uses_proxy and not env.versions:
                raise ValueError(f"{environment!r} has no proxy to serve in mode {mode}")
            latest = env.versions[-1] if env.versions else None
            if mode.uses_proxy and latest and (mode is Mode.SIDE) != (latest.mode is Mode.SIDE):
                what = "a side network" if latest.mode is Mode.SIDE else "a proxy SAM"
                raise ValueError(
                    f"{environment!r} runs {latest.name} v{latest.version}, {what}: it cannot "
                    f"serve in mode {mode}"
                )
            self.table.update(environment, mode=mode)
            result = self._deploy(environment)
        self.events.emit(a1_event(environment, result))
        return result
