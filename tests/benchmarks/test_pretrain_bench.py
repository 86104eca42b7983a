"""``python -m benchmarks pretrain`` in quick mode (preset tiny, batch 16): the JSON holds every
preset x variant and both precisions' accuracy, the tables print, the PNG is written.

Nothing here asserts a timing: these machines are shared and noisy. The runs use one torch
thread, because two threads on a busy two-core machine make a tiny step a hundred times
slower (each waits for the other's descheduled thread)."""

import json
import math

import numpy as np
import pytest
import torch

from benchmarks.cli import main
from benchmarks.pretrain import VARIANTS, accuracy_data
from lasco.channels import ChannelCache, paper_catalogue


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    yield ["--threads", "1"]
    torch.set_num_threads(before)


def _run(tmp_path, capsys, extra: list[str]) -> tuple[dict, str]:
    out = tmp_path / "out" / "bench_pretrain.json"
    argv = ["pretrain", "--quick", "--cache", str(tmp_path / "no-cache"), "--json", str(out)]
    assert main(argv + extra) == 0
    assert out.with_suffix(".png").stat().st_size > 0
    return json.loads(out.read_text()), capsys.readouterr().out


def _check(result: dict, printed: str, variants: list[str]) -> None:
    assert result["settings"]["presets"] == ["tiny"] and result["settings"]["quick"]
    assert result["settings"]["variants"] == variants and result["commit"]
    machine = result["machine"]
    assert machine["cpu_model"] and machine["torch_threads"] == 1
    assert {"avx512_bf16", "amx_bf16"} <= set(machine["cpu_flags"])
    recs = {(r["preset"], r["variant"]): r for r in result["throughput"]}
    assert set(recs) == {("tiny", v) for v in variants}
    base = recs["tiny", "eager-fp32"]["samples_per_s"]
    for (_, v), r in recs.items():
        assert r["samples_per_s"] > 0 and len(r["rounds_samples_per_s"]) == 3
        assert r["samples_per_s"] == pytest.approx(np.median(r["rounds_samples_per_s"]))
        assert r["x_eager_fp32"] == pytest.approx(r["samples_per_s"] / base)
        assert (r["compiled"], r["bf16"]) == (VARIANTS[v]["compiled"], VARIANTS[v]["bf16"])
        assert (r["compile_s"] is not None) == r["compiled"]
    assert recs["tiny", "eager-fp32"]["x_eager_fp32"] == pytest.approx(1.0)
    [acc] = result["accuracy"]
    assert acc["preset"] == "tiny" and acc["steps"] == 20 and acc["batch_size"] == 16
    assert math.isfinite(acc["fp32_nmse_db"]) and math.isfinite(acc["bf16_nmse_db"])
    assert acc["bf16_minus_fp32_db"] == pytest.approx(acc["bf16_nmse_db"] - acc["fp32_nmse_db"])
    assert result["data"]["kind"] == "synthetic multipath"  # the cache given is empty
    assert result["data"]["n_train"] == 20 * 16
    for head in ("samples/s", "x eager fp32", "compile s", "fp32 dB", "bf16 dB"):
        assert head in printed
    rows = [line.split() for line in printed.splitlines()]
    assert all(any(r[:2] == ["tiny", v] for r in rows) for v in variants)
    assert any(r[:2] == ["tiny", "compiled" if acc["compiled"] else "eager"] for r in rows)
    assert "wrote" in printed and ".png" in printed


def test_quick_eager_variants(tmp_path, capsys, one_thread):
    result, printed = _run(tmp_path, capsys, [*one_thread, "--no-compile"])
    _check(result, printed, ["eager-fp32", "eager-bf16"])
    assert result["accuracy"][0]["compiled"] is False


@pytest.mark.slow
def test_quick_all_four_variants_with_compile(tmp_path, capsys, one_thread):
    """The compiled variants too: under a minute here with a cold inductor cache, most of it
    compiling; seconds once inductor's on-disk cache holds the graphs."""
    result, printed = _run(tmp_path, capsys, one_thread)
    _check(result, printed, list(VARIANTS))
    assert all(
        r["compile_s"] >= 0 for r in result["throughput"] if r["variant"].startswith("compiled")
    )


def test_accuracy_data_reads_cached_channels_and_never_generates(tmp_path):
    cache, cat = ChannelCache(tmp_path), paper_catalogue()
    rng = np.random.default_rng(0)
    for region in ("1", "2"):
        h = rng.standard_normal((10, 32, 32)) + 1j * rng.standard_normal((10, 32, 32))
        cache.save(cat.get(region), (h / np.sqrt(2)).astype(np.complex64))
    data = accuracy_data(4, 8, cache=cache, regions=("1", "2"), samples=10)
    assert data.source["kind"] == "cached channels" and data.source["regions"] == ["1", "2"]
    assert len(data.train[0]) == 16 and len(data.val[0]) == 2 and len(data.test[0]) == 2
    assert data.train[0].shape == data.train[1].shape == (16, 2, 32, 32)
    # a region missing from the cache: synthetic data, and nothing written to the cache
    before = sorted(p.name for p in tmp_path.rglob("*"))
    data = accuracy_data(4, 8, cache=cache, regions=("1", "3"), samples=10, n_eval=6)
    assert data.source["kind"] == "synthetic multipath"
    assert (len(data.train[0]), len(data.val[0]), len(data.test[0])) == (32, 6, 6)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
