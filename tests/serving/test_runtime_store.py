"""LascoRuntime with the model store: verified proxies in, tampered ones refused."""

import numpy as np
import pytest

from lasco.codec import Projection
from lasco.export import write_artifact
from lasco.models import build_model
from model_store import (
    HashMismatch,
    ModelStore,
    TrustedKeys,
    default_store,
    generate_keypair,
    load_private_key,
)
from serving import IncompatibleProxy, LascoRuntime

PROJ = Projection.from_ratio("1/4", seed=0)


@pytest.fixture()
def setup(tmp_path):
    k, p = generate_keypair(tmp_path / "k")
    key = load_private_key(k)
    store = ModelStore(tmp_path / "store", TrustedKeys([p]))
    lam_draft, ref_draft = tmp_path / "d_lam", tmp_path / "d_ref"
    write_artifact(
        build_model("tiny"),
        lam_draft,
        kind="lam",
        name="lam",
        projection_id=PROJ.id,
        training={"commit": "x"},
        metrics={},
    )
    store.publish(lam_draft, key)
    lam_sha = store.fetch("lam").manifest.onnx_sha256
    write_artifact(
        build_model("tiny"),
        ref_draft,
        kind="sam_ref",
        name="sam_ref",
        projection_id=PROJ.id,
        training={"commit": "x"},
        metrics={},
        lam_sha256=lam_sha,
    )
    store.publish(ref_draft, key)
    return store, key, lam_sha, tmp_path


def _publish_proxy(store, key, lam_sha, folder, env="101", alpha=0.7):
    write_artifact(
        build_model("tiny"),
        folder,
        kind="sam_proxy",
        name=f"proxy-{env}",
        projection_id=PROJ.id,
        training={"commit": "x"},
        metrics={},
        lam_sha256=lam_sha,
        environment_id=env,
        alpha=alpha,
    )
    return store.publish(folder, key, mode="e-lasco")


def test_runtime_from_store_with_a_verified_proxy(setup):
    store, key, lam_sha, tmp = setup
    rt = LascoRuntime.from_store(store, threads=1)
    assert rt.lam_sha256 == lam_sha and rt.projection.id == PROJ.id
    _publish_proxy(store, key, lam_sha, tmp / "p1")
    slot = rt.set_proxy_from_artifact("101", store.fetch("proxy-101"))
    assert (slot.mode, slot.alpha, slot.version) == ("e-lasco", 0.7, 1)
    res = rt.reconstruct(np.zeros((2, PROJ.m), np.float32), ["101", "999"])
    assert res.ok.all() and res.proxies_used == {"101": 1}


def test_tampered_proxy_never_reaches_the_runtime(setup):
    store, key, lam_sha, tmp = setup
    rt = LascoRuntime.from_store(store, threads=1)
    _publish_proxy(store, key, lam_sha, tmp / "p1")
    first = rt.set_proxy_from_artifact("101", store.fetch("proxy-101"))
    _publish_proxy(store, key, lam_sha, tmp / "p2")
    onnx = tmp / "store" / "proxy-101" / "2" / "model.onnx"
    data = bytearray(onnx.read_bytes())
    data[100] ^= 0xFF
    onnx.write_bytes(bytes(data))
    with pytest.raises(HashMismatch):
        rt.set_proxy_from_artifact("101", store.fetch("proxy-101"))
    assert rt.proxies["101"] is first


def test_proxy_for_another_lam_is_refused(setup):
    store, key, _, tmp = setup
    rt = LascoRuntime.from_store(store, threads=1)
    _publish_proxy(store, key, "f" * 64, tmp / "p")
    with pytest.raises(IncompatibleProxy, match="trained against LAM"):
        rt.set_proxy_from_artifact("101", store.fetch("proxy-101"))
    assert "101" not in rt.proxies
    with pytest.raises(IncompatibleProxy, match="not a sam_proxy"):
        rt.set_proxy_from_artifact("101", store.fetch("sam_ref"))


def test_shipped_models_serve_and_beat_the_raw_estimate(channel_cache):
    """The shipped LAM, run by LascoRuntime on real target channels, is far better than
    H_in itself (the pseudo-inverse estimate)."""
    from lasco import metrics
    from lasco.channels import load_region, paper_catalogue, to_real

    rt = LascoRuntime.from_store(default_store())
    h = to_real(load_region(paper_catalogue().get("102"), 64, channel_cache))
    s = rt.projection.encode(h)
    res = rt.reconstruct(s, ["102"] * len(s))
    assert res.ok.all()
    assert metrics.nmse_db(res.h_hat, h) < metrics.nmse_db(rt.projection.decode(s), h) - 3.0
