"""One environment's adaptation: tiny models in a signed store, a few hundred synthetic
samples, a few epochs per adaptation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lasco.codec import Projection
from lasco.export import write_artifact
from lasco.models import build_model
from model_store import (
    Kind,
    LocalBackend,
    ModelStore,
    TrustedKeys,
    generate_keypair,
    load_private_key,
)
from model_store.manifest import SIGNATURE_FILE
from rapp.adapt_data import prepare, usable_samples
from rapp.adaptation import (
    AdaptationError,
    Reason,
    RunningProxy,
    adapt_environment,
)
from schemas import Mode
from tests.rapp.adapt_support import (
    ENV,
    NAME,
    PROJ,
    N,
    World,
    labelled,
    served_nmse_db,
    settings,
)


@pytest.fixture(scope="module")
def drafts(tmp_path_factory):
    """A signing key and unsigned LAM and reference SAM artifacts (tiny, random)."""
    root = tmp_path_factory.mktemp("adapt-drafts")
    k, p = generate_keypair(root / "keys" / "k")
    common = {"projection_id": PROJ.id, "training": {"commit": "test"}, "metrics": {}}
    torch.manual_seed(0)
    lam = write_artifact(build_model("tiny"), root / "lam", kind="lam", name="lam", **common)
    torch.manual_seed(1)
    write_artifact(
        build_model("tiny"), root / "ref", kind="sam_ref", name="sam_ref", lam=lam, **common
    )
    return root, load_private_key(k), TrustedKeys([p])


@pytest.fixture()
def world(drafts, tmp_path) -> World:
    """A fresh store holding the LAM and the reference SAM."""
    root, key, trusted = drafts
    store = ModelStore(tmp_path / "store", trusted)
    store.publish(root / "lam", key)
    store.publish(root / "ref", key)
    return World(tmp_path / "store", store, key, trusted)


def publish_running(world: World, mode: str, alpha: float | None, seed: int = 7) -> RunningProxy:
    """A random tiny proxy of ENV in the store, as the one running now."""
    torch.manual_seed(seed)
    folder = world.root.parent / f"running-{seed}"
    write_artifact(
        build_model("tiny"),
        folder,
        kind="sam_proxy",
        name=NAME,
        projection_id=PROJ.id,
        training={"commit": "test"},
        metrics={},
        lam=world.store.fetch("lam").manifest,
        environment_id=ENV,
        alpha=alpha,
    )
    m = world.store.publish(folder, world.key, mode=mode)
    return RunningProxy(m.name, int(m.version or 0))


def assert_nothing_published(world: World) -> None:
    assert world.store.versions(NAME) == []
    assert NAME not in world.store.names()


# -- accepted ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "mode"),
    [("e-lasco", Mode.E_LASCO), ("lasco", Mode.LASCO), ("sam-finetune", Mode.E_LASCO)],
)
def test_accepted_proxy_is_published_verified_and_served(world, method, mode):
    samples = labelled()
    out = adapt_environment(ENV, samples, world.store, world.key, settings=settings(method=method))

    assert (out.accepted, out.reason, out.method, out.mode) == (True, Reason.ACCEPTED, method, mode)
    assert (out.samples.given, out.samples.usable) == (N, N)
    assert (out.samples.train, out.samples.val, out.samples.held_out) == (210, 30, 60)
    assert out.candidate_nmse_db <= out.lam_nmse_db - 0.1
    assert out.published is not None
    assert (out.published.name, out.published.version) == (NAME, 1)
    assert all(out.seconds[s] is not None for s in ("prepare", "train", "gate", "publish"))
    json.dumps(out.to_dict(), allow_nan=False)

    art = world.store.fetch(NAME, 1)  # signature, hashes, ONNX inputs and outputs
    lam = world.store.fetch("lam").manifest
    art.manifest.check_compatible(lam)
    m = art.manifest
    assert (m.kind, m.environment_id, m.mode, m.lam_sha256) == (
        Kind.SAM_PROXY,
        ENV,
        mode,
        lam.onnx_sha256,
    )
    assert m.onnx_sha256 == out.published.onnx_sha256
    assert m.alpha == pytest.approx(out.alpha)
    assert m.metrics["held_out_nmse_db"] == pytest.approx(out.candidate_nmse_db)

    held = samples.newest(out.samples.held_out)
    assert served_nmse_db(world.store, held, (NAME, 1)) == pytest.approx(
        out.candidate_nmse_db, abs=1e-3
    )
    assert served_nmse_db(world.store, held, None) == pytest.approx(out.lam_nmse_db, abs=1e-3)


# -- declined ------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 99])
def test_too_few_samples(world, n):
    out = adapt_environment(ENV, labelled(n), world.store, world.key, settings=settings())
    assert (out.accepted, out.reason) == (False, Reason.TOO_FEW_SAMPLES)
    assert (out.samples.given, out.samples.usable) == (n, n)
    assert f"{n} usable samples" in out.detail
    assert out.seconds["prepare"] is not None
    assert out.seconds["train"] is None
    assert_nothing_published(world)


def test_non_finite_samples_do_not_count(world):
    samples = labelled(110)
    samples.labels[:20] = np.nan
    out = adapt_environment(ENV, samples, world.store, world.key, settings=settings())
    assert (out.reason, out.samples.given, out.samples.usable) == (Reason.TOO_FEW_SAMPLES, 110, 90)


def test_gate_declines_below_margin(world):
    out = adapt_environment(
        ENV, labelled(), world.store, world.key, settings=settings(gate_margin_db=50.0)
    )
    assert (out.accepted, out.reason) == (False, Reason.NOT_BETTER_THAN_LAM)
    assert f"{out.candidate_nmse_db:.3f} dB" in out.detail
    assert f"{out.lam_nmse_db:.3f} dB" in out.detail
    assert out.published is None
    assert out.seconds["publish"] is None
    assert_nothing_published(world)


@pytest.mark.parametrize("projection", ["gauss-1-512", "gauss-0-256"])
def test_samples_of_another_projection_are_declined(world, projection):
    samples = labelled(proj=Projection.from_id(projection))
    out = adapt_environment(ENV, samples, world.store, world.key, settings=settings())
    assert (out.accepted, out.reason) == (False, Reason.PROJECTION_MISMATCH)
    assert projection in out.detail
    assert PROJ.id in out.detail
    assert_nothing_published(world)


def test_samples_of_another_environment_are_refused(world):
    with pytest.raises(AdaptationError, match="101"):
        adapt_environment(ENV, labelled(env="101"), world.store, world.key, settings=settings())


@pytest.mark.parametrize("fault", ["torch-onnx-differ", "other-lam"])
def test_store_whose_reference_sam_does_not_fit_is_refused(drafts, tmp_path, fault):
    root, key, trusted = drafts
    store = ModelStore(tmp_path / "store", trusted)
    lam = store.publish(root / "lam", key)
    files = {p.name: p.read_bytes() for p in (root / "ref").iterdir()}
    if fault == "torch-onnx-differ":
        files["model.pt"] = (root / "lam" / "model.pt").read_bytes()
    store.publish(files, key, lam_sha256="0" * 64 if fault == "other-lam" else lam.onnx_sha256)
    with pytest.raises(AdaptationError, match="sam_ref v1"):
        adapt_environment(ENV, labelled(), store, key, settings=settings())
    assert store.versions(NAME) == []


# -- the store fails -----------------------------------------------------------------------
class RefusingBackend(LocalBackend):
    """A disk that refuses every write."""

    def write(self, name, version, files):
        raise PermissionError(f"{self.root} is read-only")


class TornBackend(LocalBackend):
    """An object store that fails after writing every file but the signature."""

    def write(self, name, version, files):
        folder = self.root / name / str(version)
        folder.mkdir(parents=True)
        for fname, data in files.items():
            if fname != SIGNATURE_FILE:
                (folder / fname).write_bytes(data)
        raise OSError("connection reset")


class LateFailingBackend(LocalBackend):
    """A store that writes the whole version, then reports an error."""

    def write(self, name, version, files):
        super().write(name, version, files)
        raise OSError("fsync of the parent folder failed")


@pytest.mark.parametrize("backend", [RefusingBackend, TornBackend])
def test_unwritable_store_publishes_nothing(world, backend):
    store = world.reopen(backend(world.root))
    out = adapt_environment(ENV, labelled(), store, world.key, settings=settings())
    assert (out.accepted, out.reason) == (False, Reason.PUBLISH_FAILED)
    assert NAME in out.detail
    assert out.candidate_nmse_db is not None
    assert out.published is None
    assert out.seconds["publish"] is not None
    assert_nothing_published(world)


def test_store_error_after_a_complete_write_counts_as_published(world):
    store = world.reopen(LateFailingBackend(world.root))
    out = adapt_environment(ENV, labelled(), store, world.key, settings=settings())
    assert (out.accepted, out.reason) == (True, Reason.ACCEPTED)
    assert out.published is not None
    assert world.store.fetch(NAME, 1).manifest.onnx_sha256 == out.published.onnx_sha256


# -- the running proxy ---------------------------------------------------------------------
@pytest.mark.parametrize(("mode", "alpha"), [("e-lasco", 0.5), ("lasco", None)])
def test_running_proxy_is_scored_as_it_serves(world, mode, alpha):
    running = publish_running(world, mode, alpha)
    samples = labelled()
    out = adapt_environment(
        ENV, samples, world.store, world.key, settings=settings(), running=running
    )
    assert out.running == f"{NAME} v1"
    assert out.running_skipped is None
    held = samples.newest(out.samples.held_out)
    assert out.running_nmse_db == pytest.approx(
        served_nmse_db(world.store, held, (NAME, 1)), abs=1e-3
    )


def test_candidate_no_better_than_running_proxy_is_declined(world):
    samples = labelled()
    first = adapt_environment(ENV, samples, world.store, world.key, settings=settings())
    assert first.published is not None
    again = adapt_environment(
        ENV,
        samples,
        world.store,
        world.key,
        settings=settings(),
        running=(first.published.name, first.published.version),
    )
    assert (again.accepted, again.reason) == (False, Reason.NOT_BETTER_THAN_RUNNING)
    assert again.running_nmse_db == pytest.approx(first.candidate_nmse_db, abs=1e-3)
    assert f"{again.running_nmse_db:.3f} dB" in again.detail
    assert world.store.versions(NAME) == [1]


@pytest.mark.parametrize("gone", ["marked-bad", "missing"])
def test_running_proxy_the_store_does_not_give_is_skipped(world, gone):
    running = publish_running(world, "e-lasco", 0.5)
    if gone == "marked-bad":
        world.store.mark_bad(running.name, running.version, "rolled back")
    else:
        running = RunningProxy(running.name, 9)
    out = adapt_environment(
        ENV, labelled(), world.store, world.key, settings=settings(), running=running
    )
    assert out.running_nmse_db is None
    assert out.running_skipped is not None
    assert out.reason is Reason.ACCEPTED
    assert out.published is not None
    assert out.published.version == 2


# -- parts -----------------------------------------------------------------------------------
def test_split_is_by_time_newest_held_out(world):
    samples = labelled(200)
    usable = usable_samples(samples, max_samples=150)
    data = prepare(
        usable,
        world.store.fetch("lam"),
        world.store.fetch("sam_ref"),
        val_fraction=0.1,
        held_out_fraction=0.2,
    )
    assert (len(data.train), len(data.val), len(data.held_out)) == (105, 15, 30)
    assert data.train.t_ns.max() < data.val.t_ns.min()
    assert data.val.t_ns.max() < data.held_out.t_ns.min()
    assert data.held_out.t_ns.max() == samples.t_ns.max()
    assert data.train.t_ns.min() == np.sort(samples.t_ns)[50]


def test_phase_views_augment_the_training_split_with_codewords_a_ue_would_send(world):
    """View 0 is each sample as reported; view k its label times e^{j 2 pi k / K}, with
    the projection's codeword of that rotation and the models' ONNX outputs on it.
    Validation and held-out samples stay as reported."""
    from rapp.adapt_data import ort_outputs

    lam, ref = world.store.fetch("lam"), world.store.fetch("sam_ref")
    samples = labelled(200)
    kw = {"val_fraction": 0.1, "held_out_fraction": 0.2}
    plain = prepare(samples, lam, ref, **kw)
    data = prepare(samples, lam, ref, phase_views=4, **kw)
    n = len(plain.train)
    assert (len(data.train), data.train.views, len(data.train.y)) == (n, 4, 4 * n)
    np.testing.assert_array_equal(data.train.x[:n], plain.train.x)  # as reported
    label = plain.train.y[:, 0] + 1j * plain.train.y[:, 1]
    turned = data.train.y[2 * n : 3 * n]  # view 2: times e^{j pi} = -1
    np.testing.assert_allclose(turned[:, 0] + 1j * turned[:, 1], -label, atol=1e-6)
    np.testing.assert_allclose(data.train.x[2 * n : 3 * n], PROJ.roundtrip(turned), atol=1e-5)
    rows = data.train.x[n : 2 * n]
    np.testing.assert_allclose(data.train.base[n : 2 * n], ort_outputs(lam.onnx, rows), atol=1e-5)
    np.testing.assert_allclose(data.train.ref[n : 2 * n], ort_outputs(ref.onnx, rows), atol=1e-5)
    for a, b in ((data.val, plain.val), (data.held_out, plain.held_out)):
        assert a.views == 1
        np.testing.assert_array_equal(a.x, b.x)


def test_an_adaptation_with_phase_views_publishes_and_records_them(world):
    out = adapt_environment(
        ENV, labelled(), world.store, world.key, settings=settings(phase_views=4)
    )
    assert out.accepted, out.detail
    assert (out.samples.train, out.samples.val, out.samples.held_out) == (210, 30, 60)
    assert world.store.fetch(NAME, 1).manifest.training["phase_views"] == 4
