"""The xApp core: a plain object, no RMR. It builds the parts (counters, policy table,
micro-batcher, subscriptions) and one handler per message type, then only dispatches:
``handle(mtype, payload, meid)`` returns the replies to send back to the sender;
``tick(now)`` returns the messages the xApp itself sends (subscriptions and their
retries) and flushes a micro-batch that waited long enough.

Nothing raised inside a handler escapes ``handle``: a handler answers the typed errors
itself (see :class:`xapp.handlers.Handler`); anything else is counted as
``internal_error`` and logged at a limited rate, so one message never stops the xApp.
``tick`` holds to the same rule for the timer's work (``tick_failed_<step>``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import fields, replace

from model_store import ModelStore
from schemas import A1_POLICY_TYPE_ID
from serving import LascoRuntime
from xapp.batching import MicroBatcher, Outputs
from xapp.counters import Counters
from xapp.handlers import (
    A1PolicyHandler,
    IndicationHandler,
    Replies,
    SubscriptionHandler,
    dispatch_table,
)
from xapp.metrics import XappMetrics
from xapp.mtypes import MType
from xapp.outputs import DatasetSink, InMemorySdl, Sdl
from xapp.policies import PolicyTable
from xapp.settings import Settings
from xapp.submgr import SubmgrSubscriptions
from xapp.subscriptions import Subscriptions
from xapp.telemetry import Telemetry

__all__ = ["LIVE", "CsiXapp"]

# The settings a configuration change applies at once, per group; the others need a
# restart (they build the runtime, the store, SDL and the sinks).
LIVE: dict[str, tuple[str, ...]] = {
    "subscription": ("e2_nodes", "resubscribe_backoff_s"),
    "micro_batch": ("max_batch", "max_wait_ms"),
    "limits": ("max_payload_bytes", "max_ues_per_report", "max_abs_codeword", "log_every_s"),
    "a1": ("query_window_s",),
    "sdl": ("restore_retry_s",),
    "store": ("allowed_uris", "fetch_timeout_s"),
}

Outgoing = list[tuple[int, bytes, "str | None"]]
"""Messages the xApp originates: ``[(mtype, payload, meid or None), ...]``."""


class _NoSubmgr:
    """The submgr client before one is set: every call fails (and is retried)."""

    def subscribe(self, params):
        raise ConnectionError("no submgr client set (csi-xapp run sets one)")

    def unsubscribe(self, subscription_id):
        raise ConnectionError("no submgr client set (csi-xapp run sets one)")


class CsiXapp:
    """The CSI reconstruction xApp's core.

    Args:
        settings: typed settings.
        runtime: the LascoRuntime that reconstructs.
        store: where proxy SAMs named by A1 policies are fetched from and verified.
        sdl: reconstructed CSI and active policies (default: in memory).
        telemetry: per-cell telemetry (default: none written).
        dataset: labelled samples per environment (default: the data store of the
            settings' ``data`` group); its counters are mirrored as ``data_<name>``.
        require_subscription: serve only indications of a live subscription (the others
            are dropped as ``no-subscription``); replay, which has none, turns it off.

    With ``subscription.mode = submgr`` the subscriptions' submgr client is set by the
    caller that runs the xApp (``SubmgrSubscriptions.client``); until then they fail and
    are retried.
    """

    def __init__(
        self,
        settings: Settings,
        runtime: LascoRuntime,
        store: ModelStore,
        *,
        sdl: Sdl | None = None,
        telemetry: Telemetry | None = None,
        dataset: DatasetSink | None = None,
        require_subscription: bool = True,
    ) -> None:
        self.settings, self.runtime, self.store = settings, runtime, store
        self._lock = threading.RLock()
        self.sdl = sdl or InMemorySdl()
        self.telemetry = telemetry or Telemetry(None)
        self.dataset = dataset or DatasetSink.from_settings(settings.data)
        self.counters = Counters(self.telemetry, log_every_s=settings.limits.log_every_s)
        self.metrics = XappMetrics(
            self.counters.snapshot, lambda: len(self.policies), lambda: len(self.runtime.proxies)
        )
        self.telemetry.add_observer(self.metrics)
        self.dataset.report_to(self.counters.count)
        self.subscriptions: Subscriptions | SubmgrSubscriptions
        sub = settings.subscription
        if sub.mode == "submgr":
            endpoint = (sub.callback_host, sub.callback_port, sub.rmr_port)
            self.subscriptions = SubmgrSubscriptions(sub, _NoSubmgr(), endpoint)
        else:
            self.subscriptions = Subscriptions(sub)
        self.policies = PolicyTable(
            runtime,
            store,
            self.sdl,
            self.counters,
            namespace=settings.sdl.namespace,
            store_uri=settings.store.uri,
            allowed_store_uris=settings.store.allowed_uris,
            fetch_timeout_s=settings.store.fetch_timeout_s,
        )
        self.batcher = MicroBatcher(
            settings.micro_batch,
            runtime,
            Outputs(
                self.sdl,
                settings.sdl.namespace,
                self.telemetry,
                self.dataset,
                max(1, round(settings.sdl.csi_ttl_s * 1000)),
            ),
            self.counters,
            self.policies.route,
        )
        self._indication = IndicationHandler(
            settings.limits,
            runtime.projection,
            self.batcher,
            self.counters,
            self.subscriptions.matches if require_subscription else None,
        )
        self._handlers = dispatch_table(
            [
                self._indication,
                A1PolicyHandler(self.policies, self.counters, settings.a1.handler_id, self._lock),
                SubscriptionHandler(self.subscriptions, self.counters),
            ]
        )
        self._next_restore = 0.0
        self._query_at: float | None = None  # when the start-up policy query went out

    @property
    def mtypes(self) -> tuple[int, ...]:
        """The message types a handler is registered for."""
        return tuple(self._handlers)

    @property
    def cell_env(self) -> Mapping[str, str]:
        """``{cell: environment}`` as the active policies map them."""
        return self.policies.cell_env

    def handle(self, mtype: int, payload: bytes, meid: str | None = None) -> Replies:
        """Handle one message; returns replies ``(mtype, payload)`` for the sender."""
        handler = self._handlers.get(mtype)
        if handler is None:
            self.counters.count(f"unhandled_mtype_{mtype}")
            return []
        try:
            if handler.locks_itself:
                return handler(payload, meid)
            with self._lock:
                return handler(payload, meid)
        except Exception as exc:  # the process never dies on one message
            for key in ("internal_error", "dropped", "dropped_internal-error"):
                self.counters.count(key)
            self.counters.log_limited("internal", "internal error on mtype %s: %r", mtype, exc)
            return []

    def start_messages(self) -> Outgoing:
        """What to send at start: the A1 policy query and a subscription per E2 node."""
        query = json.dumps({"policy_type_id": A1_POLICY_TYPE_ID}).encode()
        self._query_at = time.monotonic()
        return [(MType.A1_POLICY_QUERY, query, None), *self.subscriptions.due(time.monotonic())]

    def tick(self, now: float | None = None) -> Outgoing:
        """Periodic work: flush a batch whose oldest row waited ``max_wait_ms``, start a
        background write of labelled samples when one is due, retry restoring the saved
        policies while SDL could not be read; returns the subscription requests due at
        ``now`` (monotonic seconds)."""
        now = time.monotonic() if now is None else now
        due: Outgoing = []
        for step in ("flush", "subscriptions", "dataset", "restore", "confirm"):
            try:  # each step on its own: one failing does not skip the others
                if step == "restore":
                    self._retry_restore(now)
                elif step == "confirm":
                    self._confirm(now)
                elif step == "flush":
                    with self._lock:
                        if self.batcher.due():
                            self.batcher.flush()
                elif step == "subscriptions":
                    if isinstance(self.subscriptions, SubmgrSubscriptions):
                        due = self.subscriptions.due(now)  # REST calls: never under the lock
                    else:
                        with self._lock:
                            due = self.subscriptions.due(now)
                else:
                    self.dataset.tick()
            except Exception as exc:  # the timer never dies
                self.counters.count("internal_error")
                self.counters.count(f"tick_failed_{step}")
                self.counters.log_limited(f"tick-{step}", "periodic %s failed: %r", step, exc)
        return due

    def query_failed(self) -> None:
        """The start-up policy query could not be sent: A1's silence means nothing then, so
        nothing restored is dropped for it."""
        self._query_at = None
        self.counters.count("a1_query_send_failed")

    def _confirm(self, now: float) -> None:
        """Once the query window has passed, drop what A1 did not re-send."""
        if self._query_at is None or now - self._query_at < self.settings.a1.query_window_s:
            return
        with self._lock:
            gone = self.policies.drop_unconfirmed()
        if gone:
            self.counters.count("restored_dropped", len(gone))
            self.counters.log_limited(
                "restored-dropped", "A1 did not re-send %s: dropped", ", ".join(gone)
            )

    def _retry_restore(self, now: float) -> None:
        """Restore the saved policies again when SDL could not be read at start."""
        if not self.policies.restore_pending or now < self._next_restore:
            return
        self._next_restore = now + self.settings.sdl.restore_retry_s
        with self._lock:
            restored = self.policies.restore()
        if restored:
            self.counters.count("restored_late", restored)

    def flush(self) -> int:
        """Reconstruct every queued row now and write every labelled sample to the data
        store (partial shards too; nothing without a store); returns the rows served."""
        with self._lock:
            served = self.batcher.flush()
        self.dataset.flush(force=True)
        return served

    def reconfigure(self, new: Settings) -> tuple[list[str], list[str]]:
        """Apply a changed configuration (already validated): the settings in ``LIVE``
        take effect now; the others (the store, SDL namespace, runtime, telemetry and data
        sinks) keep their running values until a restart. Returns ``(applied, needing a
        restart)`` as ``group.field`` names."""
        applied, restart, merged = [], [], {}
        for group in fields(Settings):
            old_g, new_g = getattr(self.settings, group.name), getattr(new, group.name)
            live = {}
            for f in fields(old_g):
                if getattr(old_g, f.name) == getattr(new_g, f.name):
                    continue
                name = f"{group.name}.{f.name}"
                if f.name in LIVE.get(group.name, ()):
                    live[f.name] = getattr(new_g, f.name)
                    applied.append(name)
                else:
                    restart.append(name)
            merged[group.name] = replace(old_g, **live)
        if not applied and not restart:
            return [], []
        settings = Settings(**merged)
        with self._lock:
            self.settings = settings
            self.batcher.settings = settings.micro_batch
            self._indication.limits = settings.limits
            self.counters.log_every_s = settings.limits.log_every_s
            self.subscriptions.settings = settings.subscription
            self.subscriptions.set_nodes(settings.subscription.e2_nodes)
            self.policies.allowed_store_uris = frozenset(settings.store.allowed_uris)
            self.policies.fetch_timeout_s = settings.store.fetch_timeout_s
        self.counters.count("config_applied")
        if restart:
            self.counters.count("config_restart_needed")
        return applied, restart

    def restore(self) -> int:
        """Re-apply the policies saved in SDL (before A1 answers the query); returns how
        many were restored."""
        with self._lock:
            return self.policies.restore()
