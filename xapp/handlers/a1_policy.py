"""A1_POLICY_REQ (20010) of policy type 30001, exactly as the A1 mediator sends it:
``{"operation": "CREATE|UPDATE|DELETE", "policy_type_id": "30001",
"policy_instance_id": "...", "payload": "<JSON text>"}`` (every value a string,
``payload`` empty on DELETE). The answer, A1_POLICY_RESP (20011) by RTS, carries
``policy_type_id`` as a JSON number, ``policy_instance_id``, ``handler_id`` and
``status`` OK, ERROR (with ``reason``; the running SAM stays) or DELETED."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from schemas import A1_POLICY_TYPE_ID, A1Policy, SchemaValidationError
from xapp.counters import Counters
from xapp.errors import PolicyRefused, XappError
from xapp.handlers.base import Handler, Replies
from xapp.mtypes import MType
from xapp.policies import PolicyTable

__all__ = ["A1PolicyHandler", "A1Request", "instance_id_of", "parse_request", "response"]

OPERATIONS = ("CREATE", "UPDATE", "DELETE")
MAX_REASON_CHARS = 500


@dataclass(frozen=True)
class A1Request:
    """A parsed request; ``policy`` is None exactly on DELETE."""

    operation: str
    instance_id: str
    policy: A1Policy | None


def response(handler_id: str, instance_id: str, status: str, reason: str = "") -> bytes:
    """An A1_POLICY_RESP payload."""
    body: dict[str, Any] = {
        "policy_type_id": A1_POLICY_TYPE_ID,
        "policy_instance_id": instance_id,
        "handler_id": handler_id,
        "status": status,
    }
    if reason:
        body["reason"] = reason[:MAX_REASON_CHARS]
    return json.dumps(body).encode()


def parse_request(payload: bytes) -> A1Request:
    """Parse and validate a request; PolicyRefused on anything malformed."""
    try:
        req = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PolicyRefused("a1-not-json", f"request is not JSON: {exc}") from None
    if not isinstance(req, dict):
        raise PolicyRefused("a1-not-object", "request is not a JSON object")
    for key in ("operation", "policy_type_id", "policy_instance_id", "payload"):
        if not isinstance(req.get(key), str):
            raise PolicyRefused("a1-field", f"{key!r} must be a JSON string")
    if req["policy_type_id"] != str(A1_POLICY_TYPE_ID):
        raise PolicyRefused(
            "a1-type", f"policy type {req['policy_type_id']} is not {A1_POLICY_TYPE_ID}"
        )
    if req["operation"] not in OPERATIONS:
        raise PolicyRefused(
            "a1-operation", f"operation {req['operation']!r} is not one of {OPERATIONS}"
        )
    if not req["policy_instance_id"]:
        raise PolicyRefused("a1-field", "policy_instance_id is empty")
    if req["operation"] == "DELETE":
        return A1Request("DELETE", req["policy_instance_id"], None)
    try:
        obj = json.loads(req["payload"])
    except ValueError as exc:
        raise PolicyRefused("a1-payload", f"payload is not JSON text: {exc}") from None
    try:
        policy = A1Policy.parse(obj)
    except SchemaValidationError as exc:
        raise PolicyRefused("a1-schema", str(exc)) from None
    return A1Request(req["operation"], req["policy_instance_id"], policy)


def instance_id_of(payload: bytes) -> str:
    """The request's ``policy_instance_id`` when it has a readable one, else ""."""
    try:
        req = json.loads(payload) if payload else {}
    except (ValueError, UnicodeDecodeError):
        return ""
    value = req.get("policy_instance_id", "") if isinstance(req, dict) else ""
    return value if isinstance(value, str) else ""


class A1PolicyHandler(Handler):
    """Args: the ``policies`` table, the ``counters``, the ``handler_id`` answers carry,
    and the xApp's ``lock``: held only while a checked and fetched policy is committed
    (the store fetch before it runs without it, so indications go on meanwhile)."""

    mtypes = (MType.A1_POLICY_REQ,)
    locks_itself = True

    def __init__(
        self,
        policies: PolicyTable,
        counters: Counters,
        handler_id: str,
        lock: threading.RLock | None = None,
    ) -> None:
        super().__init__(counters)
        self.policies, self.handler_id = policies, handler_id
        self.lock = lock or threading.RLock()

    def process(self, payload: bytes, meid: str | None) -> Replies:
        req = parse_request(payload)
        self.policies.unconfirmed.discard(req.instance_id)  # A1 has spoken for it
        if req.policy is None:
            with self.lock:
                self.policies.delete(req.instance_id)
            self.counters.count("a1_deleted")
            return [self._answer(req.instance_id, "DELETED")]
        prepared = self.policies.prepare(req.instance_id, req.policy)
        with self.lock:
            self.policies.commit(req.instance_id, prepared)
        self.counters.count("a1_ok")
        return [self._answer(req.instance_id, "OK")]

    def refused(self, exc: XappError, payload: bytes, meid: str | None) -> Replies:
        """Every refusal is answered ERROR with the reason; the running SAM stays."""
        instance_id = instance_id_of(payload)
        self.counters.count("a1_error")
        self.counters.count(f"a1_error_{exc.reason}")
        self.counters.log_limited("a1", "A1 policy %s refused: %s", instance_id or "?", exc)
        return [self._answer(instance_id, "ERROR", str(exc))]

    def _answer(self, instance_id: str, status: str, reason: str = "") -> tuple[int, bytes]:
        return MType.A1_POLICY_RESP, response(self.handler_id, instance_id, status, reason)
