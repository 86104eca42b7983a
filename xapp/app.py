"""Building the xApp from its settings: store, runtime, outputs. Used by the RMR shell,
``csi-xapp replay`` and the in-process transport."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lasco.runtime import LascoRuntime
from model_store import DEFAULT_STORE, DEFAULT_TRUSTED_KEYS, ModelStore, TrustedKeys
from xapp.core import CsiXapp
from xapp.outputs import Sdl
from xapp.settings import Settings
from xapp.telemetry import InfluxSink, LineProtocolFile, Telemetry

__all__ = ["build_core", "load_controls"]


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
) -> CsiXapp:
    """A core on the configured store (default: the shipped one) and its LAM/reference."""
    if settings.trusted_keys:
        trusted = TrustedKeys(settings.trusted_keys)
    else:
        trusted = TrustedKeys.from_folder(DEFAULT_TRUSTED_KEYS)
    store = ModelStore(settings.store_uri or DEFAULT_STORE, trusted)
    runtime = LascoRuntime.from_store(
        store,
        lam=settings.lam_name,
        sam_ref=settings.sam_ref_name,
        threads=threads or settings.runtime_workers,
    )
    if telemetry is None:
        if settings.influx_url:
            sink = InfluxSink(
                settings.influx_url,
                settings.influx_token,
                settings.influx_org,
                settings.influx_bucket,
            )
        elif settings.telemetry_file:
            sink = LineProtocolFile(settings.telemetry_file)
        else:
            sink = None
        telemetry = Telemetry(sink, settings.telemetry_interval_s, settings.telemetry_buffer_points)
    return CsiXapp(settings, runtime, store, sdl=sdl, telemetry=telemetry)
