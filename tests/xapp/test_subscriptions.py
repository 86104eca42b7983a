"""E2 subscriptions: one request per configured node, retried after a failure with
backoff and after no answer within answer_timeout_s; node list changes at run time."""

import pytest

from xapp import e2ap
from xapp.e2sm_csi import decode_event_trigger
from xapp.mtypes import MType
from xapp.settings import SubscriptionSettings
from xapp.subscriptions import REQUESTOR_ID, Subscriptions

BACKOFF = (1.0, 2.0, 30.0)


def _subs(nodes=("gnb-1",), **over):
    return Subscriptions(
        SubscriptionSettings(e2_nodes=nodes, resubscribe_backoff_s=BACKOFF, **over)
    )


def _fail(subs, meid, req, now):
    r, i, f, _ = e2ap.decode_subscription_request(req)
    subs.outcome(
        meid, e2ap.decode_subscription_outcome(e2ap.encode_subscription_failure(r, i, f)), now
    )


def test_a_request_carries_the_settings():
    subs = _subs(report_period_ms=20, ran_function_id=9)
    [(mtype, payload, meid)] = subs.due(0.0)
    assert (mtype, meid) == (MType.RIC_SUB_REQ, "gnb-1")
    requestor, instance, function, trigger = e2ap.decode_subscription_request(payload)
    assert (requestor, instance, function) == (REQUESTOR_ID, 1, 9)
    assert decode_event_trigger(trigger) == 20


@pytest.mark.parametrize("failures,wait_s", [(1, 1.0), (2, 2.0), (3, 30.0), (6, 30.0)])
def test_failures_are_retried_with_backoff_the_last_step_repeating(failures, wait_s):
    subs, now = _subs(), 0.0
    for _ in range(failures):
        now += 1000.0  # past any wait: the next attempt is due
        [(_, req, _)] = subs.due(now)
        _fail(subs, "gnb-1", req, now)
    assert subs.states() == {"gnb-1": "failed"}
    assert subs.due(now + wait_s - 0.01) == []
    assert [m for _, _, m in subs.due(now + wait_s)] == ["gnb-1"]


@pytest.mark.parametrize("timeout_s", [5.0, 0.5])
def test_an_unanswered_request_is_sent_again(timeout_s):
    subs = _subs(answer_timeout_s=timeout_s)
    subs.due(0.0)
    wait = max(timeout_s, BACKOFF[0])
    assert subs.due(wait - 0.01) == []
    assert len(subs.due(wait)) == 1


def test_node_list_changes_add_and_forget_nodes():
    subs = _subs(nodes=("gnb-1", "gnb-2"))
    subs.set_nodes(["gnb-2", "gnb-3"])
    assert subs.states() == {"gnb-2": "new", "gnb-3": "new"}


def test_an_outcome_for_an_unknown_instance_changes_nothing():
    subs = _subs()
    subs.due(0.0)
    outcome = e2ap.SubscriptionOutcome(True, REQUESTOR_ID, 99, 7)
    subs.outcome("gnb-1", outcome)
    assert subs.states() == {"gnb-1": "pending"}


def _answer(subs, meid, req, admitted=(1,)):
    r, i, f, _ = e2ap.decode_subscription_request(req)
    pdu = e2ap.encode_subscription_response(r, i, f, admitted)
    subs.outcome(meid, e2ap.decode_subscription_outcome(pdu), 0.0)


def test_a_response_without_the_report_action_admitted_is_a_failure():
    subs = _subs()
    [(_, req, _)] = subs.due(0.0)
    _answer(subs, "gnb-1", req, admitted=(2,))
    assert subs.states() == {"gnb-1": "failed"}
    assert subs.nodes["gnb-1"].cause == "report action not admitted"


def test_a_node_that_leaves_is_deleted_and_instance_ids_are_never_reused():
    subs = _subs(nodes=("gnb-1", "gnb-2"))
    for _, req, meid in subs.due(0.0):
        _answer(subs, meid, req)
    subs.set_nodes(["gnb-1", "gnb-3"])
    out = subs.due(1.0)
    deletes = [(m, e2ap.decode_subscription_delete_request(p)) for t, p, m in out
               if t == MType.RIC_SUB_DEL_REQ]  # fmt: skip
    assert deletes == [("gnb-2", (REQUESTOR_ID, 2, 7))]
    [(_, req3, _)] = [o for o in out if o[0] == MType.RIC_SUB_REQ]
    assert e2ap.decode_subscription_request(req3)[1] == 3  # not gnb-2's 2
    stop = subs.stop()
    assert sorted(m for _, _, m in stop) == ["gnb-1", "gnb-3"]
    assert all(t == MType.RIC_SUB_DEL_REQ for t, _, _ in stop)


def test_a_ransim_node_stops_tagging_reports_once_its_subscription_is_deleted(node):
    from xapp.e2sm_csi import encode_event_trigger

    req = e2ap.encode_subscription_request(REQUESTOR_ID, 4, 7, encode_event_trigger(10))
    node.handle(MType.RIC_SUB_REQ, req)
    assert node.subscription == (REQUESTOR_ID, 4)
    node.handle(MType.RIC_SUB_DEL_REQ, e2ap.encode_subscription_delete_request(REQUESTOR_ID, 4, 7))
    assert node.subscription is None
