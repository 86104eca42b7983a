"""The flows both HTTP clients follow; each API fills in its paths and body shapes.

``put_policy``: make sure the type is there (once per client, and again when a PUT finds
it gone), read the instance (the same policy already enforced: nothing is sent,
``unchanged``), PUT it, then poll its
status until an xApp enforced it, refused it with a reason, or ``enforce_timeout_s``
passed. A status NOT_ENFORCED without a reason means no xApp has answered yet, so polling
goes on. ``delete_policy`` counts an unknown instance as deleted; the RIC's DELETE toward
the xApp is fire-and-forget, so an accepted DELETE is DELETED.
"""

from __future__ import annotations

import logging
import time
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from rapp.a1_base import A1Client, A1Result, A1Settings, A1Status, Reply, RetryingHttp
from schemas import A1Policy

__all__ = ["HttpA1Client"]

log = logging.getLogger(__name__)

# Older A1 mediators answer these in place of ENFORCED / NOT_ENFORCED.
_ENFORCE_ALIASES = {"IN EFFECT": "ENFORCED", "NOT IN EFFECT": "NOT_ENFORCED"}


class HttpA1Client(A1Client):
    """An A1 client over HTTP; subclasses name the API's paths and bodies.

    Args:
        settings: where and how to reach the API.
        sleep: how to wait between tries and polls (``time.sleep``).
        transport: an httpx transport in place of the network (for tests).
    """

    api = "A1"
    """The API's name in log lines."""

    def __init__(
        self,
        settings: A1Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings, self.sleep = settings, sleep
        self.http = RetryingHttp(settings, sleep=sleep, transport=transport)
        self.type_ready = False
        """Whether this client saw type 30001 on the RIC (then puts skip the check)."""

    # -- what each API fills in ----------------------------------------------------------
    @abstractmethod
    def _ensure_type(self) -> tuple[A1Status, Reply, str]:
        """Check (and where possible create) the type: (OK or not, decisive reply, why)."""

    @abstractmethod
    def _instance_path(self, instance_id: str) -> str: ...

    @abstractmethod
    def _status_path(self, instance_id: str) -> str: ...

    @abstractmethod
    def _put(self, instance_id: str, data: dict[str, Any]) -> Reply: ...

    @abstractmethod
    def _data_of(self, body: Any) -> Any:
        """The policy data in the body of a GET of the instance."""

    @abstractmethod
    def _enforcement_of(self, body: Any) -> tuple[str, str]:
        """(``enforceStatus``, ``enforceReason`` or "") from a status body."""

    @abstractmethod
    def _list(self) -> tuple[Reply, tuple[str, ...]]: ...

    # -- the interface -------------------------------------------------------------------
    def ensure_policy_type(self) -> A1Result:
        t0 = time.monotonic()
        status, reply, why = self._ensure_type()
        self.type_ready = status is A1Status.OK
        return self._finish("ensure_policy_type", t0, status, reply, why)

    def put_policy(self, instance_id: str, policy: A1Policy) -> A1Result:
        op, t0 = "put_policy", time.monotonic()
        if not self.type_ready and (refused := self._type_refusal(t0, instance_id)):
            return refused
        data = policy.to_dict()
        got = self.http.request("GET", self._instance_path(instance_id))
        if got.code is None:
            return self._finish(op, t0, A1Status.UNREACHABLE, got, got.reason, instance_id)
        existed = got.code == 200
        if existed and self._data_of(got.body) == data:
            now = self._read_status(instance_id)
            if now.status is A1Status.ENFORCED:
                why = "the same policy is already enforced; nothing sent"
                return self._finish(op, t0, now.status, got, why, instance_id, "unchanged")
        put = self._put(instance_id, data)
        if put.code == 404:  # the RIC lost the type (a restart): make it again, once
            if refused := self._type_refusal(t0, instance_id):
                return refused
            put = self._put(instance_id, data)
        action = "updated" if existed else "created"
        if put.code is None or put.code >= 300:
            return self._finish(op, t0, self._failed(put), put, put.reason, instance_id)
        return self._wait_enforced(t0, instance_id, put, action)

    def delete_policy(self, instance_id: str) -> A1Result:
        op, t0 = "delete_policy", time.monotonic()
        reply = self.http.request("DELETE", self._instance_path(instance_id))
        if reply.code == 404:
            return self._finish(op, t0, A1Status.DELETED, reply, "no such instance", instance_id)
        if reply.code is not None and reply.code < 300:
            return self._finish(op, t0, A1Status.DELETED, reply, "", instance_id)
        return self._finish(op, t0, self._failed(reply), reply, reply.reason, instance_id)

    def status(self, instance_id: str) -> A1Result:
        t0 = time.monotonic()
        res = self._read_status(instance_id)
        return self._finish("status", t0, res.status, res.reply, res.reason, instance_id)

    def list_policies(self) -> A1Result:
        t0 = time.monotonic()
        reply, ids = self._list()
        if reply.code is not None and reply.code < 300:
            return self._finish("list_policies", t0, A1Status.OK, reply, "", ids=ids)
        if reply.code == 404:
            why = "policy type 30001 is not on the RIC"
            return self._finish("list_policies", t0, A1Status.OK, reply, why)
        return self._finish("list_policies", t0, self._failed(reply), reply, reply.reason)

    def close(self) -> None:
        self.http.close()

    # -- helpers -------------------------------------------------------------------------
    def _type_refusal(self, t0: float, instance_id: str) -> A1Result | None:
        """Check the type for a put: None when it is there, else the put's failed result."""
        status, reply, why = self._ensure_type()
        self.type_ready = status is A1Status.OK
        if self.type_ready:
            return None
        return self._finish("put_policy", t0, status, reply, f"policy type: {why}", instance_id)

    def _failed(self, reply: Reply) -> A1Status:
        """UNREACHABLE when no answer came or only retryable ones, else ERROR."""
        unreachable = reply.code is None or reply.code in self.settings.retry_codes
        return A1Status.UNREACHABLE if unreachable else A1Status.ERROR

    def _read_status(self, instance_id: str) -> _StatusRead:
        reply = self.http.request("GET", self._status_path(instance_id))
        if reply.code == 404:
            return _StatusRead(A1Status.DELETED, reply, "no such instance", final=True)
        if reply.code != 200:
            return _StatusRead(self._failed(reply), reply, reply.reason, final=True)
        enforce, why = self._enforcement_of(reply.body)
        enforce = _ENFORCE_ALIASES.get(enforce, enforce)
        if enforce == "ENFORCED":
            return _StatusRead(A1Status.ENFORCED, reply, why, final=True)
        if enforce == "NOT_ENFORCED":
            final = bool(why)
            return _StatusRead(
                A1Status.NOT_ENFORCED, reply, why or "no xApp answered OK yet", final
            )
        why = f"unreadable status answer: {reply.text[:200]}"
        return _StatusRead(A1Status.ERROR, reply, why, final=True)

    def _wait_enforced(self, t0: float, instance_id: str, put: Reply, action: str) -> A1Result:
        deadline = time.monotonic() + self.settings.enforce_timeout_s
        while True:
            now = self._read_status(instance_id)
            if now.final or time.monotonic() >= deadline:
                break
            self.sleep(self.settings.poll_interval_s)
        status, why, decisive = now.status, now.reason, now.reply
        if status in (A1Status.ENFORCED, A1Status.NOT_ENFORCED):
            decisive = put  # the PUT's code and tries; the status read only says how it went
        if status is A1Status.NOT_ENFORCED and not now.final:
            why = f"no xApp enforced it within {self.settings.enforce_timeout_s:g} s"
        elif status is A1Status.DELETED:
            status, why = A1Status.ERROR, "the instance vanished before an xApp enforced it"
        return self._finish("put_policy", t0, status, decisive, why, instance_id, action)

    def _finish(
        self,
        operation: str,
        t0: float,
        status: A1Status,
        reply: Reply | None,
        reason: str,
        instance_id: str = "",
        action: str = "",
        ids: tuple[str, ...] = (),
    ) -> A1Result:
        wanted = {
            "put_policy": A1Status.ENFORCED,
            "status": A1Status.ENFORCED,
            "delete_policy": A1Status.DELETED,
        }.get(operation, A1Status.OK)
        result = A1Result(
            ok=status is wanted,
            status=status,
            operation=operation,
            instance_id=instance_id,
            http_code=reply.code if reply else None,
            reason=reason,
            attempts=reply.attempts if reply else 0,
            seconds=time.monotonic() - t0,
            action=action,
            instance_ids=ids,
        )
        level = logging.INFO if result.ok else logging.WARNING
        log.log(
            level,
            "%s %s%s: %s%s (HTTP %s, %d tries, %.3f s)%s",
            self.api,
            operation,
            f" {instance_id}" if instance_id else "",
            status,
            f" {action}" if action else "",
            result.http_code if result.http_code is not None else "-",
            result.attempts,
            result.seconds,
            f": {reason}" if reason else "",
        )
        return result


@dataclass(frozen=True)
class _StatusRead:
    """One status read: where the instance stands and whether polling can stop."""

    status: A1Status
    reply: Reply
    reason: str
    final: bool
