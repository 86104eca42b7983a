"""The rApp's settings groups of what it talks to: ``store``, ``data``, ``a1`` and ``jobs``
(each default written once, here, with its unit and why)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rapp.settings_fields import FrozenMap, setting

__all__ = ["A1Group", "DataGroup", "JobsGroup", "StoreGroup"]

_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
_DNS_NAME = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
_LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_KEY = rf"^([a-z0-9]([-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_LABEL_NAME}$"
_LABEL_VALUE = rf"^({_LABEL_NAME})?$"
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_TOLERATION = {  # a Kubernetes toleration (core/v1 Toleration)
    "additionalProperties": False,
    "properties": {
        "key": {"type": "string", "pattern": rf"^$|{_LABEL_KEY}"},
        "operator": {"type": "string", "enum": ["Exists", "Equal"]},
        "value": {"type": "string", "pattern": _LABEL_VALUE},
        "effect": {"type": "string", "enum": ["", "NoSchedule", "PreferNoSchedule", "NoExecute"]},
        "tolerationSeconds": {"type": "integer"},
    },
}
GPU_TOLERATION = FrozenMap({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"})
"""The toleration a GPU Job carries by default: of the taint GPU node pools usually carry."""


@dataclass(frozen=True)
class StoreGroup:
    """The model store: the LAM, the reference SAM, and where proxies are published."""

    uri: str | None = setting(
        None,
        "model store: a folder, file://, s3:// or http(s)://",
        why="the store shipped in the package (read-only in an image: set it to publish)",
        minLength=1,
    )
    trusted_keys: tuple[str, ...] = setting(
        (),
        "Ed25519 public keys (hex) or files holding them; artifacts must be signed by one",
        why="the keys shipped with the default store (the signing key's own is always added)",
        items={"minLength": 1},
    )
    signing_key_file: str | None = setting(
        None,
        "file of the Ed25519 private key (PKCS#8 PEM) proxies are signed with",
        why="needed only to adapt in-process; a Job reads its key from jobs.key_secret",
        minLength=1,
    )
    policy_uri: str = setting(
        "default",
        "the model store as the xApp reaches it, written into every A1 policy",
        why="'default' is the xApp's own store: the usual deployment shares one store",
        minLength=1,
    )


@dataclass(frozen=True)
class DataGroup:
    """The data store: the labelled samples the xApp collects per environment."""

    uri: str | None = setting(
        None,
        "data store: a folder, file:// or any fsspec URL, as the xApp's data.uri",
        why="the deployment's choice; the rApp does not start without it",
        minLength=1,
    )


@dataclass(frozen=True)
class A1Group:
    """A1: where the rApp deploys its policies (the A1 mediator, or the non-RT RIC's PMS)."""

    url: str = setting(
        "a1p+http://service-ricplt-a1mediator-http.ricplt:10000",
        "a1p+http(s)://host:port (A1 mediator) or pms+http(s)://host:port (PMS); a query "
        "may set ric_id and service_id",
        why="the A1 mediator's Service in an O-RAN SC near-RT RIC (namespace ricplt)",
        pattern=r"^((a1p|pms)\+)?https?://",
    )
    ric_id: str | None = setting(
        None,
        "PMS only: the near-RT RIC the policies go to",
        why="null: the URL's ric_id, else 'ric'",
        minLength=1,
    )
    service_id: str | None = setting(
        None,
        "PMS only: the service the rApp registers and owns its policies by",
        why="null: the URL's service_id, else 'lasco-rapp'",
        minLength=1,
    )
    attempts: int = setting(
        4,
        "tries of each A1 request, the first included (connection errors, 5xx, 423, 429)",
        why="with backoff from 0.25 s that rides out a few seconds of RIC restart",
        minimum=1,
    )
    enforce_timeout_s: float = setting(
        30.0,
        "how long a deployment waits for the xApp to enforce a policy",
        unit="s",
        why="the xApp loads a proxy in seconds; a policy not enforced by then is reported",
        exclusiveMinimum=0,
    )


@dataclass(frozen=True)
class JobsGroup:
    """Adaptation as Kubernetes Jobs (off: the rApp adapts in its own process)."""

    enabled: bool = setting(
        False,
        "adapt each environment in a Kubernetes Job",
        why="off: one process, no cluster rights needed; turn it on to keep training off "
        "the rApp's pod (or to train on a GPU node)",
    )
    image: str | None = setting(
        None,
        "the image the Jobs run (it holds rapp.job_entry, torch and the training code)",
        why="the deployment's choice; required when enabled",
        minLength=1,
    )
    image_pull_policy: str = setting(
        "IfNotPresent",
        "when a node pulls the Jobs' image (the container's imagePullPolicy)",
        why="a tagged image is pulled once per node; Always for a tag that is moved",
        enum=["Always", "IfNotPresent", "Never"],
    )
    namespace: str | None = setting(
        None,
        "namespace the Jobs run in",
        why="null: the rApp pod's own namespace",
        pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
    )
    service_account: str = setting(
        "csi-rapp-adaptation",
        "the Jobs' service account (needs create and patch on ConfigMaps, nothing else)",
        why="a dedicated account with only the rights a Job needs",
        pattern=_DNS_NAME,
    )
    run_as_user: int = setting(
        10001,
        "the user id a Job's pod runs as (non-root; its group and fsGroup stay 10001)",
        why="the image's own user",
        minimum=1,
    )
    cpu_request: str = setting(
        "2",
        "CPU a Job requests (Kubernetes quantity)",
        why="training the proxy uses a few threads; two cores schedule on any node",
        pattern=_QUANTITY,
    )
    cpu_limit: str | None = setting(
        "4",
        "CPU a Job may use at most (null: no limit)",
        why="bounds the Job's share of a shared node",
        pattern=_QUANTITY,
    )
    memory_request: str = setting(
        "4Gi",
        "memory a Job requests (Kubernetes quantity)",
        why="torch, the LAM's ONNX session and 20 000 samples with the training's copies",
        pattern=_QUANTITY,
    )
    memory_limit: str = setting(
        "8Gi",
        "memory a Job may use; beyond it the Job is OOM-killed and the running SAM stays",
        why="twice the request: room for peaks without pressing the node",
        pattern=_QUANTITY,
    )
    tmp_size_limit: str = setting(
        "4Gi",
        "size limit of a Job's /tmp, an emptyDir (Kubernetes quantity; the root file system "
        "is read-only)",
        why="room for the exported model and caches",
        pattern=_QUANTITY,
    )
    gpus: int = setting(
        0,
        "GPUs a Job requests (nvidia.com/gpu)",
        unit="GPUs",
        why="the proxy is small and trains in minutes on CPU",
        minimum=0,
    )
    gpu_node_selector: Mapping[str, str] = setting(
        FrozenMap(),
        "node labels a GPU Job (gpus > 0) must match, e.g. a GPU node pool's or a GPU model's "
        "label; the variable takes key=value,key=value or a JSON object",
        why="any node with the GPUs requested",
        patternProperties={_LABEL_KEY: {"type": "string", "pattern": _LABEL_VALUE}},
        additionalProperties=False,
    )
    gpu_tolerations: tuple[Mapping[str, Any], ...] = setting(
        (GPU_TOLERATION,),
        "Kubernetes tolerations (key, operator, value, effect, tolerationSeconds) a GPU Job "
        "(gpus > 0) carries, so that it schedules on tainted GPU nodes; the variable takes a "
        "JSON list",
        why="tolerates the nvidia.com/gpu NoSchedule taint GPU node pools usually carry",
        items=_TOLERATION,
    )
    labels: Mapping[str, str] = setting(
        FrozenMap(),
        "extra labels of each Job and its pod (not app, environment or run-id, which the rApp "
        "sets); the variable takes key=value,key=value or a JSON object",
        why="none: the rApp's own labels only",
        patternProperties={_LABEL_KEY: {"type": "string", "pattern": _LABEL_VALUE}},
        additionalProperties=False,
    )
    key_secret: str = setting(
        "csi-rapp-signing-key",
        "the Secret holding the signing key the Jobs sign proxies with",
        why="mounted read-only in the Job: never an argument or environment variable",
        pattern=_DNS_NAME,
    )
    key_secret_key: str = setting(
        "signing.key",
        "the key within that Secret",
        why="the file name the rApp's chart writes",
        minLength=1,
    )
    env: Mapping[str, str] = setting(
        FrozenMap(),
        "extra environment variables of each Job (never secrets: those come from "
        "env_from_secrets), e.g. OMP_NUM_THREADS; they win over HOME, TMPDIR and "
        "PYTHONUNBUFFERED; the variable takes key=value,key=value or a JSON object",
        why="none: the Job's own",
        patternProperties={_ENV_NAME: {"type": "string"}},
        additionalProperties=False,
    )
    env_from_secrets: tuple[str, ...] = setting(
        (),
        "Secrets in the Jobs' namespace whose keys become environment variables of each Job "
        "(envFrom), e.g. the object store's credentials; the variables a Job sets itself "
        "(HOME, TMPDIR, PYTHONUNBUFFERED and env) win",
        why="none: the Jobs reach the stores without credentials, or with their service account",
        uniqueItems=True,
        items={"pattern": _DNS_NAME, "maxLength": 253},
    )
    ttl_s: int = setting(
        3600,
        "a finished Job (and its pod's logs) is kept this long",
        unit="s",
        why="an hour to inspect a failure",
        minimum=0,
    )
    backoff_limit: int = setting(
        0,
        "pod retries before a Job fails (the Job's backoffLimit)",
        why="a failed adaptation is not retried blindly; the rApp decides whether to adapt again",
        minimum=0,
    )
    deadline_s: int = setting(
        7200,
        "a Job's wall-clock budget, after which Kubernetes ends it",
        unit="s",
        why="100 epochs on 20 000 samples on CPU take well under an hour",
        minimum=1,
    )
    data_uri: str | None = setting(
        None,
        "the data store as the Jobs reach it",
        why="null: data.uri",
        minLength=1,
    )
    store_uri: str | None = setting(
        None,
        "the model store as the Jobs reach it",
        why="null: store.uri (which must then be set: the shipped store is read-only)",
        minLength=1,
    )
    poll_s: float = setting(
        5.0,
        "seconds between two reads of a running Job",
        unit="s",
        why="a Job runs for minutes; a read every few seconds is nothing to the API server",
        exclusiveMinimum=0,
    )
    kubeconfig: str | None = setting(
        None,
        "kube config file used outside a cluster",
        why="null: the pod's service account in a cluster, else $KUBECONFIG or ~/.kube/config",
        minLength=1,
    )
