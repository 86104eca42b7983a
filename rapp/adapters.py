"""The two ways the rApp's loop adapts an environment (``rapp.loop_types.Adapter``):

:class:`InProcessAdapter`
    runs ``rapp.adaptation.adapt_environment`` in the rApp's own process, on the samples the
    loop gives it, and returns ``outcome.to_dict()``.
:class:`JobAdapter`
    hands the adaptation to a Kubernetes Job (``rapp.jobs.JobRunner``). The Job reads the
    environment's samples from the data store, while the loop's samples were picked by cell
    and time (possibly from another environment's key, or a cell's own ``cell:<id>``), so
    they are first written to the data store under the environment id (a ``DataWriter``,
    flushed at once). Samples the store already holds there (the same cell and time) are not
    written twice. The Job's outcome is returned; a Job that failed, timed out or was
    deleted returns ``{"accepted": False, "reason": "job-<state>", "detail": ...}``.

Either way the running SAM stays unless an outcome says a new proxy was accepted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from datastore import LabelledSamples

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from model_store import ModelStore
    from rapp.adapt_settings import AdaptationSettings, RunningProxy
    from rapp.jobs import JobResult

__all__ = ["InProcessAdapter", "JobAdapter", "JobLauncher", "SampleWriter", "StoredSamples"]

log = logging.getLogger(__name__)


class InProcessAdapter:
    """Adapts in this process (``rapp.adaptation.adapt_environment``).

    Args:
        store: the model store holding the LAM and reference SAM, and where the proxy is
            published.
        key: the Ed25519 private key the proxy is signed with.
        settings: the adaptation's settings (None: their defaults).
        adapt: the adaptation function (None: ``rapp.adaptation.adapt_environment``,
            imported when first used).
    """

    def __init__(
        self,
        store: ModelStore,
        key: Ed25519PrivateKey,
        settings: AdaptationSettings | None = None,
        *,
        adapt: Callable[..., Any] | None = None,
    ) -> None:
        self.store, self.key, self.settings, self._adapt = store, key, settings, adapt

    def __call__(
        self, environment: str, samples: LabelledSamples, running: RunningProxy | None
    ) -> dict[str, Any]:
        adapt = self._adapt
        if adapt is None:
            from rapp.adaptation import adapt_environment as adapt
        outcome = adapt(
            environment, samples, self.store, self.key, settings=self.settings, running=running
        )
        return outcome.to_dict() if hasattr(outcome, "to_dict") else dict(outcome)


class SampleWriter(Protocol):
    """What :class:`JobAdapter` needs of a ``datastore.DataWriter``."""

    def add(self, samples: LabelledSamples) -> None: ...

    def flush(self, force: bool = False) -> int: ...

    @property
    def buffered_samples(self) -> int: ...


class JobLauncher(Protocol):
    """What :class:`JobAdapter` needs of a ``rapp.jobs.JobRunner``."""

    def run(
        self,
        environment: str,
        run_id: str | None = None,
        timeout_s: float | None = None,
        *,
        running: Any | None = None,
        adaptation: Any | None = None,
    ) -> JobResult: ...


class StoredSamples(Protocol):
    """What :class:`JobAdapter` needs of a ``datastore.DataReader`` (optional)."""

    def read(
        self, environment: str, max_samples: int | None = None, since_ns: int | None = None
    ) -> LabelledSamples: ...


class JobAdapter:
    """Adapts in a Kubernetes Job (see the module docstring).

    Args:
        runner: creates the Job and follows it (``rapp.jobs.JobRunner``).
        data_writer_factory: a fresh ``datastore.DataWriter`` on the data store the Jobs
            read (one per adaptation; its buffer is written and dropped).
        adaptation_settings: passed to the Job (None: the Job's defaults).
        reader: the data store's reader; when given, samples the store already holds under
            the environment (same cell and time) are not written again.
    """

    def __init__(
        self,
        runner: JobLauncher,
        data_writer_factory: Callable[[], SampleWriter],
        adaptation_settings: AdaptationSettings | None = None,
        *,
        reader: StoredSamples | None = None,
    ) -> None:
        self.runner, self.writer_factory = runner, data_writer_factory
        self.settings, self.reader = adaptation_settings, reader

    def _unstored(self, environment: str, samples: LabelledSamples) -> LabelledSamples:
        """The samples the store does not hold under ``environment`` yet."""
        if self.reader is None or not len(samples):
            return samples
        try:
            stored = self.reader.read(environment, since_ns=int(samples.t_ns.min()))
        except Exception as exc:  # a read that fails only costs a duplicate write
            log.warning("data store: reading %s to skip stored samples: %s", environment, exc)
            return samples
        if not len(stored) or stored.projection_id != samples.projection_id:
            return samples
        have = set(zip(stored.cells.tolist(), stored.t_ns.tolist(), strict=True))
        new = [
            (c, t) not in have
            for c, t in zip(samples.cells.tolist(), samples.t_ns.tolist(), strict=True)
        ]
        return samples.take(np.asarray(new, dtype=bool))

    def _write(self, environment: str, samples: LabelledSamples) -> str | None:
        """Write the samples under ``environment``; why not, when they were not written."""
        if samples.environment != environment:
            samples = LabelledSamples(
                environment,
                samples.projection_id,
                samples.labels,
                samples.codewords,
                samples.cells,
                samples.t_ns,
            )
        fresh = self._unstored(environment, samples)
        if not len(fresh):
            return None
        writer = self.writer_factory()
        writer.add(fresh)
        writer.flush(force=True)
        left = writer.buffered_samples
        if left:
            return f"{left} of {len(fresh)} samples could not be written to the data store"
        log.info("%s: %d samples written for its Job", environment, len(fresh))
        return None

    def __call__(
        self, environment: str, samples: LabelledSamples, running: RunningProxy | None
    ) -> dict[str, Any]:
        unwritten = self._write(environment, samples)
        if unwritten is not None:
            return {"accepted": False, "reason": "data-store-unavailable", "detail": unwritten}
        result = self.runner.run(environment, running=running, adaptation=self.settings)
        state = result.state.value
        if state == "succeeded" and result.outcome is not None:
            return dict(result.outcome)
        return {
            "accepted": False,
            "reason": f"job-{state}" if state != "succeeded" else "job-no-outcome",
            "detail": result.reason,
            "job": result.job_name,
            "outcome": result.outcome,
        }
