"""Property-based: thousands of random, truncated and bit-flipped indications and A1
requests never raise out of the core, every bad one is counted, and the good ones
interleaved with them are all served."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.xapp.conftest import a1_request, policy_for
from xapp.mtypes import MType


def _mutations(pdu: bytes):
    return st.one_of(
        st.binary(max_size=300),
        st.integers(1, len(pdu) - 1).map(lambda n: pdu[:n]),
        st.tuples(st.integers(0, len(pdu) - 1), st.integers(0, 7)).map(
            lambda t: pdu[: t[0]] + bytes([pdu[t[0]] ^ (1 << t[1])]) + pdu[t[0] + 1 :]
        ),
    )


@pytest.mark.slow  # 1,500 examples: about 10 s on 2 cores
def test_random_indications_never_break_the_core(core, node):
    _, good, _ = next(node.indications(1, 4))
    seen = {"bad": 0, "good": 0}

    @settings(
        max_examples=1500,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(payload=_mutations(good), also_good=st.booleans())
    def check(payload, also_good):
        dropped_before = core.counters["dropped"]
        queued_before = core.batcher.queued_rows + core.counters["served"]
        assert core.handle(MType.RIC_INDICATION, payload, "gnb-1") == []
        handled = (
            core.counters["dropped"] > dropped_before
            or core.batcher.queued_rows + core.counters["served"] > queued_before
        )
        assert handled, "a message was neither served nor counted as dropped"
        if also_good:
            core.handle(MType.RIC_INDICATION, good, "gnb-1")
            seen["good"] += 1

    check()
    core.flush()
    assert core.counters["internal_error"] == 0
    assert core.counters["served"] >= 4 * seen["good"]


def test_random_a1_requests_always_get_an_answer(core, world):
    valid = json.loads(a1_request("CREATE", "p", policy_for(world, "101", ["cell-101"])))

    @settings(
        max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        st.one_of(
            st.binary(max_size=200),
            st.dictionaries(
                st.sampled_from(list(valid)),
                st.one_of(st.text(max_size=20), st.integers(), st.none()),
                max_size=4,
            ).map(lambda d: json.dumps({**valid, **d}).encode()),
        )
    )
    def check(payload):
        replies = core.handle(MType.A1_POLICY_REQ, payload)
        assert len(replies) == 1 and replies[0][0] == MType.A1_POLICY_RESP
        body = json.loads(replies[0][1])
        assert body["status"] in ("OK", "ERROR", "DELETED")
        assert body["policy_type_id"] == 30001 and body["handler_id"] == "csi-xapp"

    check()
    assert core.counters["internal_error"] == 0
