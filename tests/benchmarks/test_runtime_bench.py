"""The runtime benchmark runs and reports every field, each consistent with the others.

Timings and memory figures depend on the machine, so nothing here bounds them; the
checks are that every figure is there, positive, and that the derived ones (rates,
ratios, weight sizes) follow from the measured ones.
"""

import json

import pytest

from benchmarks.runtime import format_bench, run_runtime_bench, write_bench
from lasco.codec import Projection
from lasco.export import export_onnx
from lasco.models import build_model, forward_flops

KEYS = {
    "batch",
    "k_envs",
    "recon_per_s",
    "p50_ms",
    "p99_ms",
    "lam_only_p50_ms",
    "lasco_over_lam",
    "flop_ratio",
    "gflops",
    "matmul_gflops",
    "runs",
    "torch_over_ort",
}
MEMORY_KEYS = {
    "k_envs",
    "lasco_weight_bytes",
    "lam_copies_weight_bytes",
    "lasco_session_rss_bytes",
    "lam_copies_session_rss_bytes",
}
# gflops and flop_ratio are checked against the figures they derive from instead (gflops
# of a tiny model on a busy machine rounds to 0.0)
POSITIVE = sorted(KEYS - {"batch", "k_envs", "gflops", "flop_ratio"})


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    lam, ref = build_model("tiny").eval(), build_model("tiny").eval()
    lam_onnx = export_onnx(lam, tmp / "l.onnx").read_bytes()
    ref_onnx = export_onnx(ref, tmp / "r.onnx").read_bytes()
    flops = {"lam": forward_flops(lam.cfg), "sam": forward_flops(ref.cfg)}
    result = run_runtime_bench(
        lam_onnx,
        ref_onnx,
        Projection.from_ratio("1/4"),
        flops,
        torch_models={"lam": lam, "ref": ref},
        batches=(1, 4),
        ks=(1, 2),
        min_runs=2,
        min_seconds=0.0,
        threads=1,
        log=lambda *_: None,
    )
    return result, {"lam": len(lam_onnx), "ref": len(ref_onnx)}, flops


def test_one_record_per_batch_and_k_with_every_field(bench):
    result, _, flops = bench
    recs = result["records"]
    assert [(r["batch"], r["k_envs"]) for r in recs] == [(1, 1), (4, 1), (1, 2), (4, 2)]
    assert [sorted(KEYS - set(r)) for r in recs] == [[]] * 4
    assert result["flops_per_sample"] == flops
    assert set(result["machine"]) == {"platform", "cpus", "threads", "providers"}
    assert result["machine"]["threads"] == 1


@pytest.mark.parametrize("key", POSITIVE)
def test_every_measured_figure_is_positive(bench, key):
    values = [r[key] for r in bench[0]["records"]]
    assert min(values) > 0, values


def test_derived_figures_follow_from_the_measured_ones(bench):
    result, _, flops = bench
    recs = result["records"]
    per_sample = flops["lam"] + 2 * flops["sam"]
    assert [r["recon_per_s"] for r in recs] == pytest.approx(
        [1e3 * r["batch"] / r["p50_ms"] for r in recs], rel=0.02, abs=0.1
    )
    assert [r["lasco_over_lam"] for r in recs] == pytest.approx(
        [r["p50_ms"] / r["lam_only_p50_ms"] for r in recs], rel=0.02, abs=2e-3
    )
    assert [r["gflops"] for r in recs] == pytest.approx(
        [r["batch"] * per_sample / (r["p50_ms"] * 1e-3) / 1e9 for r in recs], rel=0.02, abs=0.01
    )
    assert [r["flop_ratio"] for r in recs] == [round(per_sample / flops["lam"], 3)] * 4
    assert [r["matmul_gflops"] for r in recs] == [result["matmul_gflops"]] * 4
    assert [r["p99_ms"] >= r["p50_ms"] for r in recs] == [True] * 4  # percentiles in order
    assert [r["runs"] >= 2 for r in recs] == [True] * 4  # min_runs


def test_memory_figures_are_there_and_the_weights_add_up(bench):
    result, size, _ = bench
    mem = result["memory"]
    assert set(mem) == MEMORY_KEYS
    assert mem["k_envs"] == 2  # the largest K
    assert mem["lasco_weight_bytes"] == size["lam"] + 3 * size["ref"]  # LAM, reference, 2 proxies
    assert mem["lam_copies_weight_bytes"] == 2 * size["lam"]
    rss = [mem["lasco_session_rss_bytes"], mem["lam_copies_session_rss_bytes"]]
    assert [type(v) for v in rss] == [int, int]
    assert min(rss) > 0


def test_report_table_and_files(bench, tmp_path):
    result = bench[0]
    text = format_bench(result).splitlines()
    assert text[0].split() == [
        "batch",
        "K",
        "recon/s",
        "p50",
        "ms",
        "p99",
        "ms",
        "LASCO/LAM",
        "FLOP",
        "ratio",
        "GFLOP/s",
        "%",
        "matmul",
        "torch/ORT",
    ]
    assert len(text) == 1 + len(result["records"]) + 2  # head, records, memory, matmul
    assert [row.split()[:3] for row in text[1:5]] == [
        [str(r["batch"]), str(r["k_envs"]), f"{r['recon_per_s']:.1f}"] for r in result["records"]
    ]
    mem = result["memory"]
    assert f"{mem['lasco_weight_bytes'] / 2**20:.1f} MiB" in text[-2]
    assert f"{mem['lam_copies_session_rss_bytes'] / 2**20:.1f} MiB" in text[-2]
    paths = write_bench(result, tmp_path / "b.json")
    assert json.loads(paths[0].read_text()) == json.loads(json.dumps(result))
    assert paths[1].suffix == ".png" and paths[1].stat().st_size > 0
