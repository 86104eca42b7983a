"""RIC_SUB_RESP / RIC_SUB_FAILURE: the outcome updates the node's subscription; a PDU that
does not decode is dropped by reason."""

from xapp import e2ap
from xapp.counters import Counters
from xapp.handlers import SubscriptionHandler
from xapp.mtypes import MType
from xapp.settings import SubscriptionSettings
from xapp.subscriptions import Subscriptions


def _handler():
    subs = Subscriptions(SubscriptionSettings(e2_nodes=("gnb-1",)))
    return SubscriptionHandler(subs, Counters()), subs


def test_a_response_makes_the_subscription_active():
    handler, subs = _handler()
    ((_, req, _),) = subs.due(0.0)
    r, i, f, _ = e2ap.decode_subscription_request(req)
    assert handler(e2ap.encode_subscription_response(r, i, f, (1,)), "gnb-1") == []
    assert subs.states() == {"gnb-1": "active"}


def test_a_failure_marks_it_failed():
    handler, subs = _handler()
    ((_, req, _),) = subs.due(0.0)
    r, i, f, _ = e2ap.decode_subscription_request(req)
    handler(e2ap.encode_subscription_failure(r, i, f), "gnb-1")
    assert subs.states() == {"gnb-1": "failed"}


def test_an_undecodable_outcome_is_dropped():
    handler, subs = _handler()
    assert handler(b"\x00junk", "gnb-1") == []
    assert handler.counters["dropped_e2ap-decode"] == 1
    assert subs.states() == {"gnb-1": "new"}
    assert MType.RIC_SUB_FAILURE in handler.mtypes
