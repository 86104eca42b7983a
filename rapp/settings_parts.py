"""The rApp's settings as its parts' own settings: the loop's ``ControllerSettings``, the
drift watch's ``DriftSettings``, the adaptation's ``AdaptationSettings`` (with its
``AdaptConfig``), the telemetry's ``TelemetrySettings``, the A1 client's ``A1Settings`` and
the Jobs' ``JobSettings``.

A part that refuses its settings raises :class:`SettingsError` naming the field. The parts
are imported when converted (torch for the adaptation, river for the drift watch), so that
reading the settings stays light; :func:`check` converts them all, as the rApp does at start.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rapp.settings import Settings, groups
from rapp.settings_fields import SettingsError

if TYPE_CHECKING:
    from rapp.a1_base import A1Settings
    from rapp.adapt_settings import AdaptationSettings
    from rapp.drift import DriftSettings
    from rapp.job_manifest import JobSettings
    from rapp.loop_types import ControllerSettings
    from rapp.telemetry import TelemetrySettings

__all__ = [
    "a1_settings",
    "adaptation_settings",
    "check",
    "controller_settings",
    "drift_settings",
    "job_settings",
    "telemetry_settings",
]

T = TypeVar("T")
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")

_JOB_FIELDS = {  # JobSettings field -> jobs.<field>
    "signing_key_secret": "key_secret",
    "signing_key_secret_key": "key_secret_key",
    "ttl_seconds_after_finished": "ttl_s",
    "active_deadline_seconds": "deadline_s",
    "data_store_uri": "data_uri",
    "model_store_uri": "store_uri",
}


@contextmanager
def _named(group: str, names: dict[str, str] | None = None) -> Iterator[None]:
    """Turn a part's refusal (ValueError, ConfigError) into a SettingsError naming the
    first field of ``group`` its message mentions (``names`` maps the part's field names
    to the group's)."""
    try:
        yield
    except SettingsError:
        raise
    except (TypeError, ValueError) as exc:
        message = str(exc)
        cls = groups()[group]
        candidates = {**{f.name: f.name for f in dataclasses.fields(cls)}, **(names or {})}
        found = [
            (m.start(), theirs)
            for ours, theirs in candidates.items()
            if (m := re.search(rf"\b{re.escape(ours)}\b", message))
        ]
        name = f"{group}.{min(found)[1]}" if found else group
        raise SettingsError(name, message) from None


def _build(group: str, factory: Callable[[], T], names: dict[str, str] | None = None) -> T:
    with _named(group, names):
        return factory()


def controller_settings(s: Settings) -> ControllerSettings:
    """The loop's settings (``rapp.loop_types.ControllerSettings``)."""
    from rapp.loop_types import ControllerSettings

    return _build(
        "loop",
        lambda: ControllerSettings(
            min_fresh_samples=s.loop.min_fresh_samples,
            max_samples=s.loop.max_samples,
            new_environment_samples=s.loop.new_environment_samples,
            pending_timeout_s=s.loop.pending_timeout_s,
            store_uri=s.store.policy_uri,
        ),
    )


def drift_settings(s: Settings) -> DriftSettings:
    """The drift watch's settings (``rapp.drift.DriftSettings``)."""
    from rapp.drift import DriftSettings

    d = s.drift
    return _build(
        "drift",
        lambda: DriftSettings(
            series=d.series,
            lower_is_worse=d.lower_is_worse,
            min_points=d.min_points,
            history_points=d.history_points,
            delta=d.delta,
            threshold=d.threshold,
            alpha=d.alpha,
        ),
    )


def adaptation_settings(s: Settings) -> AdaptationSettings:
    """One adaptation's settings (``rapp.adapt_settings.AdaptationSettings``; ``lr``,
    ``max_epochs``, ``patience`` and ``batch_size`` go to its ``AdaptConfig``)."""
    from lasco.train import AdaptConfig
    from rapp.adapt_settings import AdaptationSettings

    a = s.adaptation
    return _build(
        "adaptation",
        lambda: AdaptationSettings(
            method=a.method,
            min_samples=a.min_samples,
            max_samples=a.max_samples,
            val_fraction=a.val_fraction,
            held_out_fraction=a.held_out_fraction,
            adapt=AdaptConfig(
                lr=a.lr,
                max_epochs=a.max_epochs,
                patience=a.patience,
                batch_size=a.batch_size,
                seed=a.seed,
            ),
            gate_margin_db=a.gate_margin_db,
            seed=a.seed,
            ort_threads=a.ort_threads,
            phase_views=a.phase_views,
        ),
    )


def telemetry_settings(s: Settings) -> TelemetrySettings:
    """Where telemetry is read and events written (``rapp.telemetry.TelemetrySettings``)."""
    from rapp.telemetry import TelemetrySettings

    t = s.telemetry
    return _build(
        "telemetry",
        lambda: TelemetrySettings(
            url=t.url,
            events_url=t.events_url,
            token=t.token,
            bucket=t.bucket,
            timeout_s=t.timeout_s,
            events_interval_s=t.events_interval_s,
            events_buffer=t.events_buffer,
        ),
    )


def a1_settings(s: Settings) -> A1Settings:
    """The A1 client's settings: the URL's kind, address and query, then the fields set."""
    from rapp.a1 import parse_a1_url

    a = s.a1
    overrides: dict[str, Any] = {"attempts": a.attempts, "enforce_timeout_s": a.enforce_timeout_s}
    overrides |= {k: v for k, v in (("ric_id", a.ric_id), ("service_id", a.service_id)) if v}
    return _build(
        "a1", lambda: parse_a1_url(a.url, **overrides), {"A1 URL": "url", "base_url": "url"}
    )


def _hex_keys(keys: tuple[str, ...]) -> tuple[str, ...]:
    """The trusted keys as hex (a Job cannot read the rApp's key files): a key file is
    read here."""
    out = []
    for key in keys:
        text = key.strip()
        if not _HEX_KEY.fullmatch(text):
            try:
                text = Path(text).read_text().strip()
            except OSError as exc:
                raise SettingsError(
                    "store.trusted_keys", f"{key!r} is neither 64 hex digits nor a key file: {exc}"
                ) from None
        if not _HEX_KEY.fullmatch(text):
            raise SettingsError("store.trusted_keys", f"{key} does not hold a key in hex")
        out.append(text)
    return tuple(out)


def job_settings(s: Settings, namespace: str | None = None) -> JobSettings:
    """How the Jobs run (``rapp.job_manifest.JobSettings``); ``namespace`` when
    ``jobs.namespace`` is null (default: ``default``, for a check outside the pod)."""
    from rapp.job_manifest import JobSettings

    j, st = s.jobs, s.store
    keys = _hex_keys(st.trusted_keys)
    return _build(
        "jobs",
        lambda: JobSettings(
            image=j.image or "",
            data_store_uri=j.data_uri or s.data.uri or "",
            model_store_uri=j.store_uri or st.uri or "",
            namespace=j.namespace or namespace or "default",
            service_account=j.service_account,
            run_as_user=j.run_as_user,
            image_pull_policy=j.image_pull_policy,
            cpu_request=j.cpu_request,
            cpu_limit=j.cpu_limit,
            memory_request=j.memory_request,
            memory_limit=j.memory_limit,
            tmp_size_limit=j.tmp_size_limit,
            gpus=j.gpus,
            gpu_node_selector=j.gpu_node_selector,
            gpu_tolerations=j.gpu_tolerations,
            labels=j.labels,
            trusted_keys=keys,
            signing_key_secret=j.key_secret,
            signing_key_secret_key=j.key_secret_key,
            ttl_seconds_after_finished=j.ttl_s,
            backoff_limit=j.backoff_limit,
            active_deadline_seconds=j.deadline_s,
            env=j.env,
            env_from_secrets=j.env_from_secrets,
        ),
        _JOB_FIELDS,
    )


def check(s: Settings) -> None:
    """Build every part's settings (the Jobs' only when enabled); SettingsError naming
    the first field a part refuses. The data store is required."""
    if not s.data.uri:
        raise SettingsError(
            "data.uri", "required: the rApp adapts on the samples the xApp writes there"
        )
    controller_settings(s)
    drift_settings(s)
    adaptation_settings(s)
    telemetry_settings(s)
    a1_settings(s)
    if s.jobs.enabled:
        job_settings(s)
