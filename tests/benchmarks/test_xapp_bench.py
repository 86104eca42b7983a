"""``python -m benchmarks xapp`` on the xApp tests' core and a ransim node."""

from benchmarks.xapp import run_bench


def test_xapp_bench_reports_every_field(core, node):
    recs = run_bench(core, node, ues=(1, 8), n=5, log=lambda *_: None)
    assert [r["ues_per_indication"] for r in recs] == [1, 8]
    expected = {"indications_per_s", "p50_ms", "p99_ms", "runtime_p50_ms", "overhead_pct"}
    assert all(expected <= set(r) for r in recs)
    assert core.counters["served"] == (5 + 1) * 1 + (5 + 1) * 8
