"""The adaptation Job's entry point: ``python -m rapp.job_entry --environment ENV ...``.

It reads the environment's labelled samples from the data store, opens the model store,
loads the signing key from its mounted file, runs the adaptation, prints the outcome as one
JSON line (the pod's log keeps it) and writes it to the outcome ConfigMap for the rApp.

Exit status: 0 when the adaptation ran (accepted or declined: both are outcomes); 1 when it
raised (an outcome with ``error`` is still written when possible); 3 when the outcome could
not be written; 2 for bad arguments.

The adaptation is a callable (``adapt``, default ``rapp.adaptation.adapt_environment``,
imported only when used), as are the samples' reader and the Kubernetes client, so that
tests run the entry point without training or a cluster.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from model_store import DEFAULT_TRUSTED_KEYS, ModelStore, TrustedKeys, load_private_key
from model_store.signing import public_hex
from rapp.job_manifest import APP_LABEL, KEY_FILE, job_labels, label_value
from rapp.jobs import current_namespace, kube_clients, write_outcome

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from kubernetes.client import CoreV1Api

    from datastore import LabelledSamples
    from rapp.adapt_settings import AdaptationSettings, RunningProxy

__all__ = [
    "EXIT_ERROR",
    "EXIT_NO_OUTCOME",
    "EXIT_OK",
    "Adapt",
    "ReadSamples",
    "error_outcome",
    "main",
    "parse_args",
    "running_from_json",
    "settings_from_json",
    "trusted_keys",
]

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_NO_OUTCOME = 3


class Adapt(Protocol):
    """Adapts one environment; returns an outcome with ``to_dict()`` (or a mapping)."""

    def __call__(
        self,
        environment: str,
        samples: LabelledSamples,
        store: ModelStore,
        key: Ed25519PrivateKey,
        *,
        settings: AdaptationSettings,
        running: RunningProxy | None,
    ) -> Any: ...


ReadSamples = Callable[[str, str, "int | None"], "LabelledSamples"]
"""``(data store URI, environment, max samples) -> LabelledSamples``."""


def _adapt_environment(
    environment: str,
    samples: LabelledSamples,
    store: ModelStore,
    key: Ed25519PrivateKey,
    *,
    settings: AdaptationSettings,
    running: RunningProxy | None,
) -> Any:
    """The rApp's adaptation (torch and the training code load only here)."""
    from rapp.adaptation import adapt_environment

    return adapt_environment(environment, samples, store, key, settings=settings, running=running)


def _read_samples(uri: str, environment: str, max_samples: int | None) -> LabelledSamples:
    """The environment's newest samples from the data store at ``uri``."""
    from datastore.reader import DataReader

    return DataReader(uri).read(environment, max_samples=max_samples)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The Job's arguments (``build_job`` writes them)."""
    p = argparse.ArgumentParser(prog="python -m rapp.job_entry", description=__doc__)
    p.add_argument("--environment", required=True, help="the environment id to adapt")
    p.add_argument("--run-id", default=None, help="the run this Job belongs to")
    p.add_argument("--data-uri", required=True, help="the data store's URI")
    p.add_argument("--store-uri", required=True, help="the model store's URI or path")
    p.add_argument("--key-file", default=KEY_FILE, help="the Ed25519 signing key (PEM)")
    p.add_argument("--outcome-configmap", required=True, help="ConfigMap for the outcome")
    p.add_argument("--namespace", default=None, help="default: the pod's namespace")
    p.add_argument(
        "--trusted-key",
        action="append",
        default=[],
        help="a public key (64 hex digits) the store is verified with; repeatable "
        "(none: the shipped release keys; the signing key's own is always trusted)",
    )
    p.add_argument("--running-proxy", default=None, help="JSON of the running proxy")
    p.add_argument("--settings", default=None, help="JSON of the adaptation settings")
    return p.parse_args(argv)


def settings_from_json(text: str | None) -> AdaptationSettings:
    """``AdaptationSettings`` from the JSON of its fields (``adapt`` nested); None: the
    defaults. Unknown fields raise TypeError."""
    from lasco.train import AdaptConfig
    from rapp.adapt_settings import AdaptationSettings

    if text is None:
        return AdaptationSettings()
    fields = dict(json.loads(text))
    if isinstance(fields.get("adapt"), dict):
        fields["adapt"] = AdaptConfig(**fields["adapt"])
    return AdaptationSettings(**fields)


def running_from_json(text: str | None) -> RunningProxy | None:
    """``RunningProxy`` from the JSON of its fields; None: no proxy runs."""
    from rapp.adapt_settings import RunningProxy
    from schemas import Mode

    if text is None:
        return None
    fields = dict(json.loads(text))
    if fields.get("mode") is not None:
        fields["mode"] = Mode(fields["mode"])
    return RunningProxy(**fields)


def trusted_keys(given: Sequence[str], key: Ed25519PrivateKey) -> TrustedKeys:
    """The keys the store is verified with: ``given`` (none: the shipped release keys)
    and the signing key's own public key (the proxies this rApp published)."""
    trusted = TrustedKeys(given) if given else TrustedKeys.from_folder(DEFAULT_TRUSTED_KEYS)
    trusted.add(public_hex(key))
    return trusted


def error_outcome(environment: str, exc: BaseException) -> dict[str, Any]:
    """The outcome written when the adaptation raised."""
    return {
        "environment": environment,
        "accepted": False,
        "reason": "error",
        "error": f"{type(exc).__name__}: {exc}",
    }


def main(
    argv: Sequence[str] | None = None,
    *,
    adapt: Adapt | None = None,
    read_samples: ReadSamples | None = None,
    core_v1: CoreV1Api | None = None,
) -> int:
    """Run the Job: adapt, report, return the exit status (see the module docstring).

    Args:
        argv: the arguments (None: ``sys.argv[1:]``).
        adapt: the adaptation (None: ``rapp.adaptation.adapt_environment``).
        read_samples: reads the samples (None: ``datastore.reader.DataReader``).
        core_v1: the Kubernetes core API the outcome is written with (None: the pod's,
            from :func:`rapp.jobs.kube_clients`).
    """
    args = parse_args(argv)
    adapt = adapt or _adapt_environment
    read_samples = read_samples or _read_samples
    env = args.environment
    try:
        settings = settings_from_json(args.settings)
        running = running_from_json(args.running_proxy)
        key = load_private_key(args.key_file)
        store = ModelStore(args.store_uri, trusted_keys(args.trusted_key, key))
        samples = read_samples(args.data_uri, env, settings.max_samples)
        log.info("adapting %s on %d samples", env, len(samples))
        result = adapt(env, samples, store, key, settings=settings, running=running)
        outcome = result.to_dict() if hasattr(result, "to_dict") else dict(result)
        status = EXIT_OK
    except Exception as exc:
        log.exception("adapting %s failed", env)
        outcome, status = error_outcome(env, exc), EXIT_ERROR
    print(json.dumps(outcome, sort_keys=True, default=str), flush=True)

    if args.run_id is not None:
        labels = job_labels(env, args.run_id)
    else:
        labels = {"app": APP_LABEL, "environment": label_value(env)}
    try:
        core = core_v1 if core_v1 is not None else kube_clients()[1]
        namespace = args.namespace or current_namespace()
        write_outcome(core, namespace, args.outcome_configmap, outcome, labels)
    except Exception:
        log.exception("writing the outcome to ConfigMap %s failed", args.outcome_configmap)
        return status or EXIT_NO_OUTCOME
    log.info("outcome of %s written to ConfigMap %s", env, args.outcome_configmap)
    return status


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    sys.exit(main())
