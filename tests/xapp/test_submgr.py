"""Subscriptions through submgr's REST API with ricxappframe's subscriber, against a
local stand-in for submgr: the instance id submgr assigns, indications matched to live
subscriptions, deletion when a node leaves and at stop, errors retried."""

import time

import pytest

from tests.servers import free_port
from tests.xapp.submgr_standin import SubmgrStandIn
from xapp import e2ap
from xapp.mtypes import MType
from xapp.settings import SubscriptionSettings
from xapp.submgr import RicxappSubmgrClient, SubmgrSubscriptions


def _wait(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


@pytest.fixture()
def submgr():
    stand_in = SubmgrStandIn(refuse_meids=("gnb-bad",))
    yield stand_in
    stand_in.close()


def _subscriptions(submgr, nodes, **over):
    port = free_port()
    settings = SubscriptionSettings(
        e2_nodes=tuple(nodes), mode="submgr", callback_host="127.0.0.1", callback_port=port,
        resubscribe_backoff_s=(0.2,), **over,
    )  # fmt: skip
    subs = SubmgrSubscriptions(settings, None, ("127.0.0.1", port, 4560))
    subs.client = RicxappSubmgrClient(
        submgr.url, port, lambda body: subs.notification(body, time.monotonic())
    )
    return subs


def _ind(instance, ran_function=7):
    return e2ap.Indication(123, instance, ran_function, 1, 1, b"", b"")


def test_submgr_assigns_the_instance_id_and_indications_are_matched_to_it(submgr):
    subs = _subscriptions(submgr, ["gnb-1", "gnb-bad"])
    assert subs.due(time.monotonic()) == []  # nothing goes over RMR
    posted = {p["Meid"]: p for p in submgr.posted}
    assert set(posted) == {"gnb-1", "gnb-bad"}
    params = posted["gnb-1"]
    assert params["RANFunctionID"] == 7 and params["ClientEndpoint"]["Host"] == "127.0.0.1"
    [detail] = params["SubscriptionDetails"]
    assert detail["ActionToBeSetupList"][0]["ActionType"] == "report" and detail["EventTriggers"]
    _wait(lambda: subs.states() == {"gnb-1": "active", "gnb-bad": "failed"})
    assert subs.nodes["gnb-1"].e2_instance_id == 4242  # submgr's, not one of ours
    assert subs.nodes["gnb-bad"].cause == "RAN function not supported"
    assert subs.matches("gnb-1", _ind(4242))
    assert not subs.matches("gnb-1", _ind(1))  # another instance id
    assert not subs.matches("gnb-1", _ind(4242, ran_function=9))
    assert not subs.matches("gnb-2", _ind(4242)) and not subs.matches(None, _ind(4242))


def test_a_failed_subscription_is_deleted_and_retried_after_its_backoff(submgr):
    subs = _subscriptions(submgr, ["gnb-bad"])
    subs.due(time.monotonic())
    _wait(lambda: subs.states() == {"gnb-bad": "failed"})
    subs.due(time.monotonic())  # inside the backoff: nothing
    assert len(submgr.posted) == 1
    time.sleep(0.25)
    subs.due(time.monotonic())
    assert submgr.deleted == ["sub-1"] and len(submgr.posted) == 2


def test_a_node_that_leaves_and_every_node_at_stop_are_deleted(submgr):
    subs = _subscriptions(submgr, ["gnb-1", "gnb-2"])
    subs.due(time.monotonic())
    _wait(lambda: set(subs.states().values()) == {"active"})
    ids = {p["Meid"]: f"sub-{i}" for i, p in enumerate(submgr.posted, 1)}
    subs.set_nodes(["gnb-1"])
    subs.due(time.monotonic())
    assert submgr.deleted == [ids["gnb-2"]]
    subs.stop()
    assert submgr.deleted == [ids["gnb-2"], ids["gnb-1"]] and submgr.live == {}


def test_no_notification_in_time_resubscribes(submgr):
    subs = _subscriptions(submgr, ["gnb-1"], answer_timeout_s=0.05)
    subs.notification = lambda body, now: True  # notifications get lost
    subs.due(time.monotonic())
    time.sleep(0.1)
    subs.due(time.monotonic())  # pending too long: failed, backoff starts
    assert subs.states() == {"gnb-1": "failed"}
    time.sleep(0.25)
    subs.due(time.monotonic())
    assert submgr.deleted == ["sub-1"] and len(submgr.posted) == 2


def test_the_core_serves_only_indications_of_a_live_subscription(make_core, node, submgr):
    port = free_port()
    core = make_core(
        require_subscription=True,
        subscription={"e2_nodes": ["gnb-1"], "mode": "submgr", "callback_host": "127.0.0.1",
                      "callback_port": port},
        micro_batch={"max_batch": 8},
    )  # fmt: skip
    subs = core.subscriptions
    subs.client = RicxappSubmgrClient(
        submgr.url, port, lambda body: subs.notification(body, time.monotonic())
    )
    core.tick()
    _wait(lambda: subs.states() == {"gnb-1": "active"})
    node.subscription = (123, 4242)  # what submgr set up with the node
    _, pdu, _ = next(node.indications(1, 8))
    core.handle(MType.RIC_INDICATION, pdu, "gnb-1")
    node.subscription = (123, 7)  # a stale instance id
    _, stale, _ = next(node.indications(1, 8))
    core.handle(MType.RIC_INDICATION, stale, "gnb-1")
    core.flush()
    assert core.counters["served"] == 8 and core.counters["dropped_no-subscription"] == 1


class _NotifiesFirst:
    """A submgr client whose notification reaches the xApp before the POST's answer (as
    submgr may do under load): the SubscriptionId is not known yet when it arrives."""

    def __init__(self, subs_ref, cause=""):
        self.subs, self.cause, self.deleted = subs_ref, cause, []

    def subscribe(self, params):
        sid = f"sub-{params['Meid']}"
        inst = {"ErrorCause": self.cause} if self.cause else {"E2EventInstanceId": 77}
        body = {"SubscriptionId": sid, "SubscriptionInstances": [inst]}
        assert self.subs[0].notification(body, time.monotonic()) is False  # not ours yet
        return 201, {"SubscriptionId": sid}

    def unsubscribe(self, subscription_id):
        self.deleted.append(subscription_id)
        return 204


@pytest.mark.parametrize(("cause", "state"), [("", "active"), ("E2 node refused", "failed")])
def test_a_notification_before_the_posts_answer_is_applied_when_the_id_arrives(cause, state):
    settings = SubscriptionSettings(e2_nodes=("gnb-1",), mode="submgr", answer_timeout_s=60.0)
    ref = []
    subs = SubmgrSubscriptions(settings, _NotifiesFirst(ref, cause), ("127.0.0.1", 8088, 4560))
    ref.append(subs)
    subs.due(time.monotonic())
    assert subs.states() == {"gnb-1": state}  # at once, not after the answer timeout
    assert subs.matches("gnb-1", _ind(77)) is (state == "active")
    for i in range(100):  # unknown ids beyond the few kept are forgotten, newest kept
        subs.notification({"SubscriptionId": f"stray-{i}"}, time.monotonic())
    assert len(subs._early) <= 64 and "stray-99" in subs._early
