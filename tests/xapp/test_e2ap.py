"""E2AP PDUs: the indication and the subscription procedure round trip; bytes that are
not such a PDU are refused by reason."""

import pytest

from xapp import e2ap
from xapp.errors import MalformedMessage


def test_an_indication_round_trips():
    ind = e2ap.Indication(1001, 3, 7, 1, 12, b"header", b"message")
    assert e2ap.decode_indication(e2ap.encode_indication(ind)) == ind


def test_a_subscription_request_round_trips():
    pdu = e2ap.encode_subscription_request(1001, 2, 7, b"trigger")
    assert e2ap.decode_subscription_request(pdu) == (1001, 2, 7, b"trigger")


@pytest.mark.parametrize("ok", [True, False], ids=["response", "failure"])
def test_subscription_outcomes_decode(ok):
    pdu = (
        e2ap.encode_subscription_response(1001, 2, 7, (1,))
        if ok
        else e2ap.encode_subscription_failure(1001, 2, 7)
    )
    out = e2ap.decode_subscription_outcome(pdu)
    assert (out.ok, out.requestor_id, out.instance_id, out.ran_function_id) == (ok, 1001, 2, 7)


@pytest.mark.parametrize(
    "pdu,reason",
    [
        (b"\x00\x01garbage", "e2ap-decode"),
        (e2ap.encode_subscription_request(1, 1, 7, b"t"), "e2ap-unexpected"),
    ],
    ids=["garbage", "another-procedure"],
)
def test_what_is_not_an_indication_is_refused(pdu, reason):
    with pytest.raises(MalformedMessage) as exc:
        e2ap.decode_indication(pdu)
    assert exc.value.reason == reason


def _criticalities(pdu):
    """The procedure's criticality and each IE's, decoded with pycrate directly."""
    from pycrate_asn1dir import E2AP

    asn = E2AP.E2AP_PDU_Descriptions.E2AP_PDU
    asn.from_aper(pdu)
    _, body = asn.get_val()
    ies = body["value"][1]["protocolIEs"]
    return body["criticality"], {ie["id"]: ie["criticality"] for ie in ies}


def test_criticalities_follow_e2ap():
    """RICindication is an ignore procedure; a subscription failure's Cause is reject."""
    ind = e2ap.encode_indication(e2ap.Indication(1001, 3, 7, 1, 12, b"h", b"m"))
    assert _criticalities(ind)[0] == "ignore"
    proc, ies = _criticalities(e2ap.encode_subscription_failure(1001, 2, 7))
    assert proc == "reject" and set(ies.values()) == {"reject"}
