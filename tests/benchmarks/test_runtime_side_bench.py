"""The side-network serving benchmark runs and reports every field, each consistent with the
others (timings depend on the machine, so nothing bounds them)."""

import json

import pytest

from benchmarks.runtime_side import format_side_bench, run_side_bench, write_side_bench
from lasco.codec import Projection
from lasco.models import build_model


@pytest.fixture(scope="module")
def bench():
    return run_side_bench(
        build_model("lam-mini").eval(),
        build_model("tiny").eval(),
        Projection.from_ratio("1/4"),
        batches=(1, 4),
        ks=(1, 2),
        min_runs=2,
        min_seconds=0.0,
        threads=1,
        log=lambda *_: None,
    )


def test_one_record_per_batch_and_k_with_ratios_of_its_own_timings(bench):
    assert [(r["batch"], r["k_envs"]) for r in bench["records"]] == [(1, 1), (4, 1), (1, 2), (4, 2)]
    for r in bench["records"]:
        assert min(r["side_p50_ms"], r["lasco_p50_ms"], r["lam_only_p50_ms"]) > 0
        assert r["side_over_lasco"] == pytest.approx(r["side_p50_ms"] / r["lasco_p50_ms"], 0.02)
        assert r["side_over_lam"] == pytest.approx(r["side_p50_ms"] / r["lam_only_p50_ms"], 0.02)


def test_weights_count_k_side_networks_against_k_proxies_and_the_reference(bench, tmp_path):
    from lasco.collab import build_method
    from lasco.export import export_onnx
    from lasco.export_side import export_side_onnx

    lam, ref = build_model("lam-mini").eval(), build_model("tiny").eval()
    side = export_side_onnx(build_method("side", lam, ref), tmp_path / "s.onnx").stat().st_size
    proxy = export_onnx(ref, tmp_path / "p.onnx").stat().st_size
    w = bench["weights"]
    assert w["k_envs"] == 2
    assert w["side_bytes"] == pytest.approx(2 * side, rel=0.01)
    assert w["lasco_bytes"] == pytest.approx(3 * proxy, rel=0.01)


def test_report_table_and_files(bench, tmp_path):
    text = format_side_bench(bench)
    assert "side/LASCO" in text and "weights, K = 2" in text
    paths = write_side_bench(bench, tmp_path / "b" / "side.json")
    assert json.loads(paths[0].read_text())["records"] == bench["records"]
    assert paths[1].stat().st_size > 1000
