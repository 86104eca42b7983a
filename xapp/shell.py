"""The RMR shell: ricxappframe's RMRXapp around the core.

It only receives, calls ``core.handle`` and replies: A1 responses by RTS (return to
sender, as the A1 mediator expects), everything else by ``rmr_send``; messages the
core originates (subscriptions with the E2 node's meid) are sent from a ticker thread
that also flushes micro-batches on time. The framework answers RIC_HEALTH_CHECK_REQ
itself; the config handler (start and inotify MODIFY of $CONFIG_FILE) updates the
E2 node list. SDL is ricsdl's on DBAAS_SERVICE_HOST/PORT. The shell is where the core's
refusals become log lines: a config it cannot use is logged and the running one kept.

Boundary: importing ricxappframe's RMR parts loads the native ``librmr_si.so``, which
no PyPI, Debian or npm package ships (O-RAN SC images install the rmr .deb). The
tests run this shell with stand-ins for ``RMRXapp`` and the ``rmr`` module (see
tests/xapp/test_shell.py); the real RMR transport is not exercised here.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from xapp.core import CsiXapp
from xapp.mtypes import MType
from xapp.settings import Settings, SettingsError

__all__ = ["RmrShell", "run"]

log = logging.getLogger(__name__)
RTS_TYPES = {MType.A1_POLICY_RESP}


class RmrShell:
    """Wire a core to an RMRXapp. ``xapp_factory`` and ``rmr`` default to ricxappframe's."""

    def __init__(
        self,
        core: CsiXapp,
        *,
        xapp_factory: Any = None,
        rmr: Any = None,
        rmr_port: int = 4560,
        tick_s: float = 0.001,
    ) -> None:
        self.core, self.rmr_port, self.tick_s = core, rmr_port, tick_s
        if xapp_factory is None or rmr is None:
            from ricxappframe.rmr import rmr as rmr_mod  # loads librmr_si.so
            from ricxappframe.xapp_frame import RMRXapp

            xapp_factory, rmr = xapp_factory or RMRXapp, rmr or rmr_mod
        self.rmr, self._factory = rmr, xapp_factory
        self.xapp: Any = None
        self._stop = threading.Event()
        # A1 requests are handled on their own thread, in order: a policy whose proxy
        # the store is slow to deliver never holds the receive loop (indications).
        self._a1_queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._a1_worker, name="a1", daemon=True).start()

    def start(self, thread: bool = True) -> None:
        self.xapp = self._factory(
            self._default, config_handler=self._config, rmr_port=self.rmr_port
        )
        for mtype in self.core.mtypes:
            self.xapp.register_callback(self._on_message, int(mtype))
        self.core.restore()
        for mtype, payload, meid in self.core.start_messages():
            if not self.send(mtype, payload, meid) and mtype == MType.A1_POLICY_QUERY:
                self.core.query_failed()
        threading.Thread(target=self._ticker, name="ticker", daemon=True).start()
        self.xapp.run(thread=thread)

    def stop(self) -> None:
        self._stop.set()
        try:  # the E2 subscriptions are deleted (through submgr, or RIC_SUB_DEL_REQ)
            for mtype, payload, meid in self.core.subscriptions.stop() or []:
                self.send(mtype, payload, meid)
        except Exception as exc:
            log.warning("deleting the subscriptions at stop failed: %r", exc)
        if self.xapp is not None:
            self.xapp.stop()
        self.core.flush()

    # -- callbacks ----------------------------------------------------------------------
    def _on_message(self, xapp: Any, summary: dict, sbuf: Any) -> None:
        if summary[self.rmr.RMR_MS_MSG_TYPE] == MType.A1_POLICY_REQ:
            self._a1_queue.put((xapp, summary, sbuf))  # answered by RTS from the A1 thread
            return
        self._serve(xapp, summary, sbuf)

    def _a1_worker(self) -> None:
        while True:
            xapp, summary, sbuf = self._a1_queue.get()
            try:
                self._serve(xapp, summary, sbuf)
            except Exception as exc:  # the A1 thread never dies
                self.core.counters.count("internal_error")
                self.core.counters.log_limited("a1-thread", "A1 request failed: %r", exc)

    def _serve(self, xapp: Any, summary: dict, sbuf: Any) -> None:
        rmr = self.rmr
        mtype = summary[rmr.RMR_MS_MSG_TYPE]
        meid = summary.get(rmr.RMR_MS_MEID)
        meid = meid.decode(errors="replace") if isinstance(meid, bytes) else meid
        try:
            for r_mtype, r_payload in self.core.handle(mtype, summary[rmr.RMR_MS_PAYLOAD], meid):
                if r_mtype in RTS_TYPES:
                    xapp.rmr_rts(sbuf, new_payload=r_payload, new_mtype=int(r_mtype))
                elif not xapp.rmr_send(r_payload, int(r_mtype)):
                    self.core.counters.count(f"send_failed_{int(r_mtype)}")
        finally:
            xapp.rmr_free(sbuf)

    def _default(self, xapp: Any, summary: dict, sbuf: Any) -> None:
        self.core.counters.count(f"unhandled_mtype_{summary[self.rmr.RMR_MS_MSG_TYPE]}")
        xapp.rmr_free(sbuf)

    def _config(self, xapp: Any, config: dict) -> None:
        """A changed descriptor (ricxappframe's inotify handler, or the ConfigWatcher that
        follows ConfigMap symlink swaps): validated whole as at start, then every setting
        that can change live applies now (``CsiXapp.reconfigure``); one that needs a
        restart is logged. An invalid one is refused and the running one stays."""
        self.apply_config(config.get("controls", config) if isinstance(config, dict) else config)

    def apply_config(self, controls: Any) -> None:
        try:
            settings = Settings.from_controls(controls)
        except SettingsError as exc:
            self.core.counters.count("config_refused")
            log.warning("config refused, keeping the running one: %s", exc)
            return
        applied, restart = self.core.reconfigure(settings)
        if applied:
            log.info("config applied: %s", ", ".join(applied))
        if restart:
            log.warning("config: %s take effect at the next start", ", ".join(restart))

    # -- sending ------------------------------------------------------------------------
    def send(self, mtype: int, payload: bytes, meid: str | None) -> bool:
        if meid is None:
            return bool(self.xapp.rmr_send(payload, int(mtype)))
        rmr = self.rmr
        sbuf = rmr.rmr_alloc_msg(
            self.xapp._mrc,
            len(payload),
            payload=payload,
            mtype=int(mtype),
            meid=meid.encode(),
            gen_transaction_id=True,
        )
        try:
            sbuf = rmr.rmr_send_msg(self.xapp._mrc, sbuf)
            return rmr.message_summary(sbuf)[rmr.RMR_MS_MSG_STATE] == rmr.RMR_OK
        finally:
            rmr.rmr_free_msg(sbuf)

    def _ticker(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:  # the core's tick never raises; a failing send must not end the timer
                for mtype, payload, meid in self.core.tick():
                    if not self.send(mtype, payload, meid):
                        self.core.counters.count("send_failed_subscription")
            except Exception as exc:
                self.core.counters.count("internal_error")
                self.core.counters.log_limited("ticker", "timer step failed: %r", exc)

    # -- probes -------------------------------------------------------------------------
    def readiness(self) -> dict[str, bool]:
        """Ready = the models are loaded and RMR is ready. The model store is not a check:
        an outage of it must not cut the pod's RMR traffic while the loaded models serve
        (a policy that needs the store is answered ERROR meanwhile)."""
        rt = self.core.runtime
        return {
            "models_loaded": rt is not None and bool(rt.lam_sha256),
            "rmr_ready": bool(self.xapp is not None and self.xapp.healthcheck()),
        }


def run(settings: Settings, config_path: str | None = None) -> int:
    """``csi-xapp run``: the xApp in a RIC (RMR, SDL on Redis, telemetry to InfluxDB),
    following ``config_path`` for changes."""
    from xapp.app import build_core, load_controls
    from xapp.config_watch import ConfigWatcher
    from xapp.probes import serve_probes
    from xapp.sdl import RedisSdl

    core = build_core(settings, sdl=RedisSdl.from_env())
    if settings.subscription.mode == "submgr":
        from xapp.submgr import RicxappSubmgrClient

        subs = core.subscriptions
        subs.client = RicxappSubmgrClient(
            settings.subscription.submgr_url,
            settings.subscription.callback_port,
            lambda body: subs.notification(body, time.monotonic()),
        )
    core.telemetry.start()
    shell = RmrShell(core, rmr_port=settings.subscription.rmr_port)
    if config_path is not None:
        ConfigWatcher(config_path, load_controls, shell.apply_config).start()
    serve_probes(shell.readiness, core.counters.snapshot, core.metrics.text)
    shell.start(thread=True)
    wait_for_signal()
    shell.stop()  # deletes the E2 subscriptions
    core.telemetry.stop()  # flushes what it holds
    return 0


def wait_for_signal(
    signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT),
    on_installed: Callable[[], None] | None = None,
) -> int:
    """Block the main thread until one of ``signals`` arrives and return it. Kubernetes stops a
    pod with SIGTERM, which Python (PID 1 in the container) would otherwise ignore, so the xApp
    could not delete its subscriptions before SIGKILL. The previous handlers are put back."""
    got: list[int] = []
    arrived = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        got.append(signum)
        arrived.set()

    old = {s: signal.signal(s, handler) for s in signals}
    try:
        if on_installed is not None:
            on_installed()
        while not arrived.wait(1.0):
            pass
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    log.info("signal %s: stopping", signal.Signals(got[0]).name)
    return got[0]
