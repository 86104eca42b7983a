"""The rApp adapting a side network: it reads the LAM's hidden states from the LAM graph's
h_taps output (no LAM weights), publishes a sam_proxy in mode side, and the runtime serves
it as the gate measured it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lasco.collab import side_taps
from lasco.export import write_artifact
from lasco.models import build_model
from model_store import ModelStore, TrustedKeys, generate_keypair, load_private_key
from rapp import adapt_data
from rapp.adapt_data import prepare
from rapp.adapt_settings import AdaptationSettings
from rapp.adaptation import AdaptationError, Reason, RunningProxy, adapt_environment
from schemas import Mode
from tests.rapp.adapt_support import (
    ENV,
    FAST,
    NAME,
    PROJ,
    World,
    labelled,
    served_nmse_db,
    settings,
)


def _drafts(root, taps):
    """Signed-to-be drafts of a LAM (exporting the hidden states of blocks ``taps``) and its
    reference SAM in ``root``; returns the signing key and the keys to trust."""
    k, p = generate_keypair(root / "keys" / "k")
    common = {"projection_id": PROJ.id, "training": {"commit": "test"}, "metrics": {}}
    torch.manual_seed(0)
    lam = write_artifact(
        build_model("lam-mini"), root / "lam", kind="lam", name="lam", taps=taps, **common
    )
    torch.manual_seed(1)
    write_artifact(
        build_model("tiny"), root / "ref", kind="sam_ref", name="sam_ref", lam=lam, **common
    )
    return load_private_key(k), TrustedKeys([p])


def _store(drafts, key, trusted, folder) -> ModelStore:
    store = ModelStore(folder, trusted)
    store.publish(drafts / "lam", key)
    store.publish(drafts / "ref", key)
    return store


@pytest.fixture(scope="module")
def tapped(tmp_path_factory):
    """Drafts of a LAM exporting the hidden states a side network reads, and its reference."""
    root = tmp_path_factory.mktemp("side-drafts")
    return (root, *_drafts(root, side_taps(build_model("lam-mini").cfg.n_layers)))


@pytest.fixture()
def world(tapped, tmp_path) -> World:
    """A fresh store holding that LAM and reference SAM."""
    root, key, trusted = tapped
    return World(tmp_path / "store", _store(root, key, trusted, tmp_path / "store"), key, trusted)


def test_a_side_network_is_adapted_published_and_served_as_gated(world):
    samples = labelled()
    out = adapt_environment(
        ENV, samples, world.store, world.key, settings=settings(method="side", phase_views=2)
    )
    assert out.accepted, out.detail
    assert (out.method, out.mode, out.alpha) == ("side", Mode.SIDE, None)
    m = world.store.fetch(NAME, 1).manifest
    assert m.mode is Mode.SIDE and [t.name for t in m.inputs] == ["h_in", "h_lam", "h_taps"]
    assert (
        m.training["phase_views"] == 2
        and m.lam_sha256 == world.store.fetch("lam").manifest.onnx_sha256
    )
    held = samples.newest(out.samples.held_out)
    assert served_nmse_db(world.store, held, (NAME, 1)) == pytest.approx(
        out.candidate_nmse_db, abs=1e-3
    )
    # the next adaptation scores the running side network as it serves
    again = adapt_environment(
        ENV,
        samples,
        world.store,
        world.key,
        settings=settings(method="side", seed=3),
        running=RunningProxy(NAME, 1),
    )
    assert again.running_nmse_db == pytest.approx(out.candidate_nmse_db, abs=1e-3)
    assert again.running_skipped is None


def test_the_rapps_defaults_adapt_a_side_network_with_sixteen_views(world):
    defaults = AdaptationSettings(min_samples=100, adapt=FAST, ort_threads=1)
    out = adapt_environment(ENV, labelled(), world.store, world.key, settings=defaults)
    assert (out.method, out.mode) == ("side", Mode.SIDE) and out.published is not None
    assert world.store.fetch(NAME, 1).manifest.training["phase_views"] == 16


def test_the_defaults_fit_the_shipped_lam():
    """The shipped LAM has taps, and at the most samples an adaptation takes its default
    views shrink to fit the memory budget rather than refuse."""
    from model_store import default_store
    from rapp.adapt_settings import split_sizes

    d = AdaptationSettings()
    lam = default_store().fetch("lam", check_onnx=False)
    assert adapt_data.hidden_shape(lam)[0] >= 1
    n_train = split_sizes(d.max_samples, d.val_fraction, d.held_out_fraction)[0]
    views = adapt_data.views_that_fit(lam, d.max_samples, n_train, d.phase_views, hidden=True)
    assert 1 < views < d.phase_views
    few = split_sizes(1000, d.val_fraction, d.held_out_fraction)[0]
    assert adapt_data.views_that_fit(lam, 1000, few, d.phase_views, hidden=True) == 16


def test_prepared_splits_hold_the_lams_hidden_states_for_every_view(world):
    lam, ref = world.store.fetch("lam"), world.store.fetch("sam_ref")
    data = prepare(
        labelled(200), lam, ref, val_fraction=0.1, held_out_fraction=0.2, phase_views=3, hidden=True
    )
    n, d = len(data.train), build_model("lam-mini").cfg.d_model
    assert data.train.hidden.shape == (3 * n, 2, 32, d)
    assert data.val.hidden.shape[0] == len(data.val) and data.held_out.hidden is not None
    import onnxruntime as ort

    sess = ort.InferenceSession(lam.onnx, providers=["CPUExecutionProvider"])
    rows = data.train.x[n : 2 * n]  # view 1: rotated, re-encoded
    base, hidden = sess.run(["h_hat", "h_taps"], {"h_in": rows})
    np.testing.assert_allclose(data.train.hidden[n : 2 * n], hidden, atol=1e-5)
    np.testing.assert_allclose(data.train.base[n : 2 * n], base, atol=1e-5)


def test_hidden_states_that_would_not_fit_in_memory_are_refused(world, monkeypatch):
    monkeypatch.setattr(adapt_data, "MAX_CACHE_BYTES", 1 << 20)
    with pytest.raises(AdaptationError, match="lower max_samples"):
        adapt_environment(ENV, labelled(), world.store, world.key, settings=settings(method="side"))
    assert world.store.versions(NAME) == []


def test_a_lam_without_hidden_states_cannot_adapt_a_side_network(tmp_path):
    key, trusted = _drafts(tmp_path / "drafts", ())
    store = _store(tmp_path / "drafts", key, trusted, tmp_path / "store")
    with pytest.raises(AdaptationError, match=r"lam v1 exports no hidden states \(h_taps\)"):
        adapt_environment(ENV, labelled(), store, key, settings=settings(method="side"))
    out = adapt_environment(ENV, labelled(), store, key, settings=settings())  # e-lasco still
    assert out.reason in (Reason.ACCEPTED, Reason.NOT_BETTER_THAN_LAM)


def test_phase_views_shrink_to_what_fits_in_memory_for_any_method(world, monkeypatch):
    # room for 300 samples and 2 more views of the 210 training ones: 720 rows of 32 KiB
    monkeypatch.setattr(adapt_data, "MAX_CACHE_BYTES", 720 * 32 * 1024)
    out = adapt_environment(
        ENV, labelled(), world.store, world.key, settings=settings(phase_views=16)
    )
    assert out.published is not None, out.detail
    assert world.store.fetch(NAME, 1).manifest.training["phase_views"] == 3
    monkeypatch.setattr(adapt_data, "MAX_CACHE_BYTES", 299 * 32 * 1024)  # not even the samples
    with pytest.raises(AdaptationError, match="300 rows of cached outputs would take"):
        adapt_environment(ENV, labelled(), world.store, world.key, settings=settings())
