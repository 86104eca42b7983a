"""Run an environment's adaptation as a Kubernetes Job and read back its outcome.

:class:`JobRunner` creates the Job (:func:`rapp.job_manifest.build_job`), follows it until it
ends, and reads the outcome the Job wrote to the ConfigMap ``<job>-outcome`` (key
``outcome.json``). Everything a cluster does (a failed pod, a Job deleted under it, a Job
that outlives its timeout, an API error) ends as a :class:`JobResult`, never an exception:
the caller keeps the running SAM unless an outcome says a new one was accepted.

The outcome ConfigMap is made a dependent of its Job (an owner reference, as soon as the
Job's uid is known), so Kubernetes deletes it with the Job (``ttlSecondsAfterFinished``).

RBAC the rApp's service account needs in the Jobs' namespace: ``create``, ``get``,
``delete`` on ``batch/jobs``; ``create``, ``get``, ``patch``, ``delete`` on ``configmaps``
(``list_jobs``, an operator's listing, also needs ``list`` on ``batch/jobs``; the rApp never
calls it). The Jobs' own service account needs ``create`` and ``patch`` on ``configmaps``.
The chart's Roles (``helm/csi-rapp``) grant exactly these, checked against the calls.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from rapp.job_manifest import (
    APP_LABEL,
    ENV_ANNOTATION,
    OUTCOME_KEY,
    RUN_ANNOTATION,
    JobSettings,
    build_job,
    label_value,
    outcome_configmap_name,
)

__all__ = [
    "NAMESPACE_FILE",
    "JobResult",
    "JobRunner",
    "JobState",
    "JobSummary",
    "current_namespace",
    "job_state",
    "kube_clients",
    "new_run_id",
    "read_outcome",
    "write_outcome",
]

log = logging.getLogger(__name__)

NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
"""The pod's namespace, as its service account mount says."""

API_ERRORS = (ApiException, urllib3.exceptions.HTTPError)
"""What a call to the API server may raise: a refusal, or no answer at all."""


class JobState(str, enum.Enum):
    """Where a Job stands. :meth:`JobRunner.run` ends in one of the last four."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed-out"
    DELETED = "deleted"


@dataclass(frozen=True)
class JobResult:
    """How a Job ended.

    Attributes:
        environment: the environment adapted.
        job_name: the Job's name.
        state: succeeded, failed, timed-out or deleted.
        outcome: the outcome the Job wrote (``AdaptationOutcome.to_dict()``, or an error
            document with ``error``), None when it wrote none.
        reason: why, in words: the outcome's reason, the Job's failure, or what happened.
        seconds: from the call to its end.
    """

    environment: str
    job_name: str
    state: JobState
    outcome: dict[str, Any] | None
    reason: str
    seconds: float

    @property
    def accepted(self) -> bool:
        """True when the Job succeeded and its outcome says the candidate was accepted."""
        outcome = self.outcome or {}
        return self.state is JobState.SUCCEEDED and outcome.get("accepted") is True

    def to_dict(self) -> dict[str, Any]:
        """As JSON (``state`` as its string)."""
        return {**asdict(self), "state": self.state.value}


@dataclass(frozen=True)
class JobSummary:
    """One adaptation Job as :meth:`JobRunner.list_jobs` sees it."""

    name: str
    environment: str
    run_id: str
    state: JobState
    created: datetime | None


def new_run_id() -> str:
    """A fresh run id: UTC time to the second and 4 random hex digits."""
    return f"{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"


def current_namespace(default: str = "default") -> str:
    """The namespace this pod runs in (its service account's namespace file), else
    ``default``."""
    try:
        return NAMESPACE_FILE.read_text().strip() or default
    except OSError:
        return default


def kube_clients(
    in_cluster: bool | None = None, config_file: str | None = None
) -> tuple[client.BatchV1Api, client.CoreV1Api]:
    """Batch and core API clients sharing one connection pool (the process-wide default
    configuration is left alone).

    Args:
        in_cluster: True: the pod's service account (``load_incluster_config``); False: a
            kube config (``load_kube_config``); None: in-cluster when
            ``KUBERNETES_SERVICE_HOST`` is set.
        config_file: the kube config outside a cluster (None: ``$KUBECONFIG`` as it is
            now, else ``~/.kube/config``).
    """
    if in_cluster is None:
        in_cluster = "KUBERNETES_SERVICE_HOST" in os.environ
    configuration = client.Configuration()
    if in_cluster:
        config.load_incluster_config(client_configuration=configuration)
    else:
        config_file = config_file or os.environ.get("KUBECONFIG") or "~/.kube/config"
        config.load_kube_config(config_file, client_configuration=configuration)
    api = client.ApiClient(configuration)
    return client.BatchV1Api(api), client.CoreV1Api(api)


def job_state(job: client.V1Job) -> tuple[JobState, str]:
    """The state of ``job`` and why: its Complete/Failed condition, else its pod counts
    (succeeded pods reaching ``completions``, failed pods beyond ``backoffLimit``)."""
    status = job.status or client.V1JobStatus()
    spec = job.spec
    for cond in status.conditions or ():
        if cond.status == "True" and cond.type in ("Complete", "Failed"):
            state = JobState.SUCCEEDED if cond.type == "Complete" else JobState.FAILED
            words = ": ".join(w for w in (cond.reason, cond.message) if w)
            return state, words or cond.type
    completions = (spec.completions if spec else None) or 1
    backoff = spec.backoff_limit if spec is not None and spec.backoff_limit is not None else 6
    if (status.succeeded or 0) >= completions:
        return JobState.SUCCEEDED, f"{status.succeeded} pod(s) succeeded"
    if (status.failed or 0) > backoff:
        return JobState.FAILED, f"{status.failed} pod(s) failed (backoff limit {backoff})"
    return JobState.RUNNING, "running"


def write_outcome(
    core_v1: client.CoreV1Api,
    namespace: str,
    name: str,
    outcome: Mapping[str, Any],
    labels: Mapping[str, str] | None = None,
) -> None:
    """Write ``outcome`` as JSON to the ConfigMap ``name`` (key ``outcome.json``): create
    it, or patch its data when it exists (keeping its owner reference). Raises the
    client's errors."""
    data = {OUTCOME_KEY: json.dumps(dict(outcome), sort_keys=True, default=str)}
    body = {"metadata": {"name": name, "labels": dict(labels or {})}, "data": data}
    try:
        core_v1.create_namespaced_config_map(namespace, body)
    except ApiException as exc:
        if exc.status != 409:
            raise
        core_v1.patch_namespaced_config_map(name, namespace, {"data": data})


def read_outcome(
    core_v1: client.CoreV1Api, namespace: str, name: str
) -> tuple[dict[str, Any] | None, str]:
    """The outcome in the ConfigMap ``name`` and, when there is none, why."""
    try:
        cm = core_v1.read_namespaced_config_map(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None, f"no ConfigMap {name}"
        return None, f"reading ConfigMap {name}: {exc.status} {exc.reason}"
    except urllib3.exceptions.HTTPError as exc:
        return None, f"reading ConfigMap {name}: {exc}"
    text = (cm.data or {}).get(OUTCOME_KEY)
    if text is None:
        return None, f"ConfigMap {name} has no {OUTCOME_KEY}"
    try:
        outcome = json.loads(text)
    except ValueError as exc:
        return None, f"{OUTCOME_KEY} in ConfigMap {name} is not JSON: {exc}"
    if not isinstance(outcome, dict):
        return None, f"{OUTCOME_KEY} in ConfigMap {name} is not a JSON object"
    return outcome, ""


class JobRunner:
    """Create adaptation Jobs, follow them to their end and read their outcomes.

    Args:
        batch_v1: a ``kubernetes.client.BatchV1Api`` (see :func:`kube_clients`).
        core_v1: a ``kubernetes.client.CoreV1Api`` on the same cluster.
        settings: how the Jobs run (namespace, image, resources, ...).
        poll_s: seconds between two reads of a followed Job. Default 5: a Job runs for
            minutes; a read every few seconds is nothing to the API server.
    """

    def __init__(
        self,
        batch_v1: client.BatchV1Api,
        core_v1: client.CoreV1Api,
        settings: JobSettings,
        poll_s: float = 5.0,
    ) -> None:
        if poll_s <= 0:
            raise ValueError(f"poll_s must be > 0, got {poll_s}")
        self.batch = batch_v1
        self.core = core_v1
        self.settings = settings
        self.poll_s = poll_s

    @property
    def namespace(self) -> str:
        return self.settings.namespace

    def run(
        self,
        environment: str,
        run_id: str | None = None,
        timeout_s: float | None = None,
        *,
        running: Any | None = None,
        adaptation: Any | None = None,
    ) -> JobResult:
        """Adapt ``environment`` in a Job and wait for its end.

        Args:
            environment: the environment id.
            run_id: names the run; the same id follows the same Job (an existing Job is
                followed, not created again). None: :func:`new_run_id`.
            timeout_s: how long to follow; then the Job is deleted (``timed-out``). None:
                the Job's ``active_deadline_seconds`` and a minute, so that Kubernetes
                ends it first.
            running: the running proxy, passed to the Job (see ``build_job``).
            adaptation: the adaptation settings, passed to the Job (see ``build_job``).
        """
        t0 = time.monotonic()
        run_id = run_id or new_run_id()
        timeout = self.settings.active_deadline_seconds + 60 if timeout_s is None else timeout_s
        manifest = build_job(
            environment, run_id, self.settings, running=running, adaptation=adaptation
        )
        name = manifest["metadata"]["name"]

        def result(
            state: JobState, reason: str, outcome: dict[str, Any] | None = None
        ) -> JobResult:
            res = JobResult(environment, name, state, outcome, reason, time.monotonic() - t0)
            log.info("job %s (%s): %s, %s", name, environment, state.value, reason)
            return res

        try:
            self.batch.create_namespaced_job(self.namespace, manifest)
            log.info("created job %s for %s", name, environment)
        except ApiException as exc:
            if exc.status != 409:
                return result(JobState.FAILED, f"creating the Job: {exc.status} {exc.reason}")
            log.info("job %s exists; following it", name)
        except urllib3.exceptions.HTTPError as exc:
            return result(JobState.FAILED, f"creating the Job: {exc}")

        deadline = t0 + timeout
        owned = False
        while True:
            try:
                job = self.batch.read_namespaced_job(name, self.namespace)
            except ApiException as exc:
                if exc.status == 404:
                    return result(JobState.DELETED, "the Job was deleted while followed")
                log.warning("reading job %s: %s %s", name, exc.status, exc.reason)
            except urllib3.exceptions.HTTPError as exc:
                log.warning("reading job %s: %s", name, exc)
            else:
                theirs = (job.metadata.annotations or {}).get(ENV_ANNOTATION, environment)
                if theirs != environment:
                    return result(JobState.FAILED, f"Job {name} adapts {theirs!r}")
                owned = owned or self._own_outcome(job)
                state, why = job_state(job)
                if state is not JobState.RUNNING:
                    break
            left = deadline - time.monotonic()
            if left <= 0:
                try:
                    gone = "deleted" if self.delete(name) else "already gone"
                except API_ERRORS as exc:
                    gone = f"not deleted ({exc})"
                return result(JobState.TIMED_OUT, f"no end within {timeout:g} s; Job {gone}")
            time.sleep(min(self.poll_s, left))

        outcome, missing = read_outcome(self.core, self.namespace, outcome_configmap_name(name))
        if outcome is None:
            return result(state, f"{why}; the Job wrote no outcome ({missing})")
        reason = outcome.get("error") or outcome.get("reason") or why
        return result(state, str(reason), outcome)

    def _own_outcome(self, job: client.V1Job) -> bool:
        """Make the outcome ConfigMap a dependent of ``job`` (create it empty, or add the
        owner reference when the Job wrote it first). False when the uid is unknown yet or
        the API refused (tried again on the next read)."""
        meta = job.metadata
        if meta is None or not meta.uid:
            return False
        owner = {"apiVersion": "batch/v1", "kind": "Job", "name": meta.name, "uid": meta.uid}
        cm = outcome_configmap_name(meta.name)
        body = {"metadata": {"name": cm, "labels": meta.labels or {}, "ownerReferences": [owner]}}
        try:
            try:
                self.core.create_namespaced_config_map(self.namespace, body)
            except ApiException as exc:
                if exc.status != 409:
                    raise
                patch = {"metadata": {"ownerReferences": [owner]}}
                self.core.patch_namespaced_config_map(cm, self.namespace, patch)
        except API_ERRORS as exc:
            log.warning("owning ConfigMap %s by job %s: %s", cm, meta.name, exc)
            return False
        return True

    def delete(self, job_name: str) -> bool:
        """Delete the Job (propagation Background: its pods go too) and its outcome
        ConfigMap. False when the Job was not there; raises other API errors."""
        options = client.V1DeleteOptions(propagation_policy="Background")
        try:
            self.batch.delete_namespaced_job(job_name, self.namespace, body=options)
        except ApiException as exc:
            if exc.status != 404:
                raise
            return False
        finally:
            try:
                self.core.delete_namespaced_config_map(
                    outcome_configmap_name(job_name), self.namespace
                )
            except API_ERRORS as exc:
                log.debug("outcome of %s not deleted: %s", job_name, exc)
        log.info("deleted job %s", job_name)
        return True

    def list_jobs(self, environment: str | None = None) -> list[JobSummary]:
        """The rApp's adaptation Jobs in the namespace (of ``environment`` only, unless
        None), oldest first."""
        selector = f"app={APP_LABEL}"
        if environment is not None:
            selector += f",environment={label_value(environment)}"
        jobs = self.batch.list_namespaced_job(self.namespace, label_selector=selector).items
        out = []
        for job in jobs:  # the selector narrows; the annotation holds the id as given
            meta = job.metadata
            labels, notes = meta.labels or {}, meta.annotations or {}
            env = notes.get(ENV_ANNOTATION, labels.get("environment", ""))
            if labels.get("app") != APP_LABEL or environment not in (None, env):
                continue
            run_id = notes.get(RUN_ANNOTATION, labels.get("run-id", ""))
            state, _ = job_state(job)
            out.append(JobSummary(meta.name, env, run_id, state, meta.creation_timestamp))
        out.sort(key=lambda s: (s.created is None, s.created or datetime.min, s.name))
        return out
