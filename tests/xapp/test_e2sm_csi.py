"""E2SM-CSI reports and event triggers: round trips and refusals by reason."""

import numpy as np
import pytest

from xapp.e2sm_csi import (
    CsiReport,
    decode_event_trigger,
    decode_report,
    encode_event_trigger,
    encode_report,
)
from xapp.errors import MalformedMessage


def _report(n=3, m=8):
    rng = np.random.default_rng(0)
    return CsiReport(
        "cell-1",
        42,
        "gauss-1-8",
        10,
        np.arange(n, dtype=np.uint32),
        rng.standard_normal((n, m)).astype(np.float32),
    )


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_a_report_round_trips(dtype):
    rep = _report()
    out = decode_report(*encode_report(rep, dtype))
    assert (out.cell_id, out.timestamp_ns, out.projection_id) == ("cell-1", 42, "gauss-1-8")
    np.testing.assert_allclose(out.codewords, rep.codewords, atol=1e-2)


def test_too_many_ues_are_refused():
    with pytest.raises(MalformedMessage) as exc:
        decode_report(*encode_report(_report(n=5)), max_ues=4)
    assert exc.value.reason == "e2sm-too-many-ues"


@pytest.mark.parametrize("period_ms", [1, 10, 60000])
def test_event_trigger_round_trips(period_ms):
    assert decode_event_trigger(encode_event_trigger(period_ms)) == period_ms
