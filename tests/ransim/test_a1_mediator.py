"""The local A1 mediator: the A1-P v2 routes with the mediator's status codes, and its side
of A1 toward the xApp (the exact A1_POLICY_REQ format, status from the xApp's answers)."""

import json
import threading

import httpx
import pytest

from ransim.a1_mediator import A1Mediator
from rapp.a1 import policy_type_body
from tests.xapp import conftest as xapp_fixtures
from tests.xapp.conftest import policy_for
from xapp.transport import LocalRic

# The xApp tests' store of tiny models and proxies, and a core over it.
world, make_core = xapp_fixtures.world, xapp_fixtures.make_core

TYPES = "/A1-P/v2/policytypes"
TYPE = f"{TYPES}/30001"
POLICY = f"{TYPE}/policies/p-1"
LAM = "a" * 64
VALID = {"environment_id": "e1", "cells": ["c1"], "mode": "lam-only", "lam_sha256": LAM}


def answer_ok(request: bytes) -> bytes:
    req = json.loads(request)
    status = "DELETED" if req["operation"] == "DELETE" else "OK"
    body = {"policy_type_id": 30001, "policy_instance_id": req["policy_instance_id"]}
    return json.dumps({**body, "handler_id": "fake", "status": status}).encode()


@pytest.fixture(scope="module")
def mediator():
    with A1Mediator(answer_ok) as ric:
        yield ric


@pytest.fixture()
def ric(mediator):
    """The module's mediator, empty."""
    assert mediator.drain()
    mediator.reset()
    mediator.start()
    return mediator


@pytest.fixture()
def http(ric):
    with httpx.Client(base_url=ric.url, timeout=10) as client:
        yield client


def _given(ric, http, state):
    """``state``: "" (nothing), "type" (type 30001) or "instance" (and instance p-1)."""
    if state in ("type", "instance"):
        assert http.put(TYPE, json=policy_type_body()).status_code == 201
    if state == "instance":
        assert http.put(POLICY, json=VALID).status_code == 202
        assert ric.drain()


BAD_TYPE = {**policy_type_body(), "create_schema": {"type": 5}}
CASES = {
    "healthcheck": ("", "GET", "/A1-P/v2/healthcheck", {}, 200),
    "list-types": ("type", "GET", TYPES, {}, 200),
    "get-type": ("type", "GET", TYPE, {}, 200),
    "get-unknown-type": ("", "GET", TYPE, {}, 404),
    "put-type": ("", "PUT", TYPE, {"json": policy_type_body()}, 201),
    "put-type-exists": ("type", "PUT", TYPE, {"json": policy_type_body()}, 400),
    "put-type-no-schema": ("", "PUT", TYPE, {"json": {"name": "x", "policy_type_id": 30001}}, 400),
    "put-type-other-id": ("", "PUT", f"{TYPES}/7", {"json": policy_type_body()}, 400),
    "put-type-bad-schema": ("", "PUT", TYPE, {"json": BAD_TYPE}, 400),
    "put-type-not-json": ("", "PUT", TYPE, {"content": b"{oops"}, 400),
    "delete-type": ("type", "DELETE", TYPE, {}, 204),
    "delete-type-in-use": ("instance", "DELETE", TYPE, {}, 400),
    "delete-unknown-type": ("", "DELETE", TYPE, {}, 404),
    "list-policies": ("instance", "GET", f"{TYPE}/policies", {}, 200),
    "list-policies-unknown-type": ("", "GET", f"{TYPE}/policies", {}, 404),
    "put-policy": ("type", "PUT", POLICY, {"json": VALID}, 202),
    "put-policy-again": ("instance", "PUT", POLICY, {"json": VALID}, 202),
    "put-policy-schema-invalid": ("type", "PUT", POLICY, {"json": {**VALID, "mode": "x"}}, 400),
    "put-policy-unknown-type": ("", "PUT", POLICY, {"json": VALID}, 404),
    "put-policy-not-json": ("type", "PUT", POLICY, {"content": b"{oops"}, 415),
    "put-policy-text": (
        "type",
        "PUT",
        POLICY,
        {"content": json.dumps(VALID), "headers": {"content-type": "text/plain"}},
        415,
    ),
    "get-policy": ("instance", "GET", POLICY, {}, 200),
    "get-unknown-policy": ("type", "GET", POLICY, {}, 404),
    "delete-policy": ("instance", "DELETE", POLICY, {}, 202),
    "delete-unknown-policy": ("type", "DELETE", POLICY, {}, 404),
    "status": ("instance", "GET", f"{POLICY}/status", {}, 200),
    "status-unknown": ("type", "GET", f"{POLICY}/status", {}, 404),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_route_answers_the_mediators_codes(ric, http, case):
    state, method, path, kwargs, code = CASES[case]
    _given(ric, http, state)
    assert http.request(method, path, **kwargs).status_code == code


def test_a_transient_db_error_answers_503_then_clears(ric, http):
    _given(ric, http, "instance")
    ric.fail_next(2, 503, method="GET", path_suffix="/status")
    codes = [http.get(f"{POLICY}/status").status_code for _ in range(3)]
    assert codes == [503, 503, 200]


def test_listings_and_reads_return_what_was_stored(ric, http):
    _given(ric, http, "instance")
    assert http.get(TYPES).json() == [30001]
    assert http.get(TYPE).json() == policy_type_body()
    assert http.get(f"{TYPE}/policies").json() == ["p-1"]
    assert http.get(POLICY).json() == VALID
    assert http.get(f"{POLICY}/status").json() == {
        "enforceStatus": "ENFORCED",
        "enforceReason": None,
    }


def test_the_xapp_gets_the_mediators_exact_requests(ric, http):
    _given(ric, http, "instance")
    http.put(POLICY, json={**VALID, "cells": ["c2"]})
    http.delete(POLICY)
    assert ric.drain()
    sent = [json.loads(r) for r in ric.sent]
    assert [r["operation"] for r in sent] == ["CREATE", "UPDATE", "DELETE"]
    assert all(isinstance(v, str) for r in sent for v in r.values())
    assert {r["policy_type_id"] for r in sent} == {"30001"}
    assert {r["policy_instance_id"] for r in sent} == {"p-1"}
    assert json.loads(sent[1]["payload"])["cells"] == ["c2"] and sent[2]["payload"] == ""


def test_status_is_pending_until_the_xapp_answers():
    release = threading.Event()

    def slow(request: bytes) -> bytes:
        release.wait(30)
        return answer_ok(request)

    with A1Mediator(slow) as ric, httpx.Client(base_url=ric.url, timeout=10) as client:
        client.put(TYPE, json=policy_type_body())
        client.put(POLICY, json=VALID)
        pending = client.get(f"{POLICY}/status").json()
        release.set()
        assert ric.drain()
        done = client.get(f"{POLICY}/status").json()
    assert pending == {"enforceStatus": "NOT_ENFORCED", "enforceReason": None}
    assert done["enforceStatus"] == "ENFORCED"


@pytest.mark.parametrize(
    "deliver,reason",
    [
        (lambda r: None, "no xApp answered"),
        (lambda r: b"junk", "unreadable xApp answer"),
        (lambda r: 1 / 0, "delivery to the xApp failed"),
    ],
    ids=["no-answer", "junk-answer", "delivery-raises"],
)
def test_no_usable_answer_is_not_enforced_with_a_reason(deliver, reason):
    with A1Mediator(deliver) as ric, httpx.Client(base_url=ric.url, timeout=10) as client:
        client.put(TYPE, json=policy_type_body())
        client.put(POLICY, json=VALID)
        assert ric.drain()
        status = client.get(f"{POLICY}/status").json()
    assert status["enforceStatus"] == "NOT_ENFORCED" and reason in status["enforceReason"]


def test_a_real_xapp_enforces_refuses_and_forgets(make_core, world):
    core = make_core()
    good = policy_for(world, "101", ["cell-101"])
    with A1Mediator(LocalRic(core).a1) as ric, httpx.Client(base_url=ric.url) as client:
        client.put(TYPE, json=policy_type_body())
        client.put(f"{TYPE}/policies/good", json=good)
        client.put(f"{TYPE}/policies/bad", json={**good, "lam_sha256": "0" * 64})
        assert ric.drain()
        ok = client.get(f"{TYPE}/policies/good/status").json()
        bad = client.get(f"{TYPE}/policies/bad/status").json()
        assert core.policies.environment_of("cell-101") == "101"
        client.delete(f"{TYPE}/policies/good")
        assert ric.drain()
        gone = client.get(f"{TYPE}/policies/good/status").status_code
    assert ok["enforceStatus"] == "ENFORCED"
    assert bad["enforceStatus"] == "NOT_ENFORCED" and "LAM" in bad["enforceReason"]
    assert gone == 404 and core.policies.environment_of("cell-101") == ""


def test_it_restarts_on_its_port_with_its_state(ric, http):
    _given(ric, http, "instance")
    port = ric.port
    ric.stop()
    assert not ric.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{ric.url}/A1-P/v2/healthcheck")
    ric.start()
    assert ric.port == port and ric.port != 0
    assert httpx.get(f"{ric.url}{POLICY}").json() == VALID


def test_its_openapi_document_names_every_route(http):
    paths = http.get("/openapi.json").json()["paths"]
    assert set(paths) == {
        "/A1-P/v2/healthcheck",
        TYPES,
        f"{TYPES}/{{policy_type_id}}",
        f"{TYPES}/{{policy_type_id}}/policies",
        f"{TYPES}/{{policy_type_id}}/policies/{{policy_instance_id}}",
        f"{TYPES}/{{policy_type_id}}/policies/{{policy_instance_id}}/status",
    }
