"""A1 for the rApp: one interface (:class:`A1Client`), two clients, one factory.

:class:`A1pClient` talks to the near-RT RIC's A1 mediator (A1-P v2) and creates policy
type 30001 where it is missing; :class:`PmsClient` talks to the non-RT RIC's Policy
Management Service (PMS v2), which relays to a near-RT RIC and cannot create types. Both
answer every call with an :class:`A1Result` (never an exception for what the RIC does),
retry connection errors and 5xx with exponential backoff, and log each result.

    >>> a1 = a1_client("a1p+http://ric-a1:10000")                 # or "pms+http://pms:8081"
    >>> a1 = a1_client("pms+http://pms:8081?ric_id=ric1&service_id=lasco-rapp")
    >>> a1 = a1_client(A1Settings("http://pms:8081", kind="pms", ric_id="ric1"))
    >>> result = a1.put_policy("lasco-101", policy)
    >>> result.ok, result.status, result.reason                # True, ENFORCED, ""
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx

from rapp.a1_base import KINDS, A1Client, A1Result, A1Settings, A1Status, policy_type_body
from rapp.a1_p import A1pClient
from rapp.a1_pms import PmsClient

__all__ = [
    "KINDS",
    "A1Client",
    "A1Result",
    "A1Settings",
    "A1Status",
    "A1pClient",
    "PmsClient",
    "a1_client",
    "parse_a1_url",
    "policy_type_body",
]

_FIELDS = {f.name for f in dataclasses.fields(A1Settings)}


def parse_a1_url(url: str, **overrides: Any) -> A1Settings:
    """Settings from ``<kind>+http(s)://host:port[/prefix][?field=value&...]``.

    The kind is ``a1p`` or ``pms``; a plain ``http(s)://`` URL means ``a1p`` unless
    ``kind`` is among ``overrides``. Query fields set string settings (``ric_id``,
    ``service_id``, ``status_notification_uri``); ``overrides`` set any, last.
    """
    parts = urlsplit(url)
    kind, plus, scheme = parts.scheme.rpartition("+")
    if not plus:
        kind, scheme = "", parts.scheme
    if scheme not in ("http", "https"):
        raise ValueError(f"A1 URL {url!r}: expected [a1p+|pms+]http(s)://host:port")
    if kind and kind not in KINDS:
        raise ValueError(f"A1 URL {url!r}: kind {kind!r} is not one of {KINDS}")
    fields: dict[str, Any] = {"kind": kind or "a1p"}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in ("ric_id", "service_id", "status_notification_uri"):
            raise ValueError(f"A1 URL {url!r}: unknown query field {key!r}")
        fields[key] = value
    unknown = set(overrides) - _FIELDS
    if unknown:
        raise ValueError(f"unknown A1 settings: {', '.join(sorted(unknown))}")
    base = urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
    return A1Settings(**{**fields, **overrides, "base_url": base})


def a1_client(
    target: str | A1Settings,
    *,
    sleep: Callable[[float], None] = time.sleep,
    transport: httpx.BaseTransport | None = None,
    **overrides: Any,
) -> A1Client:
    """The client ``target`` names: a URL (see :func:`parse_a1_url`) or settings, whose
    ``kind`` picks :class:`A1pClient` (``a1p``) or :class:`PmsClient` (``pms``).
    ``overrides`` change settings fields (``attempts=2``); ``sleep`` and ``transport`` go
    to the client."""
    if isinstance(target, A1Settings):
        settings = target.with_(**overrides) if overrides else target
    else:
        settings = parse_a1_url(target, **overrides)
    if settings.kind == "pms":
        return PmsClient(settings, sleep=sleep, transport=transport)
    return A1pClient(settings, sleep=sleep, transport=transport)
