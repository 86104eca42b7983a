"""The rApp's settings groups of its loop: ``loop``, ``telemetry``, ``drift``,
``adaptation`` and ``api`` (each default written once, here, with its unit and why)."""

from __future__ import annotations

from dataclasses import dataclass

from rapp.settings_fields import setting

__all__ = [
    "AdaptationGroup",
    "ApiGroup",
    "DriftGroup",
    "LoopGroup",
    "TelemetryGroup",
]


@dataclass(frozen=True)
class LoopGroup:
    """The loop: how often it ticks and when a triggered adaptation runs."""

    poll_s: float = setting(
        30.0,
        "seconds between two ticks (read telemetry, watch drift, adapt what is due)",
        unit="s",
        why="the xApp writes one telemetry point per cell a second, so a tick reads about "
        "30 points a cell, and the drift detector needs tens of points anyway",
        exclusiveMinimum=0,
    )
    min_fresh_samples: int = setting(
        256,
        "labelled samples a triggered adaptation waits for before it runs",
        unit="samples",
        why="the adaptation's min_samples: running on fewer is a certain decline",
        minimum=1,
    )
    max_samples: int = setting(
        20000,
        "the newest labelled samples an adaptation is given at most",
        unit="samples",
        why="what the adaptation uses at most (adaptation.max_samples), 160 MiB of labels",
        minimum=1,
    )
    new_environment_samples: int | None = setting(
        None,
        "a cell no policy maps becomes an environment of its own once it has this many "
        "labelled samples",
        unit="samples",
        why="off (null): an unmapped cell stays with the LAM alone until its NMSE drifts "
        "or the operator maps it",
        minimum=1,
    )
    pending_timeout_s: float = setting(
        1800.0,
        "a trigger whose samples do not arrive in this long is dropped",
        unit="s",
        why="three times the xApp's partial-shard flush (600 s), so a quiet cell's samples "
        "reach the data store before the trigger gives up",
        exclusiveMinimum=0,
    )


@dataclass(frozen=True)
class TelemetryGroup:
    """Where the xApp's per-cell telemetry is read and the rApp's events are written."""

    url: str | None = setting(
        None,
        "InfluxDB (http(s)://host:8086) or the xApp's line-protocol file (a path or file://)",
        why="none: no drift is watched; adaptations come from the operator and new cells",
        minLength=1,
    )
    events_url: str | None = setting(
        None,
        "where the rApp's events go, in the same forms",
        why="none: to url (only to the log when url is unset too)",
        minLength=1,
    )
    bucket: str = setting(
        "lasco/autogen",
        "InfluxDB database/retention-policy",
        why="the bucket the xApp writes its telemetry to",
        minLength=1,
    )
    token: str = setting(
        "",
        "InfluxDB token (user:password on 1.8); set it from a secret through the environment",
        why="empty: an InfluxDB without authentication",
        secret=True,
    )
    timeout_s: float = setting(
        2.0,
        "limit on each InfluxDB request",
        unit="s",
        why="a local InfluxDB answers in milliseconds; a tick must not hang on one that is down",
        exclusiveMinimum=0,
    )
    events_interval_s: float = setting(
        5.0,
        "seconds between retries of events the sink did not take",
        unit="s",
        why="new events go at once; a retry every 5 s rides out a restart without load",
        exclusiveMinimum=0,
    )
    events_buffer: int = setting(
        1000,
        "events kept while the sink fails; beyond it the oldest are dropped and counted",
        unit="events",
        why="hours of events at the loop's pace, a few hundred kB",
        minimum=1,
    )


@dataclass(frozen=True)
class DriftGroup:
    """Drift detection per cell: two-sided Page-Hinkley on the watched telemetry series."""

    series: tuple[str, ...] = setting(
        ("nmse_db", "beam_db"),
        "telemetry fields watched per cell",
        why="the NMSE of labelled reports is what an adaptation improves; the strongest beam's "
        "share of the channel energy (dB) changes with the environment even without labels",
        minItems=1,
        uniqueItems=True,
        items={"minLength": 1},
    )
    lower_is_worse: tuple[str, ...] = setting(
        (),
        "watched series for which a fall is the worse direction (a throughput)",
        why="for NMSE, latency and drops a rise is worse",
        uniqueItems=True,
        items={"minLength": 1},
    )
    min_points: int = setting(
        30,
        "warm-up: a change with fewer points before it is not reported",
        unit="points",
        why="half a minute of 1 s points: enough for a baseline mean",
        minimum=1,
    )
    history_points: int = setting(
        3600,
        "points kept per cell and series to locate a change",
        unit="points",
        why="an hour of 1 s points, about 100 kB a series",
        minimum=2,
    )
    delta: float = setting(
        0.5,
        "Page-Hinkley tolerance per point, in the series' units (dB for nmse_db)",
        why="shifts below half a dB are within a cell's normal variation",
        minimum=0,
    )
    threshold: float = setting(
        25.0,
        "Page-Hinkley detection threshold (lambda), series units times points",
        why="a 1.5 dB step is detected after about 25 points; noise alone rarely gets there",
        exclusiveMinimum=0,
    )
    alpha: float = setting(
        1.0,
        "Page-Hinkley forgetting factor per point",
        why="1: no forgetting; below 1 noise alone trips the test eventually",
        exclusiveMinimum=0,
        maximum=1,
    )


@dataclass(frozen=True)
class AdaptationGroup:
    """One environment's adaptation: method, samples, training and the gate."""

    method: str = setting(
        "side",
        "the adaptation method",
        why="the side network (a plug-in on the LAM's hidden states, which the LAM's graph "
        "outputs) beat E-LASCO, the paper's best, in 10 of 10 regions of our study: 66 % "
        "of LAM fine-tuning's gain against 26 %; choose e-lasco for a LAM without taps",
        enum=["e-lasco", "lasco", "sam-finetune", "side"],
    )
    min_samples: int = setting(
        256,
        "fewer usable samples decline the adaptation (too-few-samples)",
        unit="samples",
        why="a few hundred samples are the paper's smallest target sets; fewer overfit",
        minimum=3,
    )
    max_samples: int | None = setting(
        20000,
        "only the newest this many samples are used (null: all)",
        unit="samples",
        why="bounds one adaptation's time and memory; the newest describe the cell now",
        minimum=3,
    )
    val_fraction: float = setting(
        0.1,
        "share of the samples (just older than the held-out ones) for early stopping",
        why="enough to stop on without starving training",
        exclusiveMinimum=0,
        exclusiveMaximum=1,
    )
    held_out_fraction: float = setting(
        0.2,
        "share of the samples (the newest) held out for the gate",
        why="about 50 samples at the minimum, enough to tell 0.1 dB apart",
        exclusiveMinimum=0,
        exclusiveMaximum=1,
    )
    gate_margin_db: float = setting(
        0.1,
        "the candidate must beat the LAM alone and the running proxy by this much",
        unit="dB",
        why="more than the run-to-run noise of an NMSE over a few hundred samples",
        minimum=0,
    )
    phase_views: int = setting(
        16,
        "common-phase rotations each training sample is also trained on (1: none); "
        "fewer when they would not fit the adaptation's memory",
        why="a common phase is no property of an environment: each rotation is a valid "
        "sample of it, at no extra optimiser steps; 16 views doubled the side network's "
        "share of fine-tuning's gain in our study",
        minimum=1,
        maximum=64,
    )
    lr: float = setting(
        1e-3,
        "learning rate of the proxy's training",
        why="the paper's",
        exclusiveMinimum=0,
    )
    max_epochs: int = setting(
        100, "epochs trained at most", unit="epochs", why="the paper's", minimum=1
    )
    patience: int = setting(
        20,
        "epochs without a better validation NMSE before training stops",
        unit="epochs",
        why="the paper's",
        minimum=1,
    )
    batch_size: int = setting(
        64, "training batch size", unit="samples", why="the paper's", minimum=1
    )
    seed: int = setting(
        0,
        "seeds the proxy's initialisation and the training order",
        why="reproducible adaptations",
        minimum=0,
    )
    ort_threads: int | None = setting(
        None,
        "ONNX Runtime threads for the LAM and SAMs during an adaptation",
        unit="threads",
        why="null: every core the process may use",
        minimum=1,
    )


@dataclass(frozen=True)
class ApiGroup:
    """The operator HTTP API (FastAPI on uvicorn)."""

    host: str = setting(
        "127.0.0.1",
        "address the API listens on",
        why="the API has no authentication: only the pod itself (kubectl exec or "
        "port-forward) reaches it; set 0.0.0.0 behind a cluster-internal Service",
        minLength=1,
    )
    port: int = setting(
        8090,
        "port the API listens on (0: any free port, logged at start)",
        why="clear of the RIC's usual ports (RMR 4560/4561, A1 10000, InfluxDB 8086)",
        minimum=0,
        maximum=65535,
    )
