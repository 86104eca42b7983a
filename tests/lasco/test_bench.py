"""The runtime benchmark runs and reports every field the issue names (no timing asserts)."""

import json

from lasco.bench import format_bench, run_runtime_bench, write_bench
from lasco.codec import Projection
from lasco.export import export_onnx
from lasco.models import build_model, forward_flops

KEYS = {
    "batch",
    "k_envs",
    "recon_per_s",
    "p50_ms",
    "p99_ms",
    "lasco_over_lam",
    "gflops",
    "matmul_gflops",
    "torch_over_ort",
}


def test_bench_records_and_outputs(tmp_path):
    lam, ref = build_model("tiny").eval(), build_model("tiny").eval()
    lam_onnx = export_onnx(lam, tmp_path / "l.onnx").read_bytes()
    ref_onnx = export_onnx(ref, tmp_path / "r.onnx").read_bytes()
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
    recs = result["records"]
    assert [(r["batch"], r["k_envs"]) for r in recs] == [(1, 1), (4, 1), (1, 2), (4, 2)]
    for r in recs:
        assert set(r) >= KEYS
        assert r["recon_per_s"] > 0 and r["p99_ms"] >= r["p50_ms"] > 0
    mem = result["memory"]
    assert mem["lam_copies_weight_bytes"] == 2 * len(lam_onnx)
    assert mem["lasco_session_rss_bytes"] > 0
    assert "recon/s" in format_bench(result)
    paths = write_bench(result, tmp_path / "b.json")
    assert json.loads(paths[0].read_text())["records"] == recs and paths[1].suffix == ".png"


def test_session_memory_of_lam_copies_against_one_lam_and_proxies(tmp_path):
    """Eight copies of a 1 MB LAM take several MB more resident memory than one LAM and
    nine tiny SAMs (measured in fresh interpreters: a forked child's inherited heap
    would absorb the allocations and show no difference)."""
    from lasco.bench import _memory

    lam = export_onnx(build_model("lam-mini").eval(), tmp_path / "l.onnx").read_bytes()
    ref = export_onnx(build_model("tiny").eval(), tmp_path / "r.onnx").read_bytes()
    mem = _memory(lam, ref, 8)
    extra = mem["lam_copies_session_rss_bytes"] - mem["lasco_session_rss_bytes"]
    assert extra > 0.5 * (mem["lam_copies_weight_bytes"] - mem["lasco_weight_bytes"])
