"""ransim's E2 node: reports of its cells' UEs as E2AP/E2SM-CSI PDUs, and its side of the
subscription procedure."""

import json

import numpy as np
import pytest

from lasco.channels import paper_catalogue
from lasco.codec import Projection
from ransim.cli import main
from ransim.node import Cell, E2Node
from xapp import e2ap
from xapp.e2sm_csi import decode_report, encode_event_trigger
from xapp.mtypes import MType

PROJ = Projection.from_ratio("1/4")


@pytest.fixture(scope="module")
def node(channel_cache):
    cat = paper_catalogue()
    cells = [Cell("cell-101", cat.get("101"), 20), Cell("cell-102", cat.get("102"), 20)]
    return E2Node("gnb-9", cells, PROJ, label_fraction=0.25, seed=1, cache=channel_cache)


def test_an_indication_carries_the_projected_csi_and_some_labels(node):
    pdu, h = node.indication("cell-102", 8)
    ind = e2ap.decode_indication(pdu)
    report = decode_report(ind.header, ind.message, max_payload=1 << 22, max_ues=64)
    assert report.cell_id == "cell-102" and report.projection_id == PROJ.id and len(report) == 8
    assert ind.ran_function_id == node.ran_function_id
    # float16 codewords on the wire: the UE's projection of the true CSI, to half precision
    np.testing.assert_allclose(report.codewords, PROJ.encode(h), rtol=2e-3, atol=2e-3)
    assert len(report.label_rows) == 2  # a quarter of 8 UEs
    np.testing.assert_array_equal(report.labels, h[report.label_rows])


def test_indications_cycle_over_the_cells(node):
    cells = [cell for cell, _, _ in node.indications(4, 2)]
    assert cells == ["cell-101", "cell-102", "cell-101", "cell-102"]


@pytest.mark.parametrize(
    ("function_id", "answer"),
    [(None, MType.RIC_SUB_RESP), (99, MType.RIC_SUB_FAILURE)],
    ids=["its-ran-function", "another-ran-function"],
)
def test_subscription_request_is_answered(node, function_id, answer):
    fid = node.ran_function_id if function_id is None else function_id
    req = e2ap.encode_subscription_request(5, 6, fid, encode_event_trigger(20))
    (mtype, payload), *rest = node.handle(MType.RIC_SUB_REQ, req)
    assert mtype == answer and not rest
    assert e2ap.decode_subscription_outcome(payload).ran_function_id == fid


def test_an_accepted_subscription_sets_the_period_and_the_ids(channel_cache):
    cat = paper_catalogue()
    fresh = E2Node("gnb-8", [Cell("c", cat.get("101"), 10)], PROJ, cache=channel_cache)
    fresh.handle(
        MType.RIC_SUB_REQ, e2ap.encode_subscription_request(5, 6, 7, encode_event_trigger(20))
    )
    assert fresh.report_period_ms == 20 and fresh.subscription == (5, 6)
    ind = e2ap.decode_indication(fresh.indication("c", 1)[0])
    assert (ind.requestor_id, ind.instance_id) == (5, 6)


def test_other_messages_get_no_answer(node):
    assert node.handle(MType.RIC_INDICATION, b"") == []


def test_capture_writes_one_jsonl_line_per_indication(tmp_path, channel_cache, capsys):
    out = tmp_path / "in.jsonl"
    argv = ["capture", "--out", str(out), "--regions", "101", "--indications", "3", "--ues", "2"]
    assert main([*argv, "--samples", "10", "--cache", str(channel_cache.root)]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["mtype"] for line in lines] == [MType.RIC_INDICATION] * 3
    assert "wrote 3 indications of 2 UEs from 1 cell to" in capsys.readouterr().out


def test_capture_refuses_an_unknown_region(tmp_path, capsys):
    assert main(["capture", "--out", str(tmp_path / "x.jsonl"), "--regions", "999"]) == 2
    assert "no region '999'" in capsys.readouterr().err
