"""The rApp's A1 clients: A1-P against the local mediator delivering to a real xApp core,
PMS against a small fake PMS; every outcome an A1Result, retries bounded, nothing raised."""

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest

from ransim.a1_mediator import A1Mediator
from rapp.a1 import (
    A1pClient,
    A1Result,
    A1Settings,
    A1Status,
    PmsClient,
    a1_client,
    parse_a1_url,
    policy_type_body,
)
from schemas import A1Policy, Mode
from tests.servers import free_port
from tests.xapp import conftest as xapp_fixtures
from tests.xapp.conftest import policy_for
from xapp.transport import LocalRic

# The xApp tests' store of tiny models and proxies, and a core over it.
world, make_core = xapp_fixtures.world, xapp_fixtures.make_core

# Short backoff and polling: the tests never wait on wall-clock time for their outcome.
FAST = {
    "attempts": 3,
    "backoff_initial_s": 0.001,
    "backoff_max_s": 0.005,
    "poll_interval_s": 0.002,
    "connect_timeout_s": 2.0,
}


@pytest.fixture()
def core(make_core):
    return make_core()


@pytest.fixture()
def ric(core):
    with A1Mediator(LocalRic(core).a1) as mediator:
        yield mediator


@pytest.fixture()
def a1(ric):
    with A1pClient(A1Settings(ric.url, **FAST)) as client:
        yield client


def policy(world, env="101", cells=("cell-101",), **over) -> A1Policy:
    return A1Policy.parse(policy_for(world, env, list(cells), **over))


# -- A1-P against the local mediator and a real xApp -------------------------------------
def test_a_valid_policy_is_enforced_and_the_xapp_serves_its_proxy(a1, core, world, caplog):
    with caplog.at_level(logging.INFO, logger="rapp"):
        result = a1.put_policy("lasco-101", policy(world))
    assert isinstance(result, A1Result)
    assert result.ok and result.status is A1Status.ENFORCED and result.action == "created"
    assert result.http_code == 202 and result.attempts == 1 and result.seconds > 0
    assert core.policies.environment_of("cell-101") == "101"
    assert core.runtime.proxies["lasco-101"].sha256 == world.proxy_sha["101"]
    assert "put_policy lasco-101: ENFORCED created" in caplog.text


def test_a_policy_the_xapp_refuses_is_not_enforced_with_its_reason(a1, core, world):
    result = a1.put_policy("lasco-101", policy(world, lam_sha256="0" * 64))
    assert not result.ok and result.status is A1Status.NOT_ENFORCED
    assert "lam-mismatch" in result.reason or "LAM" in result.reason
    assert core.policies.environment_of("cell-101") == ""


def test_a_schema_invalid_policy_is_refused_400_and_not_retried(a1, ric, world):
    bad = A1Policy("no spaces allowed", ("cell-101",), Mode.LAM_ONLY, world.lam_sha)
    result = a1.put_policy("bad", bad)
    assert not result.ok and result.status is A1Status.ERROR
    assert result.http_code == 400 and result.attempts == 1 and not result.action
    assert "/environment_id" in result.reason
    assert ric.calls["put_instance"] == 1 and not ric.sent


def test_a_duplicate_put_is_idempotent(a1, ric, core, world):
    first = a1.put_policy("lasco-101", policy(world))
    second = a1.put_policy("lasco-101", policy(world))
    assert first.action == "created" and second.action == "unchanged"
    assert second.ok and second.status is A1Status.ENFORCED
    assert ric.calls["put_instance"] == 1 and len(ric.sent) == 1
    assert core.policies.environment_of("cell-101") == "101"


def test_the_same_policy_is_sent_again_when_it_was_not_enforced(a1, ric, world):
    refused = policy(world, lam_sha256="0" * 64)
    assert a1.put_policy("p", refused).status is A1Status.NOT_ENFORCED
    again = a1.put_policy("p", refused)
    assert again.status is A1Status.NOT_ENFORCED and again.action == "updated"
    assert ric.calls["put_instance"] == 2


def test_an_update_moves_the_cells(a1, core, world):
    a1.put_policy("p", policy(world))
    result = a1.put_policy("p", policy(world, "102", ["cell-102"]))
    assert result.ok and result.action == "updated"
    assert core.policies.environment_of("cell-102") == "102"
    assert core.policies.environment_of("cell-101") == ""


def test_the_policy_type_is_created_once_only(ric, world):
    with A1pClient(A1Settings(ric.url, **FAST)) as one, A1pClient(ric.url) as two:
        created = one.ensure_policy_type()
        one.put_policy("a", policy(world))
        one.put_policy("b", policy(world, "102", ["cell-102"]))
        there = two.ensure_policy_type()
    assert created.ok and created.status is A1Status.OK and created.reason == "created"
    assert there.ok and there.reason == "already there"
    assert ric.calls["put_type"] == 1 and list(ric.types) == [30001]


def test_a_type_the_ric_lost_is_created_again(a1, ric, world):
    assert a1.ensure_policy_type().ok
    ric.reset()  # as a mediator restarted without its database
    result = a1.put_policy("p", policy(world))
    assert result.ok and result.status is A1Status.ENFORCED
    assert ric.calls["put_type"] == 1 and ric.calls["put_instance"] == 2


def test_the_policy_type_body_is_the_schema_as_draft_07():
    body = policy_type_body()
    assert body["policy_type_id"] == 30001 and body["name"] and body["description"]
    assert "examples" not in body["create_schema"]
    jsonschema.Draft7Validator.check_schema(body["create_schema"])


def test_delete_then_status(a1, core, world):
    a1.put_policy("p", policy(world))
    deleted = a1.delete_policy("p")
    again = a1.delete_policy("p")
    status = a1.status("p")
    assert deleted.ok and deleted.status is A1Status.DELETED and deleted.http_code == 202
    assert again.ok and again.status is A1Status.DELETED and again.reason == "no such instance"
    assert not status.ok and status.status is A1Status.DELETED and status.http_code == 404
    assert core.policies.environment_of("cell-101") == ""


def test_status_and_listing(a1, world):
    a1.put_policy("p-2", policy(world))
    a1.put_policy("p-1", policy(world, "102", ["cell-102"]))
    status = a1.status("p-1")
    listing = a1.list_policies()
    assert status.ok and status.status is A1Status.ENFORCED
    assert listing.ok and listing.status is A1Status.OK and listing.instance_ids == ("p-1", "p-2")


def test_5xx_is_retried(a1, ric, world):
    ric.fail_next(2, 503, method="GET", path_suffix="/status")
    result = a1.put_policy("p", policy(world))
    assert result.ok and result.status is A1Status.ENFORCED
    assert ric.fault_for("GET", "/status") is None  # both faults were answered


def test_5xx_past_the_attempts_is_unreachable(a1, ric, world):
    assert a1.ensure_policy_type().ok
    ric.fail_next(3, 503, method="PUT")
    result = a1.put_policy("p", policy(world))
    assert result.status is A1Status.UNREACHABLE and result.http_code == 503
    assert result.attempts == 3 and not ric.sent


def test_a_down_ric_is_unreachable_then_enforces_when_up_again(a1, ric, world):
    ric.stop()
    down = a1.put_policy("p", policy(world))
    ric.start()
    up = a1.put_policy("p", policy(world))
    assert not down.ok and down.status is A1Status.UNREACHABLE
    assert down.http_code is None and down.attempts == FAST["attempts"]
    assert up.ok and up.status is A1Status.ENFORCED


@pytest.mark.parametrize("kind", ["a1p", "pms"])
@pytest.mark.parametrize(
    "call",
    ["ensure_policy_type", "put_policy", "delete_policy", "status", "list_policies"],
)
def test_nothing_listening_is_unreachable_never_an_exception(kind, call, world):
    with a1_client(f"{kind}+http://127.0.0.1:{free_port()}", **FAST) as client:
        args = {"put_policy": ("p", policy(world)), "delete_policy": ("p",), "status": ("p",)}
        result = getattr(client, call)(*args.get(call, ()))
    assert not result.ok and result.status is A1Status.UNREACHABLE
    assert result.attempts == FAST["attempts"] and result.operation == call


def test_no_answer_in_time_is_not_enforced():
    release = threading.Event()
    with A1Mediator(lambda request: release.wait(30) and None) as ric:
        settings = A1Settings(ric.url, **{**FAST, "enforce_timeout_s": 0.05})
        with A1pClient(settings) as client:
            result = client.put_policy("p", A1Policy("e", ("c",), Mode.LAM_ONLY, "a" * 64))
        release.set()
    assert result.status is A1Status.NOT_ENFORCED and "within 0.05 s" in result.reason


# -- PMS against a fake PMS --------------------------------------------------------------
class FakePms:
    """The PMS v2 routes the client uses, over one near-RT RIC ``ric1`` with the policy
    ``types``; ``fail`` answers the next requests 502; ``refuse`` makes the RIC answer
    NOT_ENFORCED with that reason; ``bodies`` are the policy PUTs' bodies."""

    def __init__(self):
        self.types, self.policies, self.services = ["30001"], {}, {}
        self.fail, self.refuse, self.requests, self.bodies = 0, "", [], []
        pms = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code, body=None):
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self):
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n)) if n else None
                pms.requests.append((self.command, url.path))
                if pms.fail:
                    pms.fail -= 1
                    return self._send(502, {"detail": "bad gateway"})
                return pms.route(self.command, url.path.split("/")[3:], query, body)

            def do_GET(self):
                self._send(*self._route())

            do_PUT = do_DELETE = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()

    def route(self, method, parts, query, body):
        if method == "PUT" and parts == ["services"]:
            new = body["service_id"] not in self.services
            self.services[body["service_id"]] = body
            return (201 if new else 200), None
        if parts == ["rics"]:
            return 200, {"rics": [{"ric_id": "ric1", "policytype_ids": self.types}]}
        if parts == ["policy-types"]:
            ok = query.get("ric_id") == "ric1"
            return (200, {"policytype_ids": self.types}) if ok else (404, {"detail": "no ric"})
        if method == "PUT" and parts == ["policies"]:
            new = body["policy_id"] not in self.policies
            self.policies[body["policy_id"]] = body
            self.bodies.append(body)
            return (201 if new else 200), None
        if method == "GET" and parts == ["policies"]:
            return 200, {"policy_ids": sorted(self.policies)}
        policy = self.policies.get(parts[1]) if len(parts) > 1 else None
        if policy is None:
            return 404, {"detail": "no such policy"}
        if len(parts) == 3:
            enforced = {"enforceStatus": "ENFORCED", "enforceReason": None}
            refused = {"enforceStatus": "NOT_ENFORCED", "enforceReason": self.refuse}
            return 200, {"status": refused if self.refuse else enforced}
        if method == "DELETE":
            del self.policies[parts[1]]
            return 204, None
        return 200, policy

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def pms():
    fake = FakePms()
    yield fake
    fake.stop()


def pms_client(pms, ric_id="ric1"):
    return PmsClient(A1Settings(pms.url, kind="pms", **FAST), ric_id, "lasco-test")


def test_pms_puts_a_valid_policy(pms, world):
    with pms_client(pms) as client:
        created = client.put_policy("p", policy(world))
        same = client.put_policy("p", policy(world))
        listing = client.list_policies()
        deleted = client.delete_policy("p")
    assert created.ok and created.status is A1Status.ENFORCED and created.action == "created"
    assert same.ok and same.action == "unchanged"
    assert listing.instance_ids == ("p",) and deleted.ok and deleted.http_code == 204
    assert pms.services["lasco-test"]["service_id"] == "lasco-test"
    assert pms.requests.count(("PUT", "/a1-policy/v2/policies")) == 1
    body = pms.bodies[0]
    assert body["ric_id"] == "ric1" and body["policytype_id"] == "30001"
    assert body["service_id"] == "lasco-test" and body["transient"] is False
    assert body["policy_data"] == policy(world).to_dict()


def test_pms_reports_the_rics_refusal(pms, world):
    pms.refuse = "lam-mismatch"
    with pms_client(pms) as client:
        result = client.put_policy("p", policy(world))
    assert result.status is A1Status.NOT_ENFORCED and result.reason == "lam-mismatch"


def test_pms_cannot_create_a_missing_type(pms, world):
    pms.types = ["20008"]
    with pms_client(pms) as client:
        checked = client.ensure_policy_type()
        put = client.put_policy("p", policy(world))
    assert not checked.ok and checked.status is A1Status.ERROR
    assert "PMS cannot create policy types" in checked.reason and "20008" in checked.reason
    assert not put.ok and put.reason.startswith("policy type:") and not pms.policies


def test_pms_names_an_unknown_ric(pms):
    with pms_client(pms, ric_id="nowhere") as client:
        result = client.ensure_policy_type()
    assert (
        result.status is A1Status.ERROR and "nowhere" in result.reason and "ric1" in result.reason
    )


def test_pms_5xx_is_retried(pms, world):
    pms.fail = 2
    with pms_client(pms) as client:
        result = client.put_policy("p", policy(world))
    assert result.ok and result.status is A1Status.ENFORCED


def test_pms_5xx_past_the_attempts_is_unreachable(pms):
    pms.fail = 10
    with pms_client(pms) as client:
        result = client.ensure_policy_type()
    assert result.status is A1Status.UNREACHABLE and result.http_code == 502
    assert result.attempts == 3 and len(pms.requests) == 3


# -- the factory -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url,kind,base",
    [
        ("a1p+http://ric:10000", "a1p", "http://ric:10000"),
        ("http://ric:10000/", "a1p", "http://ric:10000"),
        ("pms+https://pms:8443/prefix", "pms", "https://pms:8443/prefix"),
    ],
)
def test_urls_choose_the_client(url, kind, base):
    settings = parse_a1_url(url)
    assert settings.kind == kind and settings.base_url == base
    with a1_client(url) as client:
        assert isinstance(client, PmsClient if kind == "pms" else A1pClient)


def test_url_query_and_overrides_set_fields():
    settings = parse_a1_url("pms+http://pms:8081?ric_id=ric7&service_id=me", attempts=2)
    assert (settings.ric_id, settings.service_id, settings.attempts) == ("ric7", "me", 2)
    with a1_client(A1Settings("http://pms:8081", kind="pms"), attempts=2) as client:
        assert isinstance(client, PmsClient) and client.settings.attempts == 2


@pytest.mark.parametrize(
    "url",
    ["ftp://x", "grpc+http://x:1", "a1p+http://x:1?colour=red", "x:1"],
)
def test_bad_urls_are_refused(url):
    with pytest.raises(ValueError):
        parse_a1_url(url)


@pytest.mark.parametrize(
    "field,value",
    [("kind", "rest"), ("attempts", 0), ("read_timeout_s", 0), ("backoff_factor", 0.5)],
)
def test_bad_settings_are_refused(field, value):
    with pytest.raises(ValueError):
        A1Settings("http://ric:1", **{field: value})


def test_backoff_grows_to_its_cap():
    s = A1Settings("http://ric:1", backoff_initial_s=0.5, backoff_factor=2, backoff_max_s=3)
    assert [s.backoff_s(i) for i in range(1, 5)] == [0.5, 1.0, 2.0, 3.0]
