"""What Kubernetes accepts in an adaptation Job's manifest: DNS-1123 names, label keys and
values, quantities, node selectors, tolerations, environment variables' names and the Secrets
of ``envFrom``.

:class:`rapp.job_manifest.JobSettings` checks its values with these when it is built, so that a
bad setting fails at start with a ConfigError naming it, not later when the API server refuses
the Job; :func:`rapp.job_manifest.job_name` and :func:`rapp.job_manifest.label_value` keep the
names they derive within the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from lasco.errors import ConfigError

__all__ = [
    "DNS_LABEL",
    "DNS_SUBDOMAIN",
    "ENV_NAME",
    "LABEL_KEY",
    "LABEL_VALUE",
    "QUANTITY",
    "check_env",
    "check_labels",
    "check_node_selector",
    "check_secret_names",
    "check_tolerations",
    "toleration_problem",
]

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
"""A DNS-1123 label: a namespace's or a Job's name."""
DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
"""A DNS-1123 subdomain: a service account's or a Secret's name."""
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
"""A label value (empty, or at most 63 of ``[A-Za-z0-9_.-]``, alphanumeric at both ends)."""
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
"""A Kubernetes quantity (``"500m"`` CPU, ``"4Gi"``)."""
LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
"""A label key: a name, with an optional DNS subdomain prefix (``nvidia.com/gpu``)."""
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
"""An environment variable's name (a C identifier, as a shell takes it)."""
_TOLERATION_FIELDS = ("key", "operator", "value", "effect", "tolerationSeconds")
_TAINT_EFFECTS = ("", "NoSchedule", "PreferNoSchedule", "NoExecute")


def check_labels(
    name: str, labels: Mapping[str, Any], *, what: str = "label", reserved: Collection[str] = ()
) -> None:
    """ConfigError (naming the setting ``name``) unless each entry is a label (a ``what``)
    whose key is not one of ``reserved``."""
    for key, value in labels.items():
        if not (LABEL_KEY.match(key) and isinstance(value, str) and LABEL_VALUE.match(value)):
            raise ConfigError(f"{name} {key}={value!r} is not a {what}")
        if key in reserved:
            raise ConfigError(f"{name} {key}: the rApp sets this label itself")


def check_node_selector(name: str, selector: Mapping[str, Any]) -> None:
    """ConfigError (naming the setting ``name``) unless each entry is a node label."""
    check_labels(name, selector, what="node label")


def check_env(name: str, env: Mapping[str, Any]) -> None:
    """ConfigError (naming the setting ``name``) unless each entry is an environment
    variable: a name (:data:`ENV_NAME`) and a string."""
    for key, value in env.items():
        if not (isinstance(key, str) and ENV_NAME.match(key)):
            raise ConfigError(f"{name}: {key!r} is not an environment variable's name")
        if not isinstance(value, str):
            raise ConfigError(f"{name} {key}={value!r} is not a string")


def check_tolerations(name: str, tolerations: Sequence[Any]) -> None:
    """ConfigError (naming the setting ``name`` and the index) for the first toleration
    Kubernetes would refuse."""
    for n, toleration in enumerate(tolerations):
        problem = toleration_problem(toleration)
        if problem:
            shown = dict(toleration) if isinstance(toleration, Mapping) else toleration
            raise ConfigError(f"{name}[{n}] {shown!r}: {problem}")


def toleration_problem(t: Any) -> str | None:
    """What Kubernetes would refuse in the toleration ``t`` (a mapping), None if nothing."""
    if not isinstance(t, Mapping):
        return "is not an object"
    unknown = sorted(set(t) - set(_TOLERATION_FIELDS))
    if unknown:
        return f"unknown field(s) {unknown}; a toleration has {', '.join(_TOLERATION_FIELDS)}"
    key, operator = t.get("key", ""), t.get("operator", "Equal")
    value, effect = t.get("value", ""), t.get("effect", "")
    if not all(isinstance(v, str) for v in (key, operator, value, effect)):
        return "key, operator, value and effect are strings"
    if key and not LABEL_KEY.match(key):
        return f"key {key!r} is not a label key"
    if operator not in ("Exists", "Equal"):
        return f"operator {operator!r} is not Exists or Equal"
    if not key and operator != "Exists":
        return "an empty key needs operator Exists"
    if operator == "Exists" and value:
        return "operator Exists takes no value"
    if not LABEL_VALUE.match(value):
        return f"value {value!r} is not a label value"
    if effect not in _TAINT_EFFECTS:
        return f"effect {effect!r} is not one of NoSchedule, PreferNoSchedule, NoExecute or ''"
    if "tolerationSeconds" in t:
        seconds = t["tolerationSeconds"]
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            return f"tolerationSeconds {seconds!r} is not an integer"
        if effect != "NoExecute":
            return "tolerationSeconds needs effect NoExecute"
    return None


def check_secret_names(name: str, secrets: Sequence[str]) -> None:
    """ConfigError (naming the setting ``name``) unless ``secrets`` are Secrets' names, each
    named once."""
    for secret in secrets:
        if not DNS_SUBDOMAIN.match(secret):
            raise ConfigError(f"{name}: {secret!r} is not a Secret's name")
    if len(set(secrets)) != len(secrets):
        raise ConfigError(f"{name} names a Secret twice: {secrets}")
