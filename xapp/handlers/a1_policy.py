"""A1_POLICY_REQ (20010) of policy type 30001, exactly as the A1 mediator sends it:
``{"operation": "CREATE|UPDATE|DELETE", "policy_type_id": "30001",
"policy_instance_id": "...", "payload": "<JSON text>"}`` (every value a string,
``payload`` empty on DELETE). The answer, A1_POLICY_RESP (20011) by RTS, carries
``policy_type_id`` as a JSON number, ``policy_instance_id``, ``handler_id`` and
``status`` OK, ERROR (with ``reason``; the running SAM stays) or DELETED."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from schemas import SchemaValidationError, validate
from xapp.errors import PolicyRefused
from xapp.mtypes import MType
from xapp.settings import A1_POLICY_TYPE_ID

if TYPE_CHECKING:
    from xapp.core import CsiXapp

OPERATIONS = ("CREATE", "UPDATE", "DELETE")


def response(core: CsiXapp, instance_id: str, status: str, reason: str = "") -> bytes:
    body: dict[str, Any] = {
        "policy_type_id": A1_POLICY_TYPE_ID,
        "policy_instance_id": instance_id,
        "handler_id": core.settings.xapp_name,
        "status": status,
    }
    if reason:
        body["reason"] = reason[:500]
    return json.dumps(body).encode()


def parse_request(payload: bytes) -> tuple[str, str, dict[str, Any] | None]:
    """``(operation, instance_id, policy or None)``; PolicyRefused on anything malformed."""
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
        return "DELETE", req["policy_instance_id"], None
    try:
        policy = json.loads(req["payload"])
    except ValueError as exc:
        raise PolicyRefused("a1-payload", f"payload is not JSON text: {exc}") from None
    try:
        validate("a1-csi-sam-policy", policy)
    except SchemaValidationError as exc:
        raise PolicyRefused("a1-schema", str(exc)) from None
    return req["operation"], req["policy_instance_id"], policy


def handle(core: CsiXapp, payload: bytes, meid: str | None) -> list[tuple[int, bytes]]:
    instance_id = ""
    try:
        req = json.loads(payload) if payload else {}
        instance_id = req.get("policy_instance_id", "") if isinstance(req, dict) else ""
        instance_id = instance_id if isinstance(instance_id, str) else ""
    except (ValueError, UnicodeDecodeError):
        pass
    try:
        op, instance_id, policy = parse_request(payload)
        if op == "DELETE":
            core.delete_policy(instance_id)
            core.count("a1_deleted")
            return [(MType.A1_POLICY_RESP, response(core, instance_id, "DELETED"))]
        core.apply_policy(instance_id, policy)
        core.count("a1_ok")
        return [(MType.A1_POLICY_RESP, response(core, instance_id, "OK"))]
    except PolicyRefused as exc:
        core.count("a1_error")
        core.count(f"a1_error_{exc.reason}")
        core.log_limited("a1", "A1 policy %s refused: %s", instance_id or "?", exc)
        return [(MType.A1_POLICY_RESP, response(core, instance_id, "ERROR", str(exc)))]
