"""The Kubernetes Job that adapts one environment: its settings and its manifest, built in code.

The Job runs ``python -m rapp.job_entry`` (see :mod:`rapp.job_entry`) in the rApp's image. It
reads the environment's labelled samples from the data store, adapts the proxy SAM, publishes
an accepted one to the model store (signed with the key mounted from a Secret), and writes the
outcome as JSON to the ConfigMap ``<job>-outcome`` (key ``outcome.json``) for the rApp to read.

The pod runs hardened: non-root, read-only root file system (``/tmp`` is an emptyDir),
every capability dropped, no privilege escalation, the runtime's default seccomp profile.
The signing key is a read-only file, never an environment variable or an argument, so it
shows neither in ``kubectl describe`` nor in the process list. Other credentials (an object
store's) come from Secrets named in :attr:`JobSettings.env_from_secrets`, as the container's
``envFrom``: the manifest names the Secrets, never their contents.

This module builds plain dicts (what ``kubectl apply`` would read); it needs no Kubernetes
client, so the rApp can render and test manifests without a cluster. What Kubernetes accepts in
them (names, labels, quantities, node selectors, tolerations) is checked by :mod:`rapp.job_checks`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lasco.errors import ConfigError
from rapp.job_checks import (
    DNS_LABEL,
    DNS_SUBDOMAIN,
    LABEL_VALUE,
    QUANTITY,
    check_env,
    check_labels,
    check_node_selector,
    check_secret_names,
    check_tolerations,
)

__all__ = [
    "APP_LABEL",
    "ENV_ANNOTATION",
    "KEY_DIR",
    "KEY_FILE",
    "OUTCOME_KEY",
    "OWN_LABELS",
    "PULL_POLICIES",
    "RUN_ANNOTATION",
    "JobSettings",
    "build_job",
    "job_labels",
    "job_name",
    "label_value",
    "outcome_configmap_name",
]

APP_LABEL = "csi-rapp"
"""The ``app`` label of every Job (and outcome ConfigMap) the rApp makes."""
ENV_ANNOTATION = "csi-rapp/environment"
"""Annotation holding the environment id as given (its label value may be sanitised)."""
RUN_ANNOTATION = "csi-rapp/run-id"
"""Annotation holding the run id as given."""
OWN_LABELS = ("app", "environment", "run-id")
"""The labels the rApp gives each Job itself (it finds its Jobs by them); extra labels
(:attr:`JobSettings.labels`) may not set them."""
KEY_DIR = "/var/run/secrets/lasco"
"""Where the signing key's Secret is mounted (read-only)."""
KEY_FILE = f"{KEY_DIR}/signing.key"
"""The signing key's file in the pod."""
OUTCOME_KEY = "outcome.json"
"""The key of the outcome ConfigMap holding the outcome's JSON."""

PULL_POLICIES = ("Always", "IfNotPresent", "Never")
"""The container image pull policies Kubernetes knows."""


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:8]


def job_name(environment: str, run_id: str) -> str:
    """The Job's name: ``adapt-<environment>-<run id>`` as a DNS-1123 label (at most 63
    characters of ``[a-z0-9-]``). When the ids have to be changed (case, other characters,
    length), 8 hex digits of their sha256 keep two runs that read alike apart."""
    raw = f"adapt-{environment}-{run_id}"
    if DNS_LABEL.match(raw):
        return raw
    clean = re.sub(r"[^a-z0-9]+", "-", raw.lower()).strip("-")
    return f"{clean[:54].rstrip('-')}-{_digest(environment, run_id)}"


def outcome_configmap_name(job: str) -> str:
    """The ConfigMap a Job writes its outcome to."""
    return f"{job}-outcome"


def label_value(text: str) -> str:
    """``text`` as a label value (at most 63 of ``[A-Za-z0-9_.-]``, alphanumeric at both
    ends); changed values end in 8 hex digits of the original's sha256."""
    if LABEL_VALUE.match(text):
        return text
    clean = re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:54].strip("-_.")
    return f"{clean}-{_digest(text)}" if clean else _digest(text)


def job_labels(
    environment: str, run_id: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The labels of a Job, its pods and its outcome ConfigMap: ``extra``, then
    :data:`OWN_LABELS` (which ``extra`` cannot override)."""
    return {
        **dict(extra or {}),
        "app": APP_LABEL,
        "environment": label_value(environment),
        "run-id": label_value(run_id),
    }


@dataclass(frozen=True)
class JobSettings:
    """How the rApp runs an adaptation as a Kubernetes Job. Frozen; checked on construction
    (ConfigError). Quantities are Kubernetes quantity strings (``"500m"`` CPU, ``"4Gi"``).

    Attributes:
        image: the rApp's image (it holds ``rapp.job_entry``, torch and the training code).
        data_store_uri: the data store's fsspec URI, as the pod sees it.
        model_store_uri: the model store's URI or path, as the pod sees it.
        namespace: where the Jobs run; the rApp's own namespace usually. Default ``default``.
        service_account: the Jobs' service account; it needs ``create`` and ``patch`` on
            ConfigMaps in :attr:`namespace` (to write the outcome), nothing else.
        image_pull_policy: ``Always``, ``IfNotPresent`` or ``Never``. Default
            ``IfNotPresent``: a tagged image is pulled once per node.
        cpu_request: Default ``"2"``: training the proxy uses a few torch threads; two cores
            schedule on any worker node.
        cpu_limit: Default ``"4"``: bounds the Job's share of a shared node; None: no limit.
        memory_request: Default ``"4Gi"``: torch, the LAM's ONNX session and up to 20 000
            samples (160 MiB of CSI labels) with the training's copies.
        memory_limit: Default ``"8Gi"``: an adaptation that outgrows it is OOM-killed (the
            Job fails, the running SAM stays) rather than pressing the node.
        gpus: GPUs to request as :attr:`gpu_resource` limits. Default 0: the proxy is small
            and trains in minutes on CPU.
        gpu_resource: the extended resource name of a GPU. Default ``nvidia.com/gpu``.
        gpu_node_selector: node labels a GPU Job must match (only when :attr:`gpus` > 0).
        gpu_tolerations: Kubernetes tolerations (``key``, ``operator``, ``value``,
            ``effect``, ``tolerationSeconds``) a GPU Job carries (only when :attr:`gpus` > 0).
            Default: tolerates the ``nvidia.com/gpu`` NoSchedule taint GPU node pools
            usually carry.
        trusted_keys: public keys (64 hex digits) the model store's artifacts are verified
            with. Empty: the shipped release keys. The signing key's own public key is
            always trusted as well.
        signing_key_secret: the Secret holding the Ed25519 private key (PKCS#8 PEM) the
            Job signs published artifacts with.
        signing_key_secret_key: the key within that Secret. Default ``signing.key``.
        ttl_seconds_after_finished: seconds a finished Job (and its pod's logs) is kept
            before Kubernetes deletes it. Default 3600: an hour to inspect a failure.
        backoff_limit: pod retries before the Job fails. Default 0: a failed adaptation is
            not retried blindly; the rApp decides whether to try again.
        active_deadline_seconds: the Job's wall-clock budget, after which Kubernetes kills
            it (``DeadlineExceeded``). Default 7200: 100 epochs on 20 000 samples on CPU
            take well under an hour; twice that leaves room on a busy node.
        run_as_user: the pod's non-root user id. Default 10001.
        fs_group: the group that owns the mounted Secret's file (mode 0440), so the
            non-root user can read it. Default 10001.
        tmp_size_limit: the size limit of the ``/tmp`` emptyDir (exports, caches).
            Default ``"4Gi"``.
        env: extra environment variables (never secrets; e.g. ``OMP_NUM_THREADS``); they
            win over the Job's own (``HOME``, ``TMPDIR``, ``PYTHONUNBUFFERED``).
        env_from_secrets: Secrets (in :attr:`namespace`) whose keys become environment
            variables of the container (``envFrom``), e.g. an object store's credentials.
            The variables the Job sets itself (``HOME``, ``TMPDIR``, ``PYTHONUNBUFFERED``,
            :attr:`env`) win over theirs. Default none.
        labels: extra labels for the Job and its pods; not :data:`OWN_LABELS`.
    """

    image: str
    data_store_uri: str
    model_store_uri: str
    namespace: str = "default"
    service_account: str = "csi-rapp-adaptation"
    image_pull_policy: str = "IfNotPresent"
    cpu_request: str = "2"
    cpu_limit: str | None = "4"
    memory_request: str = "4Gi"
    memory_limit: str = "8Gi"
    gpus: int = 0
    gpu_resource: str = "nvidia.com/gpu"
    gpu_node_selector: Mapping[str, str] = field(default_factory=dict)
    gpu_tolerations: tuple[Mapping[str, Any], ...] = (
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    )
    trusted_keys: tuple[str, ...] = ()
    signing_key_secret: str = "csi-rapp-signing-key"
    signing_key_secret_key: str = "signing.key"
    ttl_seconds_after_finished: int = 3600
    backoff_limit: int = 0
    active_deadline_seconds: int = 7200
    run_as_user: int = 10001
    fs_group: int = 10001
    tmp_size_limit: str = "4Gi"
    env: Mapping[str, str] = field(default_factory=dict)
    env_from_secrets: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("image", "data_store_uri", "model_store_uri", "signing_key_secret"):
            if not getattr(self, name):
                raise ConfigError(f"{name} must not be empty")
        if not DNS_LABEL.match(self.namespace):
            raise ConfigError(f"namespace {self.namespace!r} is not a DNS-1123 label")
        for name in ("service_account", "signing_key_secret"):
            if not DNS_SUBDOMAIN.match(getattr(self, name)):
                raise ConfigError(f"{name} {getattr(self, name)!r} is not a DNS-1123 name")
        quantities = ("cpu_request", "cpu_limit", "memory_request", "memory_limit")
        for name in (*quantities, "tmp_size_limit"):
            value = getattr(self, name)
            if value is not None and not QUANTITY.match(value):
                raise ConfigError(f"{name} {value!r} is not a Kubernetes quantity")
        for name in ("gpus", "ttl_seconds_after_finished", "backoff_limit", "run_as_user"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.run_as_user == 0:
            raise ConfigError("run_as_user must not be 0: the Job runs as non-root")
        if self.active_deadline_seconds < 1:
            raise ConfigError("active_deadline_seconds must be at least 1")
        check_labels("labels", self.labels, reserved=OWN_LABELS)
        check_env("env", self.env)
        for key in self.trusted_keys:
            if not re.fullmatch(r"[0-9a-fA-F]{64}", key):
                raise ConfigError(f"trusted key {key!r} is not 64 hex digits")
        if self.image_pull_policy not in PULL_POLICIES:
            raise ConfigError(
                f"image_pull_policy {self.image_pull_policy!r} is not one of "
                f"{', '.join(PULL_POLICIES)}"
            )
        check_node_selector("gpu_node_selector", self.gpu_node_selector)
        check_tolerations("gpu_tolerations", self.gpu_tolerations)
        check_secret_names("env_from_secrets", self.env_from_secrets)


def _as_dict(value: Any) -> dict[str, Any]:
    """A dataclass (``AdaptationSettings``, ``RunningProxy``) or a mapping as a JSON dict."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    return json.loads(json.dumps(dict(value), default=str))


def _args(
    environment: str,
    run_id: str,
    job: str,
    settings: JobSettings,
    running: Any | None,
    adaptation: Any | None,
) -> list[str]:
    args = [
        "--environment", environment,
        "--run-id", run_id,
        "--data-uri", settings.data_store_uri,
        "--store-uri", settings.model_store_uri,
        "--key-file", KEY_FILE,
        "--outcome-configmap", outcome_configmap_name(job),
        "--namespace", settings.namespace,
    ]  # fmt: skip
    for key in settings.trusted_keys:
        args += ["--trusted-key", key]
    if running is not None:
        args += ["--running-proxy", json.dumps(_as_dict(running), sort_keys=True)]
    if adaptation is not None:
        args += ["--settings", json.dumps(_as_dict(adaptation), sort_keys=True)]
    return args


def _resources(settings: JobSettings) -> dict[str, dict[str, str]]:
    limits = {"memory": settings.memory_limit}
    if settings.cpu_limit is not None:
        limits["cpu"] = settings.cpu_limit
    if settings.gpus > 0:
        limits[settings.gpu_resource] = str(settings.gpus)
    requests = {"cpu": settings.cpu_request, "memory": settings.memory_request}
    return {"requests": requests, "limits": limits}


def _env_from(settings: JobSettings) -> dict[str, Any]:
    """The container's ``envFrom``: one ``secretRef`` per Secret (none: no key at all)."""
    if not settings.env_from_secrets:
        return {}
    return {"envFrom": [{"secretRef": {"name": name}} for name in settings.env_from_secrets]}


def build_job(
    environment: str,
    run_id: str,
    settings: JobSettings,
    *,
    running: Any | None = None,
    adaptation: Any | None = None,
) -> dict[str, Any]:
    """The ``batch/v1`` Job manifest that adapts ``environment`` in run ``run_id``.

    Args:
        environment: the environment id.
        run_id: names this run (the Job's name derives from both; see :func:`job_name`).
        settings: how the Job runs.
        running: the environment's running proxy (``rapp.adapt_settings.RunningProxy`` or
            a mapping with its fields), passed to the Job as JSON; None: none runs.
        adaptation: the adaptation's settings (``rapp.adapt_settings.AdaptationSettings``
            or a mapping of its fields), passed as JSON; None: the Job's defaults.
    """
    name = job_name(environment, run_id)
    labels = job_labels(environment, run_id, settings.labels)
    annotations = {ENV_ANNOTATION: environment, RUN_ANNOTATION: run_id}
    env = {"HOME": "/tmp", "TMPDIR": "/tmp", "PYTHONUNBUFFERED": "1", **settings.env}
    container = {
        "name": "adapt",
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["python", "-m", "rapp.job_entry"],
        "args": _args(environment, run_id, name, settings, running, adaptation),
        "env": [{"name": k, "value": v} for k, v in env.items()],
        **_env_from(settings),
        "resources": _resources(settings),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "signing-key", "mountPath": KEY_DIR, "readOnly": True},
        ],
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": settings.service_account,
        "automountServiceAccountToken": True,  # the entry writes the outcome ConfigMap
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": settings.run_as_user,
            "runAsGroup": settings.fs_group,
            "fsGroup": settings.fs_group,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {"name": "tmp", "emptyDir": {"sizeLimit": settings.tmp_size_limit}},
            {
                "name": "signing-key",
                "secret": {
                    "secretName": settings.signing_key_secret,
                    "items": [{"key": settings.signing_key_secret_key, "path": "signing.key"}],
                    "defaultMode": 0o440,
                },
            },
        ],
    }
    if settings.gpus > 0:
        if settings.gpu_node_selector:
            pod_spec["nodeSelector"] = dict(settings.gpu_node_selector)
        if settings.gpu_tolerations:
            pod_spec["tolerations"] = [dict(t) for t in settings.gpu_tolerations]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": settings.namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": {
            "backoffLimit": settings.backoff_limit,
            "activeDeadlineSeconds": settings.active_deadline_seconds,
            "ttlSecondsAfterFinished": settings.ttl_seconds_after_finished,
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": pod_spec,
            },
        },
    }
