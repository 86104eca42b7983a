"""What both A1 clients share: the result type, the settings, the interface and the HTTP
calls with bounded retries and exponential backoff.

Every call returns an :class:`A1Result`; nothing a RIC does (refusing, answering 5xx,
being down) raises. Connection errors, timeouts and the ``retry_codes`` (5xx, 423, 429)
are retried ``attempts`` times in all, sleeping ``backoff_initial_s``, then ``backoff_factor``
times more each time, at most ``backoff_max_s``; anything else (a 400 schema refusal, a
404) is answered at once.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

import httpx

from schemas import A1_POLICY_SCHEMA, A1_POLICY_TYPE_ID, A1Policy, load

__all__ = [
    "KINDS",
    "A1Client",
    "A1Result",
    "A1Settings",
    "A1Status",
    "Reply",
    "RetryingHttp",
    "policy_type_body",
]

log = logging.getLogger(__name__)

KINDS = ("a1p", "pms")
"""``a1p``: the near-RT RIC's A1 mediator (A1-P v2); ``pms``: the non-RT RIC's A1 Policy
Management Service (v2)."""


class A1Status(str, Enum):
    """Where an operation left a policy instance (or, ``OK``, that a request without an
    instance to enforce, such as a type check or a listing, succeeded)."""

    ENFORCED = "ENFORCED"
    NOT_ENFORCED = "NOT_ENFORCED"
    DELETED = "DELETED"
    ERROR = "ERROR"
    UNREACHABLE = "UNREACHABLE"
    OK = "OK"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class A1Result:
    """The outcome of one client call.

    Attributes:
        ok: the call got what it asked for: ``put_policy`` and ``status`` an ENFORCED
            instance, ``delete_policy`` a DELETED one, ``ensure_policy_type`` and
            ``list_policies`` an OK answer.
        status: see :class:`A1Status`.
        operation: ``ensure_policy_type``, ``put_policy``, ``delete_policy``, ``status`` or
            ``list_policies``.
        instance_id: the policy instance ("" for type checks and listings).
        http_code: the HTTP status of the request that decided the outcome (the PUT's on
            a put; None when no answer came).
        reason: why, in words (the xApp's refusal reason on NOT_ENFORCED).
        attempts: tries of the request that decided the outcome (1: no retry).
        seconds: wall time of the whole call.
        action: on ``put_policy``, ``created``, ``updated`` or ``unchanged`` (the same
            policy was already in place and enforced, so nothing was sent).
        instance_ids: on ``list_policies``, the instances of type 30001.
    """

    ok: bool
    status: A1Status
    operation: str
    instance_id: str = ""
    http_code: int | None = None
    reason: str = ""
    attempts: int = 0
    seconds: float = 0.0
    action: str = ""
    instance_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class A1Settings:
    """How a client reaches its A1 endpoint (every duration in seconds).

    Attributes:
        base_url: ``http(s)://host:port`` of the A1 mediator or of PMS.
        kind: ``a1p`` (the A1 mediator's A1-P v2) or ``pms`` (PMS v2).
        ric_id: PMS only: the near-RT RIC the policies go to.
        service_id: PMS only: the service the rApp registers and owns its policies by.
        keep_alive_interval_s: PMS only: the service's keep-alive (0: PMS never expires it).
        status_notification_uri: PMS only: where PMS posts status changes ("": nowhere).
        connect_timeout_s, read_timeout_s: per HTTP request.
        attempts: tries per HTTP request, the first included (at least 1).
        backoff_initial_s, backoff_factor, backoff_max_s: the sleep between tries.
        retry_codes: HTTP statuses retried like a connection error.
        enforce_timeout_s: how long ``put_policy`` polls the status for an answer.
        poll_interval_s: the sleep between two status reads.
    """

    base_url: str
    kind: str = "a1p"
    ric_id: str = "ric"
    service_id: str = "lasco-rapp"
    keep_alive_interval_s: int = 0
    status_notification_uri: str = ""
    connect_timeout_s: float = 2.0
    read_timeout_s: float = 10.0
    attempts: int = 4
    backoff_initial_s: float = 0.25
    backoff_factor: float = 2.0
    backoff_max_s: float = 5.0
    retry_codes: frozenset[int] = field(
        default_factory=lambda: frozenset({423, 429, 500, 502, 503, 504})
    )
    enforce_timeout_s: float = 30.0
    poll_interval_s: float = 0.25

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind {self.kind!r} is not one of {KINDS}")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url {self.base_url!r} is not http(s)://...")
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        for name in ("connect_timeout_s", "read_timeout_s", "enforce_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("backoff_initial_s", "backoff_max_s", "poll_interval_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.backoff_factor < 1:
            raise ValueError("backoff_factor must be at least 1")

    def with_(self, **changes: Any) -> A1Settings:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def backoff_s(self, retry: int) -> float:
        """The sleep before retry number ``retry`` (1 for the second try)."""
        return min(self.backoff_max_s, self.backoff_initial_s * self.backoff_factor ** (retry - 1))


def policy_type_body() -> dict[str, Any]:
    """Policy type 30001 as the A1 mediator's ``PUT /A1-P/v2/policytypes/30001`` takes it:
    name, description, id and the schema file as ``create_schema`` (without its
    ``examples``, which are documentation)."""
    schema = {k: v for k, v in load(A1_POLICY_SCHEMA).items() if k != "examples"}
    return {
        "name": schema.get("title", A1_POLICY_SCHEMA),
        "description": schema.get("description", ""),
        "policy_type_id": A1_POLICY_TYPE_ID,
        "create_schema": schema,
    }


@dataclass(frozen=True)
class Reply:
    """One HTTP exchange after its retries: ``code`` None when no answer came (then
    ``error`` says why); ``body`` the decoded JSON (None when empty or not JSON)."""

    code: int | None
    body: Any
    text: str
    attempts: int
    error: str = ""

    @property
    def reason(self) -> str:
        """Why a request failed, in words."""
        if self.code is None:
            return self.error
        detail = self.body.get("detail", "") if isinstance(self.body, dict) else ""
        return f"HTTP {self.code}" + (f": {detail or self.text[:300]}" if self.text else "")


class RetryingHttp:
    """An httpx client whose requests are retried as the settings say.

    Args:
        settings: timeouts and retry policy.
        sleep: how to wait between tries (``time.sleep``).
        transport: an httpx transport in place of the network (for tests).
    """

    def __init__(
        self,
        settings: A1Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings, self.sleep = settings, sleep
        timeout = httpx.Timeout(
            settings.read_timeout_s,
            connect=settings.connect_timeout_s,
            pool=settings.read_timeout_s,
        )
        self.client = httpx.Client(
            base_url=settings.base_url.rstrip("/"), timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self.client.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Reply:
        """Send, retrying connection errors, timeouts and ``retry_codes``; the last
        answer (or error) after at most ``attempts`` tries."""
        s = self.settings
        for attempt in range(1, s.attempts + 1):
            if attempt > 1:
                self.sleep(s.backoff_s(attempt - 1))
            try:
                resp = self.client.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                reply = Reply(None, None, "", attempt, f"{type(exc).__name__}: {exc}".strip())
                log.debug("%s %s try %d: %s", method, path, attempt, reply.error)
                continue
            reply = Reply(resp.status_code, _json_or_none(resp), resp.text, attempt)
            if resp.status_code not in s.retry_codes:
                return reply
            log.debug("%s %s try %d: HTTP %d", method, path, attempt, resp.status_code)
        return reply


def _json_or_none(resp: httpx.Response) -> Any:
    try:
        return resp.json() if resp.content else None
    except ValueError:
        return None


class A1Client(ABC):
    """One interface to A1, whichever service carries it: the near-RT RIC's A1 mediator
    (:class:`~rapp.a1_p.A1pClient`) or the non-RT RIC's PMS (:class:`~rapp.a1_pms.PmsClient`).

    Every method returns an :class:`A1Result` and logs it; none raises for anything the
    service does. Clients are context managers (``close`` ends their connections).
    """

    settings: A1Settings

    @abstractmethod
    def ensure_policy_type(self) -> A1Result:
        """Make sure type 30001 exists on the RIC (create it where the API can)."""

    @abstractmethod
    def put_policy(self, instance_id: str, policy: A1Policy) -> A1Result:
        """Create or update an instance and wait for the xApp's answer: ENFORCED,
        NOT_ENFORCED (with the xApp's reason), or ERROR/UNREACHABLE."""

    @abstractmethod
    def delete_policy(self, instance_id: str) -> A1Result:
        """Delete an instance; DELETED also when it did not exist."""

    @abstractmethod
    def status(self, instance_id: str) -> A1Result:
        """One read of an instance's enforcement status (DELETED when there is none)."""

    @abstractmethod
    def list_policies(self) -> A1Result:
        """The instances of type 30001, in ``instance_ids``."""

    @abstractmethod
    def close(self) -> None:
        """Close the client's connections."""

    def __enter__(self) -> A1Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
