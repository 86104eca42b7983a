"""A1_POLICY_REQ as the A1 mediator sends it: every refusal answered ERROR with its
reason, the running SAM kept; CREATE/UPDATE answered OK, DELETE answered DELETED."""

import json

import pytest

from serving import LascoRuntime
from tests.xapp.conftest import a1_request, policy_for
from xapp.counters import Counters
from xapp.errors import PolicyRefused
from xapp.handlers.a1_policy import A1PolicyHandler, instance_id_of, parse_request
from xapp.mtypes import MType
from xapp.outputs import InMemorySdl
from xapp.policies import PolicyTable


@pytest.fixture()
def handler(world):
    rt = LascoRuntime.from_store(world.store, threads=1)
    counters = Counters()
    table = PolicyTable(
        rt,
        world.store,
        InMemorySdl(),
        counters,
        namespace="ns",
        store_uri=str(world.root / "store"),
    )
    yield A1PolicyHandler(table, counters, "csi-xapp")
    rt.close()


def _body(replies):
    assert [m for m, _ in replies] == [MType.A1_POLICY_RESP]
    return json.loads(replies[0][1])


def _raw(**over):
    req = {"operation": "CREATE", "policy_type_id": "30001", "policy_instance_id": "x"}
    req["payload"] = "{}"
    return json.dumps({**req, **over}).encode()


MALFORMED = {
    "not-json": (b"not json", "a1-not-json"),
    "not-object": (b"[1, 2]", "a1-not-object"),
    "number-type-id": (_raw(policy_type_id=30001), "a1-field"),
    "missing-payload": (json.dumps({"operation": "DELETE"}).encode(), "a1-field"),
    "empty-instance": (_raw(policy_instance_id=""), "a1-field"),
    "other-type": (_raw(policy_type_id="20008"), "a1-type"),
    "bad-operation": (_raw(operation="PATCH"), "a1-operation"),
    "payload-not-json": (_raw(payload="{oops"), "a1-payload"),
    "payload-not-a-policy": (_raw(payload='{"cells": []}'), "a1-schema"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_requests_are_refused_by_reason(case):
    payload, reason = MALFORMED[case]
    with pytest.raises(PolicyRefused) as exc:
        parse_request(payload)
    assert exc.value.reason == reason


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_requests_are_answered_error_and_counted(handler, case):
    payload, reason = MALFORMED[case]
    body = _body(handler(payload, None))
    assert body["status"] == "ERROR" and reason in body["reason"]
    assert body["policy_type_id"] == 30001 and body["handler_id"] == "csi-xapp"
    assert handler.counters["a1_error"] == 1 and handler.counters[f"a1_error_{reason}"] == 1


@pytest.mark.parametrize(
    "payload,expected",
    [(b"junk", ""), (_raw(policy_instance_id=7), ""), (_raw(policy_instance_id="p-1"), "p-1")],
    ids=["not-json", "not-a-string", "string"],
)
def test_error_answers_name_the_instance_when_they_can(payload, expected):
    assert instance_id_of(payload) == expected


def test_create_then_delete(handler, world):
    create = a1_request("CREATE", "p-101", policy_for(world, "101", ["cell-101"]))
    assert _body(handler(create, None))["status"] == "OK"
    assert handler.policies.environment_of("cell-101") == "101"
    body = _body(handler(a1_request("DELETE", "p-101"), None))
    assert body == {
        "policy_type_id": 30001,
        "policy_instance_id": "p-101",
        "handler_id": "csi-xapp",
        "status": "DELETED",
    }
    assert handler.counters["a1_ok"] == 1 and handler.counters["a1_deleted"] == 1


def test_a_policy_the_table_refuses_is_answered_error_and_the_sam_stays(handler, world):
    handler(a1_request("CREATE", "p-101", policy_for(world, "101", ["cell-101"])), None)
    running = handler.policies.runtime.proxies["p-101"]
    other_lam = policy_for(world, "101", ["cell-9"], lam_sha256="0" * 64)
    body = _body(handler(a1_request("UPDATE", "p-101", other_lam), None))
    assert body["status"] == "ERROR" and "lam-mismatch" in body["reason"]
    assert body["policy_instance_id"] == "p-101"
    assert handler.policies.runtime.proxies["p-101"] is running
