"""The core: builds its parts and handlers, dispatches by message type, never lets an
error out of ``handle``, and originates the A1 query, subscriptions and timed flushes."""

import json

from tests.xapp.conftest import a1_request, policy_for
from xapp.mtypes import MType
from xapp.outputs import decode_csi_entry


def _serve(core, node, n=4, ues=8):
    for _, pdu, _ in node.indications(n, ues):
        core.handle(MType.RIC_INDICATION, pdu, "gnb-1")
    return core.flush()


def test_one_handler_per_message_type(core):
    assert set(core.mtypes) == {
        MType.RIC_INDICATION,
        MType.A1_POLICY_REQ,
        MType.RIC_SUB_RESP,
        MType.RIC_SUB_FAILURE,
    }


def test_indications_are_reconstructed_into_sdl(core, node):
    _serve(core, node, n=4, ues=8)
    assert core.counters["served"] == 32
    entries = core.sdl.find_and_get("lasco-csi", "csi/")
    assert entries
    assert all(k.startswith(("csi/cell-101/", "csi/cell-102/")) for k in entries)
    entry = decode_csi_entry(next(iter(entries.values())))
    assert entry["h_hat"].shape == (2, 32, 32) and entry["env"] == ""
    assert core.dataset.count("cell:cell-101") > 0  # labelled reports collected


def test_a1_create_swaps_in_the_proxy_and_cells_are_served_with_it(core, world, node):
    replies = core.handle(
        MType.A1_POLICY_REQ, a1_request("CREATE", "p-101", policy_for(world, "101", ["cell-101"]))
    )
    assert [m for m, _ in replies] == [MType.A1_POLICY_RESP]
    assert json.loads(replies[0][1]) == {
        "policy_type_id": 30001,
        "policy_instance_id": "p-101",
        "handler_id": "csi-xapp",
        "status": "OK",
    }
    assert core.runtime.proxies["p-101"].version == 1
    assert dict(core.cell_env) == {"cell-101": "101"}
    _serve(core, node)
    e101 = decode_csi_entry(
        next(iter(core.sdl.find_and_get("lasco-csi", "csi/cell-101/").values()))
    )
    e102 = decode_csi_entry(
        next(iter(core.sdl.find_and_get("lasco-csi", "csi/cell-102/").values()))
    )
    assert (e101["env"], e101["sam_version"]) == ("101", 1)
    assert (e102["env"], e102["sam_version"]) == ("", None)  # no policy: LAM alone


def test_unknown_message_types_are_counted(core):
    assert core.handle(4242, b"x") == []
    assert core.counters["unhandled_mtype_4242"] == 1


def test_an_unexpected_error_in_a_handler_never_escapes(core, node, monkeypatch):
    def broken(report, t_in):
        raise RuntimeError("boom")

    monkeypatch.setattr(core.batcher, "add", broken)
    _, pdu, _ = next(node.indications(1, 4))
    assert core.handle(MType.RIC_INDICATION, pdu, "gnb-1") == []
    assert core.counters["internal_error"] == 1
    assert core.counters["dropped_internal-error"] == 1


def test_tick_flushes_a_batch_that_waited_max_wait(make_core, node):
    core = make_core(micro_batch={"max_batch": 1000, "max_wait_ms": 0})
    _, pdu, _ = next(node.indications(1, 4))
    core.handle(MType.RIC_INDICATION, pdu, "gnb-1")
    assert core.counters["flushes"] == 0 and core.batcher.queued_rows == 4
    core.tick()
    assert core.counters["flushes"] == 1 and core.counters["served"] == 4


def test_a_full_batch_is_flushed_by_the_message_that_fills_it(make_core, node):
    core = make_core(micro_batch={"max_batch": 16, "max_wait_ms": 1000})
    _, pdu, _ = next(node.indications(1, 16))
    core.handle(MType.RIC_INDICATION, pdu, "gnb-1")
    assert core.counters["served"] == 16 and core.counters["flushes"] == 1


def test_restart_recovers_policies_from_sdl_before_a1_answers(core, world, make_core):
    for env in ("101", "102"):
        core.handle(
            MType.A1_POLICY_REQ,
            a1_request("CREATE", f"p-{env}", policy_for(world, env, [f"cell-{env}"])),
        )
    fresh = make_core(with_sdl=core.sdl)
    assert fresh.restore() == 2
    assert set(fresh.runtime.proxies) == {"p-101", "p-102"}
    assert dict(fresh.cell_env) == {"cell-101": "101", "cell-102": "102"}
    assert sorted(fresh.policies) == ["p-101", "p-102"]
    msgs = fresh.start_messages()
    assert msgs[0][0] == MType.A1_POLICY_QUERY
    assert json.loads(msgs[0][1]) == {"policy_type_id": 30001}


def test_start_messages_subscribe_to_every_configured_node(make_core):
    core = make_core(subscription={"e2_nodes": ["gnb-1", "gnb-2"]})
    subs = [m for m in core.start_messages() if m[0] == MType.RIC_SUB_REQ]
    assert [meid for _, _, meid in subs] == ["gnb-1", "gnb-2"]


def test_subscriptions_with_a_ransim_node(core, node):
    subs = [m for m in core.start_messages() if m[0] == MType.RIC_SUB_REQ]
    assert [m[2] for m in subs] == ["gnb-1"]
    replies = node.handle(MType.RIC_SUB_REQ, subs[0][1])
    assert replies[0][0] == MType.RIC_SUB_RESP and node.report_period_ms == 10
    core.handle(replies[0][0], replies[0][1], "gnb-1")
    assert core.subscriptions.states() == {"gnb-1": "active"}
    assert core.tick(now=1e9) == []  # active: nothing more to send


def test_answers_carry_the_configured_handler_id(make_core):
    core = make_core(a1={"handler_id": "csi-b"})
    body = json.loads(core.handle(MType.A1_POLICY_REQ, a1_request("DELETE", "p"))[0][1])
    assert body["handler_id"] == "csi-b"


def test_after_the_query_window_a1s_answer_is_authoritative(core, world, make_core):
    """A policy deleted while the xApp was down: SDL still holds it, A1 does not re-send
    it, so it is dropped once the query window has passed; a re-sent one stays."""
    import time

    for env in ("101", "102"):
        core.handle(
            MType.A1_POLICY_REQ,
            a1_request("CREATE", f"p-{env}", policy_for(world, env, [f"cell-{env}"])),
        )
    fresh = make_core(with_sdl=core.sdl, a1={"query_window_s": 5})
    assert fresh.restore() == 2
    fresh.start_messages()  # the query goes out
    resend = a1_request("CREATE", "p-102", policy_for(world, "102", ["cell-102"]))
    fresh.handle(MType.A1_POLICY_REQ, resend)
    fresh.tick(time.monotonic() + 1)  # inside the window: nothing dropped yet
    assert sorted(fresh.policies) == ["p-101", "p-102"]
    fresh.tick(time.monotonic() + 6)
    assert sorted(fresh.policies) == ["p-102"] and fresh.counters["restored_dropped"] == 1
    assert dict(fresh.cell_env) == {"cell-102": "102"}


def test_a_policy_query_that_was_not_sent_drops_nothing(core, world, make_core):
    import time

    core.handle(
        MType.A1_POLICY_REQ, a1_request("CREATE", "p-101", policy_for(world, "101", ["cell-101"]))
    )
    fresh = make_core(with_sdl=core.sdl, a1={"query_window_s": 1})
    assert fresh.restore() == 1
    fresh.start_messages()
    fresh.query_failed()  # the A1 mediator was not reachable
    fresh.tick(time.monotonic() + 10)
    assert sorted(fresh.policies) == ["p-101"] and fresh.counters["a1_query_send_failed"] == 1
