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


def _structured(node):
    """Valid E2AP around valid msgpack whose content is wrong: the shapes, types, sizes
    and values a corrupt or hostile E2 node could send, not only flipped bits."""
    import msgpack
    import numpy as np

    from xapp import e2ap

    rep, _ = node.report("cell-101", 4)
    m = rep.codewords.shape[1]
    header = {"cell_id": "cell-101", "timestamp_ns": 1, "projection_id": rep.projection_id}

    def block(shape, dtype="float16", fill=None, nbytes=None):
        itemsize = {"float16": 2, "float32": 4}.get(dtype, 4)
        n = int(np.prod(shape)) * itemsize if nbytes is None else max(0, nbytes)
        data = bytes(n) if fill is None else np.full(n // 2, fill, "<f2").tobytes()
        return {"dtype": dtype, "shape": list(shape), "data": data}

    def pdu(hdr, msg):
        return e2ap.encode_indication(
            e2ap.Indication(0, 0, 7, 1, 1, msgpack.packb(hdr), msgpack.packb(msg))
        )

    n = st.integers(0, 6)
    values = st.sampled_from([0.0, float("nan"), float("inf"), 6.0e4, -6.0e4])
    ue_lists = st.lists(st.integers(0, 2**32 - 1), max_size=6)
    ints = st.integers(-(2**63), 2**64 - 1)  # what msgpack can carry
    anything = st.one_of(st.none(), ints, st.text(max_size=5), st.binary(max_size=5))
    return st.one_of(
        # codewords whose shape, width, dtype or byte count do not fit the UEs
        st.builds(
            lambda ues, rows, width, dtype: pdu(
                header, {"ue_ids": ues, "codewords": block((rows, width), dtype)}
            ),
            ue_lists, n, st.sampled_from([0, 1, m // 2, m, m + 1]),
            st.sampled_from(["float16", "float32", "int8", "float64"]),
        ),
        st.builds(
            lambda ues, extra: pdu(
                header,
                {"ue_ids": ues, "codewords": block((len(ues), m), nbytes=len(ues) * m * 2 + extra)},
            ),
            ue_lists, st.integers(-3, 3),
        ),
        # right shapes, values no model should see
        st.builds(
            lambda k, v: pdu(
                header, {"ue_ids": list(range(k)), "codewords": block((k, m), fill=v)}
            ),
            st.integers(1, 4), values,
        ),
        # labels whose rows or block do not match the UEs
        st.builds(
            lambda rows, shape: pdu(
                header,
                {"ue_ids": [1, 2], "codewords": block((2, m)),
                 "labels": {"rows": rows, "block": block(shape, "float32")}},
            ),
            st.lists(st.integers(-2, 4), max_size=3),
            st.sampled_from([(1, 2, 32, 32), (2, 2, 32, 32), (1, 2, 32), (0,)]),
        ),
        # fields of the wrong type, in the header or the message
        st.builds(
            lambda key, v: pdu({**header, key: v}, {"ue_ids": [1], "codewords": block((1, m))}),
            st.sampled_from(["cell_id", "timestamp_ns", "projection_id", "report_period_ms"]),
            anything,
        ),
        st.builds(
            lambda key, v: pdu(header, {"ue_ids": [1], "codewords": block((1, m)), key: v}),
            st.sampled_from(["ue_ids", "codewords", "labels", "extra"]),
            anything,
        ),
    )  # fmt: skip


@pytest.mark.slow  # 1,000 structured examples: about 10 s on 2 cores
def test_structured_hostile_reports_never_break_the_core_nor_cost_good_ones(make_core, node):
    core = make_core(micro_batch={"max_batch": 8192, "max_wait_ms": 1000})
    _, good, _ = next(node.indications(1, 4))
    sent = {"good": 0}

    @settings(
        max_examples=1000,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(payload=_structured(node))
    def check(payload):
        dropped = core.counters["dropped"]
        queued = core.batcher.queued_rows
        assert core.handle(MType.RIC_INDICATION, payload, "gnb-1") == []
        assert core.counters["dropped"] > dropped or core.batcher.queued_rows > queued
        core.handle(MType.RIC_INDICATION, good, "gnb-1")  # in the same micro-batch
        sent["good"] += 1

    check()
    core.flush()
    assert core.counters["internal_error"] == 0 and core.counters["batch_failed"] == 0
    # every good report, whatever shared its batch (hostile rows that passed, e.g. with
    # NaN codewords, are dropped row by row and served otherwise)
    assert core.counters["served"] >= 4 * sent["good"]
