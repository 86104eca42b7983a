"""The xApp's settings groups of the stores it reads and writes: ``store`` (the models),
``telemetry`` (InfluxDB), ``sdl`` (the Shared Data Layer) and ``data`` (the labelled samples),
each default written once, here, with its unit and why. :class:`xapp.settings.Settings`
gathers them with the groups of the A1 and E2 paths."""

from __future__ import annotations

from dataclasses import dataclass

from xapp.settings_fields import setting

__all__ = ["DataSettings", "SdlSettings", "StoreSettings", "TelemetrySettings"]


@dataclass(frozen=True)
class StoreSettings:
    """The model store: where the LAM, the reference SAM and proxy SAMs come from."""

    uri: str | None = setting(
        None,
        "model store: a folder, file://, s3:// or http(s)://",
        why="the store shipped in the package (model_store/default)",
        minLength=1,
    )
    trusted_keys: tuple[str, ...] = setting(
        (),
        "Ed25519 public keys (hex) or files holding them; artifacts must be signed by one",
        why="the keys shipped with the default store",
        items={"minLength": 1},
    )
    allowed_uris: tuple[str, ...] = setting(
        (),
        "other model stores an A1 policy's proxy may come from (verified with the same "
        "trusted keys); a policy naming any other store is refused (store-not-allowed)",
        why="empty: proxies come from this store only",
        uniqueItems=True,
        items={"minLength": 1},
    )
    fetch_timeout_s: float = setting(
        30.0,
        "an A1 policy whose proxy the store has not delivered within this time is refused "
        "(store-timeout); the fetch never holds the E2 path",
        unit="s",
        why="a proxy SAM is under a megabyte: seconds over any working link; 30 s tolerates a "
        "slow object store without leaving A1 waiting long",
        exclusiveMinimum=0,
    )
    lam: str = setting(
        "lam", "name of the LAM in the store", why="the name the export uses", minLength=1
    )
    sam_ref: str = setting(
        "sam_ref",
        "name of the reference SAM in the store",
        why="the name the export uses",
        minLength=1,
    )


@dataclass(frozen=True)
class TelemetrySettings:
    """Per-cell telemetry, aggregated per interval and written off the hot path."""

    influx_url: str | None = setting(
        None,
        "InfluxDB URL (2.x, or 1.8+ through /api/v2/write)",
        why="no InfluxDB: points go to `file` when it is set, else nowhere",
        env_alias="INFLUX_URL",
        minLength=1,
    )
    token: str = setting(
        "",
        "InfluxDB token (user:password on 1.8); set it from a secret through the environment",
        why="empty: an InfluxDB without authentication",
        env_alias="INFLUX_TOKEN",
        secret=True,
    )
    org: str = setting("lasco", "InfluxDB organisation", why="the project's name", minLength=1)
    bucket: str = setting(
        "lasco/autogen",
        "InfluxDB bucket",
        why="database/retention-policy form, which InfluxDB 1.8+ maps to its database lasco",
        minLength=1,
    )
    interval_s: float = setting(
        1.0,
        "one point per cell is written per interval",
        unit="s",
        why="fine enough for dashboards and alerts, 86,400 points per cell a day",
        exclusiveMinimum=0,
    )
    buffer_points: int = setting(
        10000,
        "points kept while InfluxDB is unreachable; beyond it the oldest are dropped and counted",
        unit="points",
        why="about 17 minutes of 10 cells at 1 s intervals, a few MB of memory",
        minimum=1,
    )
    file: str | None = setting(
        None,
        "file to append line protocol to when influx_url is not set",
        why="a pod's disk is not where telemetry belongs; set it for local runs",
        minLength=1,
    )


@dataclass(frozen=True)
class SdlSettings:
    """Shared Data Layer: reconstructed CSI and the active policies."""

    namespace: str = setting(
        "lasco-csi",
        "SDL namespace of csi/<cell>/<ue> and policy/<instance>",
        why="the namespace the rApp and the dashboards read",
        minLength=1,
    )
    csi_ttl_s: float = setting(
        10.0,
        "a reconstructed CSI entry expires this long after it was written",
        unit="s",
        why="CSI ages within tens of milliseconds; entries of UEs no longer reported should "
        "not linger, and 10 s outlives any report period",
        exclusiveMinimum=0,
    )
    restore_retry_s: float = setting(
        5.0,
        "when SDL cannot be read at start, restoring the saved policies is retried this often",
        unit="s",
        why="Redis restarting beside the xApp is back within seconds; A1's re-sent CREATEs "
        "take precedence meanwhile",
        minimum=0.1,
    )


@dataclass(frozen=True)
class DataSettings:
    """The data store: labelled samples written as shards for the rApp to adapt on."""

    uri: str | None = setting(
        None,
        "data store for labelled samples: a folder, file://, s3:// or any fsspec URL",
        why="no store: labelled samples are kept in memory only, within max_buffer_samples, "
        "and written nowhere",
        minLength=1,
    )
    shard_samples: int = setting(
        1024,
        "labelled samples per shard; a full shard is written at once",
        unit="samples",
        why="about 10 MiB a shard: few enough files that listing stays cheap, small enough "
        "that one write takes well under a second",
        minimum=1,
        maximum=65536,
    )
    max_buffer_samples: int = setting(
        16384,
        "samples held in memory over all environments while unwritten; beyond it the "
        "oldest are dropped and counted",
        unit="samples",
        why="16 default shards, about 160 MiB (8 KiB of labels and up to 2 KiB of codewords "
        "a sample): rides out a store outage without risking the pod's memory",
        minimum=1,
    )
    max_age_s: float = setting(
        604800.0,
        "shards older than this are deleted",
        unit="s",
        why="a week: the rApp adapts on recent data, and a week spans the daily and weekly "
        "patterns of a cell's traffic",
        exclusiveMinimum=0,
    )
    max_shards_per_env: int = setting(
        100,
        "an environment keeps at most this many shards, the newest",
        unit="shards",
        why="about 100,000 samples (1 GiB) an environment, twenty times the 5,000 a "
        "region is adapted on in the study",
        minimum=1,
    )
    flush_partial_after_s: float = setting(
        600.0,
        "a partial shard is written once its oldest sample waited this long",
        unit="s",
        why="a quiet environment's samples reach the rApp within 10 minutes, and 100 "
        "partial shards still span 16 hours",
        exclusiveMinimum=0,
    )
