import json

import numpy as np
import pytest

from tests.xapp.conftest import a1_request, policy_for
from xapp import e2ap
from xapp.core import CsiXapp
from xapp.e2sm_csi import encode_report
from xapp.mtypes import MType
from xapp.outputs import decode_csi_entry


def _serve(core, node, n=4, ues=8):
    for _, pdu, _ in node.indications(n, ues):
        core.handle(MType.RIC_INDICATION, pdu, "gnb-1")
    return core.flush()


def test_indications_are_reconstructed_into_sdl(core, node):
    served = _serve(core, node, n=4, ues=8)
    assert core.counters["served"] == 32 and served in (0, 32 - 32 % 32)
    entries = core.sdl.find_and_get("lasco-csi", "csi/")
    assert entries and all(k.startswith(("csi/cell-101/", "csi/cell-102/")) for k in entries)
    entry = decode_csi_entry(next(iter(entries.values())))
    assert entry["h_hat"].shape == (2, 32, 32) and entry["env"] == ""
    assert core.dataset.count("cell:cell-101") > 0  # labelled reports collected


def test_micro_batch_flushes_at_max_batch(core, node):
    core.settings = core.settings.__class__(**{**core.settings.__dict__, "max_batch": 16})
    _, pdu, _ = next(node.indications(1, 16))
    core.handle(MType.RIC_INDICATION, pdu, "gnb-1")
    assert core.counters["served"] == 16 and core.counters["flushes"] == 1
    _, pdu, _ = next(node.indications(1, 4))
    core.handle(MType.RIC_INDICATION, pdu, "gnb-1")
    assert core.counters["flushes"] == 1  # 4 < 16: waits for more or for max_wait
    core.tick()  # max_wait_ms (2 ms) has passed by now or soon
    import time

    time.sleep(0.005)
    core.tick()
    assert core.counters["flushes"] == 2 and core.counters["served"] == 20


def test_a1_create_swaps_in_the_proxy_and_answers_ok(core, world, node):
    replies = core.handle(
        MType.A1_POLICY_REQ, a1_request("CREATE", "p-101", policy_for(world, "101", ["cell-101"]))
    )
    assert len(replies) == 1 and replies[0][0] == MType.A1_POLICY_RESP
    body = json.loads(replies[0][1])
    assert body == {
        "policy_type_id": 30001,
        "policy_instance_id": "p-101",
        "handler_id": "csi-xapp",
        "status": "OK",
    }
    assert isinstance(body["policy_type_id"], int)
    assert core.runtime.proxies["101"].version == 1
    _serve(core, node)
    e101 = decode_csi_entry(
        next(iter(core.sdl.find_and_get("lasco-csi", "csi/cell-101/").values()))
    )
    e102 = decode_csi_entry(
        next(iter(core.sdl.find_and_get("lasco-csi", "csi/cell-102/").values()))
    )
    assert (e101["env"], e101["sam_version"]) == ("101", 1)
    assert (e102["env"], e102["sam_version"]) == ("", None)  # no policy: LAM alone


@pytest.mark.parametrize(
    "make,reason",
    [
        (lambda w: b"not json", "a1-not-json"),
        (lambda w: b"[1, 2]", "a1-not-object"),
        (
            lambda w: json.dumps(
                {
                    "operation": "CREATE",
                    "policy_type_id": 30001,
                    "policy_instance_id": "x",
                    "payload": "{}",
                }
            ).encode(),
            "a1-field",
        ),
        (
            lambda w: a1_request("CREATE", "x", policy_for(w, "101", ["c"]), type_id="20008"),
            "a1-type",
        ),
        (lambda w: a1_request("PATCH", "x", policy_for(w, "101", ["c"])), "a1-operation"),
        (
            lambda w: json.dumps(
                {
                    "operation": "CREATE",
                    "policy_type_id": "30001",
                    "policy_instance_id": "x",
                    "payload": "{oops",
                }
            ).encode(),
            "a1-payload",
        ),
        (lambda w: a1_request("CREATE", "x", policy_for(w, "101", [])), "a1-schema"),
        (
            lambda w: a1_request("CREATE", "x", policy_for(w, "101", ["c"], lam_sha256="0" * 64)),
            "lam-mismatch",
        ),
        (
            lambda w: a1_request(
                "CREATE",
                "x",
                policy_for(
                    w,
                    "101",
                    ["c"],
                    proxy={
                        "store_uri": str(w.root / "store"),
                        "name": "proxy-101",
                        "version": 1,
                        "sha256": "e" * 64,
                    },
                ),
            ),
            "sha256-mismatch",
        ),
        (
            lambda w: a1_request(
                "CREATE",
                "x",
                policy_for(
                    w,
                    "101",
                    ["c"],
                    proxy={
                        "store_uri": str(w.root / "store"),
                        "name": "proxy-999",
                        "version": 1,
                        "sha256": "e" * 64,
                    },
                ),
            ),
            "store",
        ),
        (
            lambda w: a1_request(
                "CREATE",
                "x",
                policy_for(
                    w,
                    "101",
                    ["c"],
                    proxy={
                        "store_uri": str(w.root / "store"),
                        "name": "sam_ref",
                        "version": 1,
                        "sha256": w.store.fetch("sam_ref").manifest.onnx_sha256,
                    },
                ),
            ),
            "incompatible",
        ),
    ],
    ids=[
        "not-json",
        "not-object",
        "number-type-id",
        "other-type",
        "bad-operation",
        "payload-not-json",
        "empty-cells",
        "other-lam",
        "sha-mismatch",
        "missing-model",
        "not-a-proxy",
    ],
)
def test_bad_a1_policies_answer_error_and_keep_the_running_sam(core, world, make, reason):
    core.handle(
        MType.A1_POLICY_REQ, a1_request("CREATE", "p-101", policy_for(world, "101", ["cell-101"]))
    )
    running = core.runtime.proxies["101"]
    replies = core.handle(MType.A1_POLICY_REQ, make(world))
    body = json.loads(replies[0][1])
    assert body["status"] == "ERROR" and reason in body["reason"]
    assert body["policy_type_id"] == 30001
    assert core.runtime.proxies["101"] is running
    assert core.cell_env == {"cell-101": "101"}
    assert core.counters[f"a1_error_{reason}"] == 1


def test_tampered_proxy_in_the_store_is_refused(core, world, tmp_path):
    import shutil

    from model_store import ModelStore

    copy = tmp_path / "store"
    shutil.copytree(world.root / "store", copy)
    onnx = copy / "proxy-102" / "1" / "model.onnx"
    data = bytearray(onnx.read_bytes())
    data[-5] ^= 0x10
    onnx.write_bytes(bytes(data))
    pol = policy_for(world, "102", ["cell-102"])
    pol["proxy"]["store_uri"] = str(copy)
    core.store = ModelStore(world.root / "store", core.store.trusted)
    body = json.loads(core.handle(MType.A1_POLICY_REQ, a1_request("CREATE", "p", pol))[0][1])
    assert body["status"] == "ERROR" and "store-sha256-mismatch" in body["reason"]
    assert "102" not in core.runtime.proxies


def test_delete_answers_deleted_and_cells_go_back_to_the_lam(core, world):
    core.handle(
        MType.A1_POLICY_REQ, a1_request("CREATE", "p-101", policy_for(world, "101", ["cell-101"]))
    )
    body = json.loads(core.handle(MType.A1_POLICY_REQ, a1_request("DELETE", "p-101"))[0][1])
    assert body["status"] == "DELETED" and body["policy_instance_id"] == "p-101"
    assert "101" not in core.runtime.proxies and core.cell_env == {}
    assert core.sdl.find_and_get("lasco-csi", "policy/") == {}


def test_lam_only_policy_removes_the_proxy(core, world):
    core.handle(
        MType.A1_POLICY_REQ, a1_request("CREATE", "p-101", policy_for(world, "101", ["cell-101"]))
    )
    pol = {
        "environment_id": "101",
        "cells": ["cell-101"],
        "mode": "lam-only",
        "lam_sha256": world.lam_sha,
    }
    body = json.loads(core.handle(MType.A1_POLICY_REQ, a1_request("UPDATE", "p-101", pol))[0][1])
    assert body["status"] == "OK" and "101" not in core.runtime.proxies


def test_restart_recovers_policies_from_sdl_before_a1_answers(core, world):
    core.handle(
        MType.A1_POLICY_REQ, a1_request("CREATE", "p-101", policy_for(world, "101", ["cell-101"]))
    )
    core.handle(
        MType.A1_POLICY_REQ, a1_request("CREATE", "p-102", policy_for(world, "102", ["cell-102"]))
    )
    from serving import LascoRuntime

    fresh = CsiXapp(
        core.settings, LascoRuntime.from_store(world.store, threads=1), world.store, sdl=core.sdl
    )
    assert fresh.restore() == 2
    assert set(fresh.runtime.proxies) == {"101", "102"}
    assert fresh.cell_env == {"cell-101": "101", "cell-102": "102"}
    msgs = fresh.start_messages()
    assert msgs[0][0] == MType.A1_POLICY_QUERY and json.loads(msgs[0][1]) == {
        "policy_type_id": 30001
    }


def _report_pdu(node, header, message):
    return e2ap.encode_indication(e2ap.Indication(1, 1, 7, 1, 1, header, message))


def test_bad_e2_input_is_counted_by_reason_and_the_rest_served(core, node):
    rep, _ = node.report("cell-101", 4)
    good_h, good_m = encode_report(rep)
    pdu = _report_pdu(node, good_h, good_m)
    nan = rep.codewords.copy()
    nan[1, 3] = np.nan
    nan_h, nan_m = encode_report(rep.__class__(**{**rep.__dict__, "codewords": nan}), "float32")
    other_proj = rep.__class__(**{**rep.__dict__, "projection_id": "gauss-9-512"})
    cases = {
        "e2ap-decode": [b"\x00\x01garbage", pdu[: len(pdu) // 2]],
        "e2sm-msgpack": [_report_pdu(node, b"\xc1", good_m)],
        "e2sm-schema": [_report_pdu(node, good_h, b"\x80")],
        "unknown-projection": [_report_pdu(node, *encode_report(other_proj))],
        "oversize": [b"\x00" * (core.settings.max_payload_bytes + 1)],
    }
    for payloads in cases.values():
        for p in payloads:
            assert core.handle(MType.RIC_INDICATION, p, "gnb-1") == []
    core.handle(MType.RIC_INDICATION, _report_pdu(node, nan_h, nan_m), "gnb-1")
    core.handle(MType.RIC_INDICATION, pdu, "gnb-1")
    core.flush()
    for reason, payloads in cases.items():
        assert core.counters[f"dropped_{reason}"] == len(payloads), reason
    assert core.counters["dropped_non-finite"] == 1
    assert core.counters["served"] == 3 + 4  # the NaN report's other rows, and the good one


def test_unknown_message_types_are_counted(core):
    assert core.handle(4242, b"x") == []
    assert core.counters["unhandled_mtype_4242"] == 1


def test_subscriptions_with_a_ransim_node(core, node):
    msgs = core.start_messages()
    subs = [m for m in msgs if m[0] == MType.RIC_SUB_REQ]
    assert [m[2] for m in subs] == ["gnb-1"]
    replies = node.handle(MType.RIC_SUB_REQ, subs[0][1])
    assert replies[0][0] == MType.RIC_SUB_RESP and node.report_period_ms == 10
    core.handle(replies[0][0], replies[0][1], "gnb-1")
    assert core.subscriptions.states() == {"gnb-1": "active"}
    assert core.tick(now=1e9) == []  # active: nothing more to send


def test_subscription_failure_is_retried_with_backoff(core):
    req = core.start_messages()[1][1]
    r, i, f, _ = e2ap.decode_subscription_request(req)
    core.handle(MType.RIC_SUB_FAILURE, e2ap.encode_subscription_failure(r, i, f), "gnb-1")
    assert core.subscriptions.states() == {"gnb-1": "failed"}
    import time

    now = time.monotonic()
    assert core.tick(now=now) == []  # backoff of 1 s not over
    retry = core.tick(now=now + 60)
    assert [m[2] for m in retry] == ["gnb-1"] and retry[0][0] == MType.RIC_SUB_REQ


def test_update_to_another_environment_unloads_the_old_proxy(core, world):
    core.handle(
        MType.A1_POLICY_REQ, a1_request("CREATE", "p", policy_for(world, "101", ["cell-101"]))
    )
    body = json.loads(
        core.handle(
            MType.A1_POLICY_REQ, a1_request("UPDATE", "p", policy_for(world, "102", ["cell-101"]))
        )[0][1]
    )
    assert body["status"] == "OK"
    assert set(core.runtime.proxies) == {"102"} and core.cell_env == {"cell-101": "102"}
