"""Side networks in LascoRuntime: served from the LAM's one pass (its h_taps output) beside
LASCO and E-LASCO proxies, and refused where they cannot serve."""

import numpy as np
import pytest
import torch

from lasco.collab import build_method, side_taps
from lasco.export import export_onnx
from lasco.export_side import export_side_onnx
from lasco.models import build_model
from serving import IncompatibleProxy, LascoRuntime
from tests.serving.conftest import PROJ, add_proxy


def _random(model, seed):
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    torch.manual_seed(0)
    lam, ref = _random(build_model("lam-mini"), 0), _random(build_model("tiny"), 1)
    proxy = _random(build_model("tiny"), 2)
    side = _random(build_method("side", lam, ref), 3)
    taps = side_taps(lam.cfg.n_layers)
    onnx = {
        "lam": export_onnx(lam, folder / "lam.onnx", taps=taps).read_bytes(),
        "lam_plain": export_onnx(lam, folder / "lam_plain.onnx").read_bytes(),
        "ref": export_onnx(ref, folder / "ref.onnx").read_bytes(),
        "proxy": export_onnx(proxy, folder / "proxy.onnx").read_bytes(),
        "side": export_side_onnx(side, folder / "side.onnx").read_bytes(),
    }
    return {"lam": lam, "ref": ref, "proxy": proxy, "side": side, "taps": taps}, onnx


def test_side_networks_serve_beside_proxies_from_one_lam_pass(rt, models):
    ms, onnx = models
    add_proxy(rt, "s", onnx["side"], mode="side")
    add_proxy(rt, "e", onnx["proxy"], mode="e-lasco", alpha=0.4)
    s = np.random.default_rng(0).standard_normal((12, PROJ.m)).astype(np.float32)
    env = ["s", "e", "none", "s"] * 3
    res = rt.reconstruct(s, env)
    assert res.ok.all() and set(res.proxies_used) == {"s", "e"}
    x = torch.from_numpy(PROJ.decode(s))
    with torch.no_grad():
        base, hidden = ms["lam"](x, taps=ms["taps"])
        side = ms["side"](x, base, None, hidden)
        e_lasco = ms["proxy"](x) + 0.4 * (base - ms["ref"](x))
    rows = np.array(env)
    for name, want in (("s", side), ("e", e_lasco), ("none", base)):
        got = res.h_hat[rows == name]
        assert np.abs(got - want.numpy()[rows == name]).max() <= 1e-4, name
    assert rt.warm_up() > 0.0  # every session, the side network's three inputs included


def test_a_side_network_needs_a_lam_that_exports_its_hidden_states(models):
    onnx = models[1]
    rt = LascoRuntime(onnx["lam_plain"], onnx["ref"], PROJ, threads=1)
    try:
        assert rt.hidden is None
        with pytest.raises(IncompatibleProxy, match="the LAM served exports none"):
            add_proxy(rt, "s", onnx["side"], mode="side")
        assert "s" not in rt.proxies
    finally:
        rt.close()


def test_mode_and_graph_must_agree_and_the_running_one_stays(rt, models):
    onnx = models[1]
    first = add_proxy(rt, "s", onnx["side"], mode="side")
    with pytest.raises(IncompatibleProxy, match=r"expected inputs \['h_in'\], got"):
        add_proxy(rt, "s", onnx["side"], mode="e-lasco")  # a side graph as a proxy SAM
    with pytest.raises(IncompatibleProxy, match=r"expected inputs \['h_in', 'h_lam', 'h_taps'\]"):
        add_proxy(rt, "s", onnx["proxy"], mode="side")  # a proxy SAM as a side network
    with pytest.raises(IncompatibleProxy, match="trained against LAM"):
        rt.set_proxy("s", onnx["side"], mode="side", lam_sha256="0" * 64, projection_id=PROJ.id)
    assert rt.proxies["s"] is first


def test_a_side_network_for_other_hidden_states_is_refused(rt, models, tmp_path):
    """Trained beside a LAM of another width: its h_taps input does not fit."""
    lam = build_model("tiny")  # d_model 16, one block
    side = build_method("side", lam, build_model("tiny"))
    other = export_side_onnx(side, tmp_path / "side.onnx").read_bytes()
    with pytest.raises(IncompatibleProxy, match="'h_taps' has shape"):
        add_proxy(rt, "s", other, mode="side")
