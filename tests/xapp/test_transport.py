"""The in-process transport: a ransim E2 node and an A1 sender on one bus with the core."""

import json

from tests.xapp.conftest import a1_request, policy_for
from xapp.mtypes import MType
from xapp.transport import LocalRic


def test_local_ric_subscribes_serves_and_takes_policies(make_core, node, world):
    core = make_core(require_subscription=True)  # the handshake below makes it live
    ric = LocalRic(core)
    ric.add_e2_node(node)
    ric.start()
    assert core.subscriptions.states() == {"gnb-1": "active"}
    assert ric.to_a1[0][0] == MType.A1_POLICY_QUERY
    assert node.subscription == (1001, 1)  # the node now tags its reports with it
    resp = json.loads(ric.a1(a1_request("CREATE", "p", policy_for(world, "101", ["cell-101"]))))
    assert resp["status"] == "OK"
    for _cell_id, pdu, _ in node.indications(4, 8):
        ric.indication(node.node_id, pdu)
    core.flush()
    assert core.counters["served"] == 32 and not ric.undeliverable
    node.ran_function_id = 9  # a report for another RAN function: no subscription of ours
    ric.indication(node.node_id, next(node.indications(1, 8))[1])
    assert core.counters["dropped_no-subscription"] == 1


def test_messages_for_unknown_nodes_are_undeliverable(make_core):
    core = make_core(subscription={"e2_nodes": ["gnb-x"]})
    ric = LocalRic(core)
    ric.start()
    assert ric.undeliverable == [(MType.RIC_SUB_REQ, "gnb-x")]
