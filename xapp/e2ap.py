"""E2AP PDUs (aligned PER) with pycrate's compiled E2AP: the RICindication the xApp
receives, and the RICsubscription procedure it runs with each E2 node.

Only the IEs this xApp uses are read; an unknown or missing mandatory IE, a PDU of
another procedure, or bytes that do not decode raise MalformedMessage with a reason
(``e2ap-decode``, ``e2ap-unexpected``, ``e2ap-missing-ie``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from pycrate_asn1dir import E2AP

from xapp.errors import MalformedMessage

__all__ = [
    "Indication",
    "SubscriptionOutcome",
    "decode_indication",
    "decode_subscription_outcome",
    "decode_subscription_request",
    "encode_indication",
    "encode_subscription_failure",
    "encode_subscription_request",
    "encode_subscription_response",
]

# Procedure codes and IE ids (E2AP constants).
PROC_INDICATION, PROC_SUBSCRIPTION, PROC_SUBSCRIPTION_DELETE = 5, 8, 9
IE_CAUSE, IE_RAN_FUNCTION_ID, IE_ACTION_ID = 1, 5, 15
IE_ACTIONS_ADMITTED, IE_ACTIONS_NOT_ADMITTED = 17, 18
IE_ACTION_TO_BE_SETUP, IE_ACTION_ADMITTED_ITEM, IE_ACTION_NOT_ADMITTED_ITEM = 19, 14, 16
IE_HEADER, IE_MESSAGE, IE_SN, IE_TYPE, IE_REQUEST_ID, IE_SUB_DETAILS = 25, 26, 27, 28, 29, 30

_PDU = E2AP.E2AP_PDU_Descriptions.E2AP_PDU
_LOCK = threading.Lock()  # pycrate objects hold the value being coded: one coder at a time


@dataclass(frozen=True)
class Indication:
    requestor_id: int
    instance_id: int
    ran_function_id: int
    action_id: int
    sn: int | None
    header: bytes
    message: bytes


@dataclass(frozen=True)
class SubscriptionOutcome:
    """A RICsubscriptionResponse (``ok``) or RICsubscriptionFailure (cause in ``cause``)."""

    ok: bool
    requestor_id: int
    instance_id: int
    ran_function_id: int
    admitted: tuple[int, ...] = ()
    cause: str = ""


def _ie(ie_id: int, name: str, value: object, criticality: str = "reject") -> dict:
    return {"id": ie_id, "criticality": criticality, "value": (name, value)}


def _request_ies(requestor_id: int, instance_id: int, ran_function_id: int) -> list[dict]:
    """The RICrequestID and RANfunctionID IEs every procedure here starts with."""
    return [
        _ie(
            IE_REQUEST_ID,
            "RICrequestID",
            {"ricRequestorID": requestor_id, "ricInstanceID": instance_id},
        ),
        _ie(IE_RAN_FUNCTION_ID, "RANfunctionID", ran_function_id),
    ]


def _encode(kind: str, proc: int, name: str, ies: list[dict], criticality: str = "reject") -> bytes:
    """An E2AP PDU; ``criticality`` is the procedure's (E2AP: ``ignore`` for
    RICindication, ``reject`` for RICsubscription)."""
    with _LOCK:
        _PDU.set_val(
            (
                kind,
                {
                    "procedureCode": proc,
                    "criticality": criticality,
                    "value": (name, {"protocolIEs": ies}),
                },
            )
        )
        return _PDU.to_aper()


def _decode(data: bytes) -> tuple[str, int, str, dict[int, object]]:
    try:
        with _LOCK:
            _PDU.from_aper(data)
            kind, body = _PDU.get_val()
        name, content = body["value"]
        ies = {ie["id"]: ie["value"][1] for ie in content.get("protocolIEs", [])}
        return kind, body["procedureCode"], name, ies
    except Exception as exc:  # pycrate raises several error types; odd values raise others
        raise MalformedMessage("e2ap-decode", f"not an E2AP PDU: {str(exc)[:120]}") from None


def _fields(value: object, *keys: str) -> tuple:
    try:
        return tuple(value[k] for k in keys)  # type: ignore[index]
    except (KeyError, TypeError, IndexError):
        raise MalformedMessage("e2ap-ie", f"IE value {str(value)[:60]} lacks {keys}") from None


def _need(ies: dict[int, object], ie_id: int, what: str) -> object:
    if ie_id not in ies:
        raise MalformedMessage("e2ap-missing-ie", f"{what} (IE {ie_id}) is missing")
    return ies[ie_id]


def encode_indication(ind: Indication) -> bytes:
    ies = [
        _ie(
            IE_REQUEST_ID,
            "RICrequestID",
            {"ricRequestorID": ind.requestor_id, "ricInstanceID": ind.instance_id},
        ),
        _ie(IE_RAN_FUNCTION_ID, "RANfunctionID", ind.ran_function_id),
        _ie(IE_ACTION_ID, "RICactionID", ind.action_id),
    ]
    if ind.sn is not None:
        ies.append(_ie(IE_SN, "RICindicationSN", ind.sn))
    ies += [
        _ie(IE_TYPE, "RICindicationType", "report"),
        _ie(IE_HEADER, "RICindicationHeader", ind.header),
        _ie(IE_MESSAGE, "RICindicationMessage", ind.message),
    ]
    return _encode("initiatingMessage", PROC_INDICATION, "RICindication", ies, "ignore")


def decode_indication(data: bytes) -> Indication:
    kind, proc, name, ies = _decode(data)
    if (kind, proc) != ("initiatingMessage", PROC_INDICATION):
        raise MalformedMessage("e2ap-unexpected", f"{kind} {name} is not a RICindication")
    req_id, inst_id = _fields(
        _need(ies, IE_REQUEST_ID, "RICrequestID"), "ricRequestorID", "ricInstanceID"
    )
    header = _need(ies, IE_HEADER, "RICindicationHeader")
    message = _need(ies, IE_MESSAGE, "RICindicationMessage")
    if not isinstance(header, bytes) or not isinstance(message, bytes):
        raise MalformedMessage("e2ap-ie", "indication header and message must be octet strings")
    return Indication(
        requestor_id=req_id,
        instance_id=inst_id,
        ran_function_id=_need(ies, IE_RAN_FUNCTION_ID, "RANfunctionID"),
        action_id=_need(ies, IE_ACTION_ID, "RICactionID"),
        sn=ies.get(IE_SN),
        header=header,
        message=message,
    )


def encode_subscription_request(
    requestor_id: int,
    instance_id: int,
    ran_function_id: int,
    event_trigger: bytes,
    action_id: int = 1,
) -> bytes:
    """RICsubscriptionRequest with one REPORT action and the given event trigger."""
    action = {"ricActionID": action_id, "ricActionType": "report"}
    details = {
        "ricEventTriggerDefinition": event_trigger,
        "ricAction-ToBeSetup-List": [
            _ie(IE_ACTION_TO_BE_SETUP, "RICaction-ToBeSetup-Item", action, "ignore")
        ],
    }
    ies = [
        *_request_ies(requestor_id, instance_id, ran_function_id),
        _ie(IE_SUB_DETAILS, "RICsubscriptionDetails", details),
    ]
    return _encode("initiatingMessage", PROC_SUBSCRIPTION, "RICsubscriptionRequest", ies)


def decode_subscription_request(data: bytes) -> tuple[int, int, int, bytes]:
    """``(requestor_id, instance_id, ran_function_id, event_trigger)`` (the E2 node side)."""
    kind, proc, name, ies = _decode(data)
    if (kind, proc) != ("initiatingMessage", PROC_SUBSCRIPTION):
        raise MalformedMessage("e2ap-unexpected", f"{kind} {name} is not a RICsubscriptionRequest")
    req_id, inst_id = _fields(
        _need(ies, IE_REQUEST_ID, "RICrequestID"), "ricRequestorID", "ricInstanceID"
    )
    (trigger,) = _fields(
        _need(ies, IE_SUB_DETAILS, "RICsubscriptionDetails"), "ricEventTriggerDefinition"
    )
    return req_id, inst_id, _need(ies, IE_RAN_FUNCTION_ID, "RANfunctionID"), trigger


def encode_subscription_response(
    requestor_id: int, instance_id: int, ran_function_id: int, action_ids: tuple[int, ...] = (1,)
) -> bytes:
    ies = [
        *_request_ies(requestor_id, instance_id, ran_function_id),
        _ie(
            IE_ACTIONS_ADMITTED,
            "RICaction-Admitted-List",
            [
                _ie(
                    IE_ACTION_ADMITTED_ITEM, "RICaction-Admitted-Item", {"ricActionID": a}, "ignore"
                )
                for a in action_ids
            ],
        ),
    ]
    return _encode("successfulOutcome", PROC_SUBSCRIPTION, "RICsubscriptionResponse", ies)


def encode_subscription_failure(
    requestor_id: int,
    instance_id: int,
    ran_function_id: int,
    cause: str = "ran-function-id-invalid",
) -> bytes:
    ies = [
        *_request_ies(requestor_id, instance_id, ran_function_id),
        _ie(IE_CAUSE, "Cause", ("ricRequest", cause), "reject"),
    ]
    return _encode("unsuccessfulOutcome", PROC_SUBSCRIPTION, "RICsubscriptionFailure", ies)


def encode_subscription_delete_request(
    requestor_id: int, instance_id: int, ran_function_id: int
) -> bytes:
    """A RICsubscriptionDeleteRequest for the subscription ``(requestor, instance)``."""
    return _encode(
        "initiatingMessage",
        PROC_SUBSCRIPTION_DELETE,
        "RICsubscriptionDeleteRequest",
        _request_ies(requestor_id, instance_id, ran_function_id),
    )


def decode_subscription_delete_request(data: bytes) -> tuple[int, int, int]:
    """``(requestor id, instance id, RAN function id)`` of a RICsubscriptionDeleteRequest."""
    kind, proc, name, ies = _decode(data)
    if (kind, proc) != ("initiatingMessage", PROC_SUBSCRIPTION_DELETE):
        raise MalformedMessage("e2ap-unexpected", f"{kind} {name} is not a subscription delete")
    req_id, inst_id = _fields(
        _need(ies, IE_REQUEST_ID, "RICrequestID"), "ricRequestorID", "ricInstanceID"
    )
    return req_id, inst_id, _need(ies, IE_RAN_FUNCTION_ID, "RANfunctionID")


def decode_subscription_outcome(data: bytes) -> SubscriptionOutcome:
    kind, proc, name, ies = _decode(data)
    if proc != PROC_SUBSCRIPTION or kind == "initiatingMessage":
        raise MalformedMessage("e2ap-unexpected", f"{kind} {name} is not a subscription outcome")
    req_id, inst_id = _fields(
        _need(ies, IE_REQUEST_ID, "RICrequestID"), "ricRequestorID", "ricInstanceID"
    )
    fid = _need(ies, IE_RAN_FUNCTION_ID, "RANfunctionID")
    if kind == "successfulOutcome":
        try:
            admitted = tuple(
                it["value"][1]["ricActionID"] for it in ies.get(IE_ACTIONS_ADMITTED, [])
            )
        except (KeyError, TypeError, IndexError):
            raise MalformedMessage("e2ap-ie", "malformed admitted-actions list") from None
        return SubscriptionOutcome(True, req_id, inst_id, fid, admitted)
    cause = ies.get(IE_CAUSE, ("unknown", "unknown"))
    cause_text = f"{cause[0]}:{cause[1]}" if isinstance(cause, tuple) else str(cause)
    return SubscriptionOutcome(False, req_id, inst_id, fid, cause=cause_text)
