"""``csi-xapp replay`` and ``ransim capture`` end to end, on real E2AP PDUs."""

import base64
import json

from ransim.cli import main as ransim_main
from tests.xapp.conftest import a1_request, policy_for
from xapp.cli import main as xapp_main
from xapp.mtypes import MType
from xapp.replay import write_message


def _capture(tmp_path, channel_cache, regions, *, indications, ues, samples, extra=()):
    """``ransim capture`` of real E2AP indication PDUs into ``in.jsonl``; its path."""
    cap = tmp_path / "in.jsonl"
    args = ["capture", "--out", str(cap), "--regions", regions]
    args += ["--indications", str(indications), "--ues", str(ues), "--samples", str(samples)]
    assert ransim_main([*args, *extra, "--cache", str(channel_cache.root)]) == 0
    return cap


def _store_config(tmp_path, world):
    """Controls naming the world's store and key: the config file's path."""
    cfg = tmp_path / "c.json"
    cfg.write_text(
        json.dumps(
            {
                "store": {
                    "uri": str(world.root / "store"),
                    "trusted_keys": [str(world.root / "keys" / "k.pub")],
                }
            }
        )
    )
    return cfg


def test_capture_then_replay_with_a1_ok_and_error(tmp_path, world, channel_cache, capsys):
    cap = _capture(tmp_path, channel_cache, "101,102", indications=6, ues=8, samples=40)
    lines = cap.read_text().splitlines()
    assert len(lines) == 6 and json.loads(lines[0])["mtype"] == MType.RIC_INDICATION
    with open(cap, "a") as f:
        write_message(
            f,
            MType.A1_POLICY_REQ,
            a1_request("CREATE", "p-101", policy_for(world, "101", ["cell-101"])),
            None,
        )
        write_message(f, MType.A1_POLICY_REQ, b'{"operation": "CREATE"', None)
        write_message(f, MType.RIC_INDICATION, b"\x00garbage", "gnb-1")
    cfg = tmp_path / "config-file.json"
    cfg.write_text(
        json.dumps(
            {
                "controls": {
                    "store": {
                        "uri": str(world.root / "store"),
                        "trusted_keys": [str(world.root / "keys" / "k.pub")],
                    }
                }
            }
        )
    )
    out = tmp_path / "out.jsonl"
    capsys.readouterr()
    assert (
        xapp_main(["replay", "--config", str(cfg), "--input", str(cap), "--output", str(out)]) == 0
    )
    replies = [json.loads(x) for x in out.read_text().splitlines()]
    a1 = [r for r in replies if r.get("mtype") == MType.A1_POLICY_RESP]
    bodies = [json.loads(base64.b64decode(r["payload_b64"])) for r in a1]
    assert [b["status"] for b in bodies] == ["OK", "ERROR"]
    assert [r["in_reply_to"] for r in a1] == [7, 8]
    summary = replies[-1]["summary"]
    assert summary["served"] == 48 and summary["a1"] == {"ok": 1, "error": 1, "deleted": 0}
    assert summary["dropped"] == {"e2ap-decode": 1}
    assert summary["active_policies"] == ["p-101"]


def test_replay_of_a_broken_capture_names_the_line_and_still_writes_its_summary(
    tmp_path, world, capsys
):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"mtype": 12050}\n')
    cfg = _store_config(tmp_path, world)
    out = tmp_path / "o.jsonl"
    code = xapp_main(["replay", "--config", str(cfg), "--input", str(bad), "--output", str(out)])
    assert code == 2 and "line 1 is not a captured message" in capsys.readouterr().err
    summary = json.loads(out.read_text().splitlines()[-1])["summary"]
    assert summary["counters"]["capture_line_invalid"] == 1 and summary["served"] == 0


def test_replay_on_the_embedded_defaults(tmp_path, channel_cache, capsys):
    """No --config: the shipped LAM and reference SAM from model_store/default."""
    from model_store import default_store

    lam = default_store().fetch("lam", check_onnx=False).manifest
    cap = _capture(
        tmp_path,
        channel_cache,
        "103",
        indications=3,
        ues=4,
        samples=20,
        extra=["--projection", lam.projection_id],
    )
    policy = {
        "environment_id": "103",
        "cells": ["cell-103"],
        "mode": "lam-only",
        "lam_sha256": lam.onnx_sha256,
    }
    with open(cap, "a") as f:
        write_message(f, MType.A1_POLICY_REQ, a1_request("CREATE", "p-103", policy), None)
        write_message(f, MType.A1_POLICY_REQ, a1_request("CREATE", "p-x", {"cells": []}), None)
    out = tmp_path / "out.jsonl"
    assert xapp_main(["replay", "--input", str(cap), "--output", str(out)]) == 0
    replies = [json.loads(x) for x in out.read_text().splitlines()]
    statuses = [json.loads(base64.b64decode(r["payload_b64"]))["status"] for r in replies[:-1]]
    assert statuses == ["OK", "ERROR"]
    assert replies[-1]["summary"]["served"] == 12


def test_replay_of_a_capture_salted_with_hostile_reports_serves_every_good_one(
    tmp_path, world, channel_cache, node
):
    from tests.xapp.test_isolation import _hostile, _pdu

    cap = _capture(tmp_path, channel_cache, "101,102", indications=6, ues=8, samples=40)
    with open(cap, "a") as f:
        for rep in _hostile(node).values():
            write_message(f, MType.RIC_INDICATION, _pdu(rep), "gnb-1")
        f.write("not json at all\n")
    with open(cap) as f:  # the hostile reports in the middle, among the good ones
        lines = f.read().splitlines()
    cap.write_text("\n".join(lines[:3] + lines[6:] + lines[3:6]) + "\n")
    cfg = _store_config(tmp_path, world)
    out = tmp_path / "o.jsonl"
    code = xapp_main(["replay", "--config", str(cfg), "--input", str(cap), "--output", str(out)])
    assert code == 2  # the line that is not a message is named
    summary = json.loads(out.read_text().splitlines()[-1])["summary"]
    assert summary["served"] == 48
    assert summary["dropped"] == {"e2sm-duplicate-ue": 1, "e2sm-range": 1, "e2sm-width": 1}


def test_csi_xapp_bench_prints_the_overhead_per_ue_count(tmp_path, world, capsys):
    cfg = _store_config(tmp_path, world)
    out = tmp_path / "bench.json"
    argv = ["bench", "--config", str(cfg), "--ues", "1", "8", "--indications", "4"]
    assert xapp_main([*argv, "--json", str(out)]) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if "UEs/indication" in x]
    assert len(lines) == 2 and "overhead" in lines[1]
    records = json.loads(out.read_text())["records"]
    assert [r["ues_per_indication"] for r in records] == [1, 8]
    assert all(r["indications_per_s"] > 0 and "overhead_pct" in r for r in records)
