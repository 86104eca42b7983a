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


def test_a_cell_named_by_its_nr_cgi_is_served_under_that_name(make_core, channel_cache):
    from lasco.channels import paper_catalogue
    from ransim.node import Cell, E2Node
    from tests.xapp.conftest import PROJ
    from xapp.e2sm_csi import NrCgi
    from xapp.mtypes import MType

    cgi = NrCgi("00101", 0x65)
    cell = Cell(cgi.text, paper_catalogue().get("101"), 60, nr_cgi=cgi)
    gnb = E2Node("gnb-1", [cell], PROJ, cache=channel_cache)
    rep, _ = gnb.report(cgi.text, 4)
    assert rep.nr_cgi == cgi and cgi.text == "00101-000000065"
    core = make_core(micro_batch={"max_batch": 4})
    core.handle(MType.RIC_INDICATION, next(gnb.indications(1, 4))[1], "gnb-1")
    keys = core.sdl.find_and_get("lasco-csi", "csi/")
    assert len(keys) == 4 and all(k.startswith("csi/00101-000000065/") for k in keys)


def test_a_cell_id_that_is_not_its_nr_cgi_is_refused(node):
    from dataclasses import replace

    from xapp.e2sm_csi import NrCgi, encode_report

    rep, _ = node.report("cell-101", 2)
    wrong = replace(rep, nr_cgi=NrCgi("00101", 0x65))  # cell_id stays "cell-101"
    with pytest.raises(MalformedMessage) as exc:
        decode_report(*encode_report(wrong))
    assert exc.value.reason == "e2sm-cell-id"


def test_ue_ids_are_eight_octet_ran_ue_ids(node):
    from dataclasses import replace

    from xapp.e2sm_csi import encode_report

    rep, _ = node.report("cell-101", 2)
    big = replace(rep, ue_ids=np.array([2**40 + 1, 2**63], dtype=np.uint64))
    assert decode_report(*encode_report(big)).ue_ids.tolist() == [2**40 + 1, 2**63]
