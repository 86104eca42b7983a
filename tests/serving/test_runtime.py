"""LascoRuntime against the torch reference, with bad rows, bad proxies and concurrent swaps."""

import threading

import numpy as np
import pytest
import torch

from lasco.errors import ConfigError
from lasco.export import export_onnx
from lasco.models import build_model
from serving import IncompatibleProxy, RowStatus, plan_chunks
from tests.serving.conftest import PROJ, add_proxy


def _model(seed, bias=0.0):
    torch.manual_seed(seed)
    m = build_model("tiny").eval()
    with torch.no_grad():
        m.head.bias.add_(bias)
    return m


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    ms = {"lam": _model(0), "ref": _model(1), "p1": _model(2, 0.5), "p2": _model(3, -0.5)}
    onnx = {k: export_onnx(m, folder / f"{k}.onnx").read_bytes() for k, m in ms.items()}
    return ms, onnx


def _torch(models, x):
    ms = models[0]
    with torch.no_grad():
        return {k: m(torch.from_numpy(x)).numpy() for k, m in ms.items()}


def test_mixed_environments_match_the_torch_formulas(rt, models):
    rng = np.random.default_rng(0)
    s = rng.standard_normal((9, PROJ.m)).astype(np.float32)
    env = ["a", "b", "c"] * 3
    add_proxy(rt, "a", models[1]["p1"], mode="lasco", alpha=0.7)  # LASCO ignores alpha
    add_proxy(rt, "b", models[1]["p2"], mode="e-lasco", alpha=0.3)
    res = rt.reconstruct(s, env)
    assert res.ok.all() and res.h_hat.shape == (9, 2, 32, 32) and res.h_hat.dtype == np.float32
    t = _torch(models, PROJ.decode(s))
    want = np.empty_like(res.h_hat)
    want[0::3] = (t["lam"] + t["p1"] - t["ref"])[0::3]
    want[1::3] = (t["p2"] + 0.3 * (t["lam"] - t["ref"]))[1::3]
    want[2::3] = t["lam"][2::3]  # no proxy: the LAM alone
    assert np.abs(res.h_hat - want).max() <= 1e-4
    assert set(res.proxies_used) == {"a", "b"}


def test_bad_rows_are_refused_and_the_rest_served(rt, models):
    add_proxy(rt, "a", models[1]["p1"])
    rng = np.random.default_rng(1)
    good = rng.standard_normal((3, PROJ.m)).astype(np.float32)
    nan_row = good[0].copy()
    nan_row[5] = np.nan
    inf_row = good[0].copy()
    inf_row[0] = np.inf
    rows = [good[0], nan_row, good[1][:100], inf_row, good[2]]
    res = rt.reconstruct(rows, ["a"] * 5)
    assert res.status.tolist() == [
        RowStatus.OK,
        RowStatus.NON_FINITE,
        RowStatus.WRONG_LENGTH,
        RowStatus.NON_FINITE,
        RowStatus.OK,
    ]
    alone = rt.reconstruct(good[[0, 2]], ["a", "a"]).h_hat
    assert np.allclose(res.h_hat[[0, 4]], alone, atol=1e-5)
    assert not res.h_hat[[1, 2, 3]].any()


def test_whole_batch_of_wrong_width(rt):
    res = rt.reconstruct(np.zeros((4, 100), np.float32), ["x"] * 4)
    assert (res.status == RowStatus.WRONG_LENGTH).all()
    with pytest.raises(ConfigError, match="4 codeword rows but 3"):
        rt.reconstruct(np.zeros((4, PROJ.m), np.float32), ["x"] * 3)


def test_incompatible_proxies_are_refused_and_the_old_one_stays(rt, models):
    first = add_proxy(rt, "a", models[1]["p1"])
    with pytest.raises(IncompatibleProxy, match="trained against LAM"):
        rt.set_proxy("a", models[1]["p2"], lam_sha256="0" * 64, projection_id=PROJ.id)
    with pytest.raises(IncompatibleProxy, match="expects projection gauss-0-256"):
        rt.set_proxy("a", models[1]["p2"], lam_sha256=rt.lam_sha256, projection_id="gauss-0-256")
    with pytest.raises(IncompatibleProxy, match="cannot load"):
        add_proxy(rt, "a", b"not onnx")
    with pytest.raises(ConfigError, match="mode"):
        add_proxy(rt, "a", models[1]["p2"], mode="magic")
    with pytest.raises(ConfigError, match="alpha"):
        add_proxy(rt, "a", models[1]["p2"], alpha=float("nan"))
    assert rt.proxies["a"] is first


def test_wrong_io_shapes_are_refused(rt, tmp_path):
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["h_in"], ["h_hat"])],
        "g",
        [helper.make_tensor_value_info("h_in", TensorProto.FLOAT, ["batch", 2, 16, 32])],
        [helper.make_tensor_value_info("h_hat", TensorProto.FLOAT, ["batch", 2, 16, 32])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    with pytest.raises(IncompatibleProxy, match=r"has shape .*, not \[.batch., 2, 32, 32\]"):
        add_proxy(rt, "a", model.SerializeToString())
    assert "a" not in rt.proxies


def test_remove_proxy_goes_back_to_the_lam(rt, models):
    s = np.random.default_rng(2).standard_normal((2, PROJ.m)).astype(np.float32)
    lam_only = rt.reconstruct(s, ["a", "a"]).h_hat
    add_proxy(rt, "a", models[1]["p1"], mode="lasco")
    assert not np.allclose(rt.reconstruct(s, ["a", "a"]).h_hat, lam_only)
    assert rt.remove_proxy("a").env_id == "a"
    assert np.array_equal(rt.reconstruct(s, ["a", "a"]).h_hat, lam_only)
    assert rt.remove_proxy("a") is None


def test_hundreds_of_swaps_under_concurrent_reconstruction_never_mix(rt, models):
    """Two environments swapped together between proxy sets 1 and 2: every reconstruction
    must come out wholly from set 1 or wholly from set 2."""
    s = np.random.default_rng(3).standard_normal((16, PROJ.m)).astype(np.float32)
    env = ["a", "b"] * 8

    def spec(p):
        kw = {"lam_sha256": rt.lam_sha256, "projection_id": PROJ.id, "mode": "lasco"}
        return {"a": dict(kw, onnx=models[1][p]), "b": dict(kw, onnx=models[1][p])}

    rt.set_proxies(spec("p1"))
    out1 = rt.reconstruct(s, env).h_hat
    rt.set_proxies(spec("p2"))
    out2 = rt.reconstruct(s, env).h_hat
    assert np.abs(out1 - out2).max() > 0.1
    stop, seen, errors = threading.Event(), {1: 0, 2: 0}, []

    def reader():
        while not stop.is_set():
            h = rt.reconstruct(s, env).h_hat
            if np.allclose(h, out1, atol=1e-5):
                seen[1] += 1
            elif np.allclose(h, out2, atol=1e-5):
                seen[2] += 1
            else:
                errors.append(h)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for i in range(300):
        rt.set_proxies(spec("p1" if i % 2 else "p2"))
    stop.set()
    for t in threads:
        t.join()
    assert not errors, f"{len(errors)} reconstructions mixed two proxy sets"
    assert seen[1] > 0 and seen[2] > 0


def test_a_refused_proxy_in_a_batch_installs_none(rt, models):
    kw = {"lam_sha256": rt.lam_sha256, "projection_id": PROJ.id}
    with pytest.raises(IncompatibleProxy):
        rt.set_proxies({"a": dict(kw, onnx=models[1]["p1"]), "b": dict(kw, onnx=b"junk")})
    assert dict(rt.proxies) == {}


@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_plan_chunks_covers_every_row_once_and_balances(workers):
    rows = [64, 64, 0, 7, 6, 1, 6]  # LAM, reference, an empty job, proxies
    costs = [n * c for n, c in zip(rows, [8.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], strict=True)]
    bins = plan_chunks(costs, rows, workers)
    assert 1 <= len(bins) <= workers
    seen = {j: np.zeros(n, int) for j, n in enumerate(rows)}
    for pieces in bins:
        for j, lo, hi in pieces:
            assert 0 <= lo < hi <= rows[j]
            seen[j][lo:hi] += 1
    assert all((v == 1).all() for v in seen.values())
    load = [sum(costs[j] * (hi - lo) / rows[j] for j, lo, hi in b) for b in bins]
    if workers > 1:  # the dearest job is cut, so no bin holds much more than its share
        assert max(load) <= sum(costs) / workers + max(costs) / len(bins) / 2
    else:
        assert len(bins) == 1


def test_plan_chunks_cuts_large_jobs_into_cache_sized_runs():
    bins = plan_chunks([256.0, 10.0], [256, 10], workers=1, max_rows=64)
    assert len(bins) == 1
    assert sorted(hi - lo for j, lo, hi in bins[0] if j == 0) == [64, 64, 64, 64]


def test_plan_chunks_with_nothing_to_do():
    assert plan_chunks([0.0, 0.0], [0, 0], 4) == []
