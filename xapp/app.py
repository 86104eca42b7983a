"""Building the xApp from its settings: store, runtime, outputs. Used by the RMR shell,
``csi-xapp replay`` and the in-process transport."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from model_store import DEFAULT_STORE, DEFAULT_TRUSTED_KEYS, ModelStore, TrustedKeys
from serving import LascoRuntime
from xapp.core import CsiXapp
from xapp.outputs import Sdl
from xapp.settings import Settings
from xapp.settings_stores import TelemetrySettings
from xapp.telemetry import InfluxSink, LineProtocolFile, Telemetry

__all__ = ["build_core", "build_telemetry", "load_controls"]


def load_controls(path: str | Path | None) -> dict[str, Any]:
    """The ``controls`` of a descriptor (config-file.json) or a bare controls JSON file;
    ``{}`` (the embedded defaults) when ``path`` is None."""
    if path is None:
        return {}
    obj = json.loads(Path(path).read_text())
    return obj.get("controls", obj) if isinstance(obj, dict) else obj


def build_core(
    settings: Settings,
    *,
    sdl: Sdl | None = None,
    telemetry: Telemetry | None = None,
    threads: int | None = None,
    require_subscription: bool = True,
) -> CsiXapp:
    """A core on the configured store (default: the shipped one) and its LAM/reference."""
    st = settings.store
    trusted = (
        TrustedKeys(st.trusted_keys)
        if st.trusted_keys
        else TrustedKeys.from_folder(DEFAULT_TRUSTED_KEYS)
    )
    store = ModelStore(st.uri or DEFAULT_STORE, trusted)
    runtime = LascoRuntime.from_store(
        store, lam=st.lam, sam_ref=st.sam_ref, threads=threads or settings.runtime.workers
    )
    if telemetry is None:
        telemetry = build_telemetry(settings.telemetry)
    return CsiXapp(
        settings,
        runtime,
        store,
        sdl=sdl,
        telemetry=telemetry,
        require_subscription=require_subscription,
    )


def build_telemetry(t: TelemetrySettings) -> Telemetry:
    """Telemetry to InfluxDB (``influx_url``), else to a line-protocol ``file``, else
    aggregated but written nowhere."""
    sink: InfluxSink | LineProtocolFile | None = None
    if t.influx_url:
        sink = InfluxSink(t.influx_url, t.token, t.org, t.bucket)
    elif t.file:
        sink = LineProtocolFile(t.file)
    return Telemetry(sink, t.interval_s, t.buffer_points)
