"""Typed settings of the xApp: the descriptor's ``controls`` (schemas/xapp-controls.json)
with defaults, and environment variables that override them in a cluster."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from schemas import validate

__all__ = ["Settings"]

A1_POLICY_TYPE_ID = 30001


@dataclass(frozen=True)
class Settings:
    """Attributes (units in the names):

    xapp_name: handler id in A1 responses and the SDL namespace prefix.
    e2_nodes: E2 node ids to subscribe to.
    report_period_ms: the CSI report period asked of E2 nodes.
    resubscribe_backoff_s: waits between subscription retries (the last repeats).
    max_batch, max_wait_ms: micro-batching; a batch is flushed when it holds max_batch
        rows or its oldest row waited max_wait_ms (2 ms: well under a 10 ms report period).
    store_uri, trusted_keys, lam_name, sam_ref_name: the model store and what to load.
    influx_url (None: line protocol to telemetry_file), influx_bucket, influx_org,
    influx_token, telemetry_interval_s, telemetry_buffer_points.
    sdl_namespace: where reconstructed CSI goes.
    max_payload_bytes, max_ues_per_report: limits on one indication.
    ran_function_id: the RAN function id of E2SM-CSI on the E2 nodes.
    runtime_workers: threads LascoRuntime spreads a batch's model runs over (None: the
        cores the process may use; in a pod, set the CPU limit, which affinity does not show).
    """

    xapp_name: str = "csi-xapp"
    e2_nodes: tuple[str, ...] = ()
    report_period_ms: int = 10
    resubscribe_backoff_s: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 30.0)
    max_batch: int = 256
    max_wait_ms: float = 2.0
    store_uri: str | None = None
    trusted_keys: tuple[str, ...] = ()
    lam_name: str = "lam"
    sam_ref_name: str = "sam_ref"
    influx_url: str | None = None
    influx_bucket: str = "lasco/autogen"
    influx_org: str = "lasco"
    influx_token: str = ""
    telemetry_interval_s: float = 1.0
    telemetry_buffer_points: int = 10000
    telemetry_file: str | None = None
    sdl_namespace: str = "lasco-csi"
    max_payload_bytes: int = 4 * 1024 * 1024
    max_ues_per_report: int = 1024
    ran_function_id: int = 7
    runtime_workers: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_controls(cls, controls: dict[str, Any], env: dict[str, str] | None = None) -> Settings:
        """Validate ``controls`` against schemas/xapp-controls.json, then apply env overrides:
        ``LASCO_STORE_URI``, ``LASCO_TRUSTED_KEYS`` (comma-separated), ``INFLUX_URL``,
        ``INFLUX_TOKEN``, ``XAPP_NAME``, ``LASCO_RUNTIME_WORKERS``."""
        validate("xapp-controls", controls)
        env = dict(os.environ if env is None else env)
        mb, store, tel = (controls.get(k, {}) for k in ("micro_batch", "store", "telemetry"))
        keys = tuple(store.get("trusted_keys", ()))
        if env.get("LASCO_TRUSTED_KEYS"):
            keys = tuple(k for k in env["LASCO_TRUSTED_KEYS"].split(",") if k)
        return cls(
            xapp_name=env.get("XAPP_NAME", "csi-xapp"),
            e2_nodes=tuple(controls.get("e2_nodes", ())),
            report_period_ms=controls.get("report_period_ms", 10),
            resubscribe_backoff_s=tuple(
                controls.get("resubscribe_backoff_s", (1.0, 2.0, 5.0, 10.0, 30.0))
            ),
            max_batch=mb.get("max_batch", 256),
            max_wait_ms=mb.get("max_wait_ms", 2.0),
            store_uri=env.get("LASCO_STORE_URI", store.get("uri")),
            trusted_keys=keys,
            lam_name=store.get("lam", "lam"),
            sam_ref_name=store.get("sam_ref", "sam_ref"),
            influx_url=env.get("INFLUX_URL", tel.get("influx_url")),
            influx_bucket=tel.get("bucket", "lasco/autogen"),
            influx_org=tel.get("org", "lasco"),
            influx_token=env.get("INFLUX_TOKEN", ""),
            telemetry_interval_s=tel.get("interval_s", 1.0),
            telemetry_buffer_points=tel.get("buffer_points", 10000),
            sdl_namespace=controls.get("sdl_namespace", "lasco-csi"),
            max_payload_bytes=controls.get("max_payload_bytes", 4 * 1024 * 1024),
            max_ues_per_report=controls.get("max_ues_per_report", 1024),
            runtime_workers=_workers(env.get("LASCO_RUNTIME_WORKERS"))
            or controls.get("runtime_workers"),
        )


def _workers(value: str | None) -> int | None:
    """``LASCO_RUNTIME_WORKERS``: a positive integer, or unset/empty."""
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"LASCO_RUNTIME_WORKERS={value!r} is not a positive integer")
    return int(value)
