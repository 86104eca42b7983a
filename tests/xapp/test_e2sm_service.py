"""E2SM-CSI as a service model: the RAN function definition an E2 node declares, and
reports split to fit E2 Termination's receive buffer."""

import numpy as np
import pytest

from lasco.codec import Projection
from xapp import e2ap
from xapp.e2sm_csi import (
    E2T_BUFFER_BYTES,
    RAN_FUNCTION_OID,
    decode_ran_function,
    decode_report,
)
from xapp.errors import MalformedMessage
from xapp.settings import LimitSettings


def test_a_node_declares_the_model_with_its_oid_styles_and_limit(node):
    ran_function_id, blob = node.ran_function()
    definition = decode_ran_function(blob)
    assert ran_function_id == node.ran_function_id
    assert definition["ranFunctionShortName"] == "LASCO-E2SM-CSI"
    assert definition["ranFunctionE2SMOid"] == RAN_FUNCTION_OID
    [style] = definition["reportStyles"]
    assert style["projections"] == [node.projection.id]
    assert style["maxIndicationBytes"] == E2T_BUFFER_BYTES == LimitSettings().max_payload_bytes


def test_a_definition_that_is_not_e2sm_csi_is_refused():
    import msgpack

    with pytest.raises(MalformedMessage) as exc:
        decode_ran_function(msgpack.packb({"ranFunctionShortName": "ORAN-E2SM-KPM"}))
    assert exc.value.reason == "e2sm-ran-function"


def test_a_large_report_is_split_into_indications_that_fit_the_buffer(node):
    node.label_fraction = 1.0  # 8 KiB of labels per UE: 64 UEs need about 600 KiB
    pdus = node.indication_pdus("cell-101", 60)
    assert len(pdus) > 1 and all(len(p) <= E2T_BUFFER_BYTES for p, _ in pdus)
    reports = [decode_report(*_parts(p)) for p, _ in pdus]
    assert sum(len(r) for r in reports) == 60
    ue_ids = np.concatenate([r.ue_ids for r in reports])
    assert len(np.unique(ue_ids)) == 60  # every UE once
    for r, (_, h) in zip(reports, pdus, strict=True):
        assert np.array_equal(r.label_rows, np.arange(len(r)))  # labels re-indexed per part
        assert np.allclose(r.labels, h, atol=1e-6)
        cw = Projection.from_id(r.projection_id).encode(h)
        assert np.allclose(r.codewords, cw, atol=5e-3)  # float16 codewords of those UEs


def _parts(pdu):
    ind = e2ap.decode_indication(pdu)
    return ind.header, ind.message
