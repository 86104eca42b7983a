"""Building the rApp from its settings, and the process that runs it.

:func:`build_controller` opens the parts the settings name: the telemetry source and the
event log, the data store's reader, the model store (and the LAM's sha256 policies name),
the signing key, the A1 client, and the adapter: in-process, or Kubernetes Jobs when
``jobs.enabled``. :func:`run` is the process: it starts the event log and the operator API
(uvicorn in a thread), then ticks the loop every ``loop.poll_s`` until SIGTERM or SIGINT.
A tick that raises is logged and counted (``tick_failures``); the loop goes on.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import FastAPI

from datastore import DataReader, DataWriter
from model_store import (
    DEFAULT_STORE,
    DEFAULT_TRUSTED_KEYS,
    ModelStore,
    StoreError,
    TrustedKeys,
    load_private_key,
)
from model_store.signing import public_hex
from rapp.a1 import a1_client
from rapp.adapters import InProcessAdapter, JobAdapter
from rapp.api import LoopState, create_app
from rapp.controller import RappController
from rapp.drift import DriftWatch
from rapp.settings import Settings
from rapp.settings_fields import SettingsError
from rapp.settings_parts import (
    a1_settings,
    adaptation_settings,
    check,
    controller_settings,
    drift_settings,
    job_settings,
    telemetry_settings,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from rapp.loop_types import Adapter

__all__ = ["ApiServer", "build_controller", "open_store", "run", "tick_once"]

log = logging.getLogger(__name__)

LAM = "lam"
"""The LAM's name in the store (the xApp's and the adaptation's default)."""


def _signing_key(s: Settings) -> Ed25519PrivateKey | None:
    path = s.store.signing_key_file
    if path is None:
        if not s.jobs.enabled:
            raise SettingsError(
                "store.signing_key_file",
                "required to adapt in-process (jobs.enabled is false): proxies are signed",
            )
        return None
    try:
        return load_private_key(path)
    except (OSError, ValueError, TypeError) as exc:
        raise SettingsError("store.signing_key_file", f"{path}: {exc}") from None


def open_store(s: Settings, key: Ed25519PrivateKey | None = None) -> ModelStore:
    """The model store (default: the shipped one), trusting ``store.trusted_keys`` (none:
    the shipped release keys) and the signing key's own public key."""
    try:
        trusted = (
            TrustedKeys(s.store.trusted_keys)
            if s.store.trusted_keys
            else TrustedKeys.from_folder(DEFAULT_TRUSTED_KEYS)
        )
    except StoreError as exc:
        raise SettingsError("store.trusted_keys", str(exc)) from None
    if key is not None:
        trusted.add(public_hex(key))
    return ModelStore(s.store.uri or DEFAULT_STORE, trusted)


def _adapter(
    s: Settings,
    store: ModelStore,
    key: Ed25519PrivateKey | None,
    data: DataReader,
    kube: tuple[Any, Any] | None,
) -> Adapter:
    adaptation = adaptation_settings(s)
    if not s.jobs.enabled:
        assert key is not None  # _signing_key requires it without Jobs
        return InProcessAdapter(store, key, adaptation)
    from rapp.jobs import JobRunner, current_namespace, kube_clients

    if kube is None:
        config = s.jobs.kubeconfig
        kube = kube_clients(in_cluster=False if config else None, config_file=config)
    batch, core = kube
    runner = JobRunner(batch, core, job_settings(s, current_namespace()), poll_s=s.jobs.poll_s)
    uri, room = s.data.uri, s.loop.max_samples

    def writer() -> DataWriter:
        # Retention is the xApp's: this writer deletes no shard.
        return DataWriter(uri, max_buffer_samples=room, max_age_s=None, max_shards_per_env=None)

    return JobAdapter(runner, writer, adaptation, reader=data)


def build_controller(s: Settings, *, kube: tuple[Any, Any] | None = None) -> RappController:
    """The loop with the parts ``s`` names (``kube``: Kubernetes batch and core clients in
    place of :func:`rapp.jobs.kube_clients`'). SettingsError names a setting a part
    refuses; a store without a verifiable LAM raises the store's error."""
    check(s)
    assert s.data.uri is not None  # check() requires it
    key = _signing_key(s)
    store = open_store(s, key)
    lam_sha256 = store.fetch(LAM).manifest.onnx_sha256
    data = DataReader(s.data.uri)
    telemetry = telemetry_settings(s)
    return RappController(
        controller_settings(s),
        telemetry=telemetry.open_source(),
        events=telemetry.open_event_log(),
        data=data,
        adapter=_adapter(s, store, key, data, kube),
        a1=a1_client(a1_settings(s)),
        lam_sha256=lam_sha256,
        drift=DriftWatch(drift_settings(s)),
        mark_bad=store.mark_bad,
    )


class ApiServer:
    """The operator API served by uvicorn in a thread, on a socket bound at once (port 0:
    any free port; :attr:`port` says which)."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
        except OSError:
            self._sock.close()
            raise
        self.host, self.port = host, self._sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, wait_s: float = 30.0) -> None:
        """Serve from a thread; returns once the server accepts connections."""
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._sock]}, name="rapp-api", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + wait_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the operator API did not start on {self.url}")
            time.sleep(0.01)
        log.info("operator API on %s", self.url)

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sock.close()


def tick_once(ctl: Any, state: LoopState) -> bool:
    """One tick; a tick that raises is logged and counted, never raised. True when it
    completed."""
    try:
        ctl.tick()
    except Exception as exc:  # one failing tick never ends the rApp
        log.exception("tick failed")
        ctl.counters["tick_failures"] += 1
        state.tick_failed(exc)
        return False
    state.tick_done()
    return True


def _on_signals(stop: threading.Event) -> Callable[[], None]:
    """Set ``stop`` on SIGTERM and SIGINT (main thread only); returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    signals = (signal.SIGTERM, signal.SIGINT)

    def handler(signum: int, frame: object) -> None:
        log.info("signal %s: stopping after this tick", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in signals}

    def undo() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return undo


def run(
    s: Settings,
    *,
    controller: Any | None = None,
    stop: threading.Event | None = None,
    on_start: Callable[[ApiServer], None] | None = None,
) -> int:
    """Run the rApp until SIGTERM/SIGINT (or ``stop`` is set); returns the exit status.

    Args:
        s: the settings.
        controller: the loop (None: :func:`build_controller`).
        stop: ends the loop when set (the signals set it too).
        on_start: told of the API server once it serves (tests learn its port).
    """
    ctl = controller if controller is not None else build_controller(s)
    stop = stop if stop is not None else threading.Event()
    state = LoopState()
    server = ApiServer(create_app(ctl, state), s.api.host, s.api.port)
    undo = _on_signals(stop)
    ctl.events.start()
    try:
        server.start()
        if on_start is not None:
            on_start(server)
        while not stop.is_set():
            tick_once(ctl, state)
            stop.wait(s.loop.poll_s)
    finally:
        undo()
        server.stop()
        ctl.events.stop()
        for part in (getattr(ctl, "telemetry", None), getattr(ctl, "a1", None)):
            close = getattr(part, "close", None)
            if callable(close):
                close()
    log.info("stopped after %d ticks", state.ticks)
    return 0
