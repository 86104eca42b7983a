"""The typed manifest and the one compatibility rule (model_store.manifest)."""

import dataclasses

import pytest

from model_store import (
    CSI_INPUTS,
    IncompatibleModel,
    InvalidManifest,
    Kind,
    Manifest,
    TensorSpec,
    check_io,
    default_store,
)
from schemas import Mode, load


@pytest.fixture(scope="module")
def shipped():
    store = default_store()
    return store.fetch("lam").manifest, store.fetch("sam_ref").manifest


def test_schema_example_reads_typed_and_writes_back():
    example = load("model-manifest")["examples"][0]
    m = Manifest.from_dict(example)
    assert m.kind is Kind.SAM_PROXY and m.mode is Mode.E_LASCO and m.version == 3
    assert m.inputs == CSI_INPUTS and m.label == "proxy-101 v3"
    assert Manifest.from_dict(m.to_dict()) == m


def test_unknown_keys_are_kept(shipped):
    lam, _ = shipped
    assert "onnx_parity_max_abs" in lam.extra
    assert lam.to_dict()["onnx_parity_max_abs"] == lam.extra["onnx_parity_max_abs"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "adapter"}, "/kind"),
        ({"projection_id": "A"}, "/projection_id"),
        ({"files": {}}, ""),
    ],
    ids=["unknown-kind", "bad-projection", "no-model-file"],
)
def test_invalid_manifest_names_the_field(change, field):
    bad = {**load("model-manifest")["examples"][0], **change}
    with pytest.raises(InvalidManifest, match=f"model-manifest: {field or '/'}"):
        Manifest.from_dict(bad)


def test_a_draft_may_lack_its_version_a_published_one_may_not():
    draft = dict(load("model-manifest")["examples"][0])
    del draft["version"]
    assert Manifest.from_dict(draft, draft=True).version is None
    with pytest.raises(InvalidManifest, match="version"):
        Manifest.from_dict(draft)


def test_the_shipped_reference_sam_goes_with_the_shipped_lam(shipped):
    lam, ref = shipped
    ref.check_compatible(lam)
    lam.check_compatible(lam)


def _spec(name="h_in", shape=("batch", 2, 32, 32), dtype="float32"):
    return (TensorSpec(name, shape, dtype),)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"projection_id": "gauss-0-256"}, "expects projection gauss-0-256"),
        ({"lam_sha256": "f" * 64}, "was trained against LAM ffffffffffff"),
        ({"inputs": _spec(name="x")}, r"expected inputs \['h_in'\], got \['x'\]"),
        ({"inputs": _spec(shape=("batch", 2, 16, 32))}, "has shape"),
        ({"inputs": _spec(dtype="float16")}, "is float16, not float32"),
    ],
    ids=["projection", "lam-sha256", "io-name", "io-shape", "io-dtype"],
)
def test_each_way_a_sam_can_mismatch_its_lam(shipped, change, message):
    lam, ref = shipped
    with pytest.raises(IncompatibleModel, match=message):
        dataclasses.replace(ref, **change).check_compatible(lam)


def test_only_a_lam_can_be_served_beside(shipped):
    _, ref = shipped
    with pytest.raises(IncompatibleModel, match="is a sam_ref, not a LAM"):
        ref.check_compatible(ref)


def test_a_lam_carries_no_lam_sha256_check(shipped):
    lam, _ = shipped
    dataclasses.replace(lam, lam_sha256=None).check_compatible(lam)


def test_check_io_accepts_exactly_the_csi_tensors():
    check_io(_spec(), _spec(name="h_hat"))
    with pytest.raises(IncompatibleModel, match="outputs"):
        check_io(_spec(), _spec(name="h_hat") * 2)


def test_a_lam_may_export_its_hidden_states_and_a_side_network_reads_them(shipped):
    from model_store.manifest import CSI_OUTPUTS, hidden_spec, side_inputs

    shipped_lam, ref = shipped
    assert shipped_lam.taps == (2, 4)  # the shipped LAM serves side networks
    assert shipped_lam.outputs == (*CSI_OUTPUTS, hidden_spec(2, 128))
    lam = dataclasses.replace(shipped_lam, outputs=CSI_OUTPUTS, taps=None)  # one without
    lam.check_compatible(lam)
    tapped = dataclasses.replace(lam, outputs=(*CSI_OUTPUTS, hidden_spec(2, 128)), taps=(2, 4))
    tapped.check_compatible(tapped)
    ref.check_compatible(tapped)  # proxy SAMs need nothing of the hidden states
    assert Manifest.from_dict(tapped.to_dict()).taps == (2, 4)
    side = dataclasses.replace(ref, mode=Mode.SIDE, inputs=side_inputs(2, 128))
    side.check_compatible(tapped)
    with pytest.raises(IncompatibleModel, match="the LAM served exports none"):
        side.check_compatible(lam)
    with pytest.raises(IncompatibleModel, match="'h_taps' has shape"):
        dataclasses.replace(side, inputs=side_inputs(2, 64)).check_compatible(tapped)
    with pytest.raises(IncompatibleModel, match=r"expected inputs \['h_in'\]"):
        dataclasses.replace(side, mode=Mode.E_LASCO).check_compatible(tapped)


@pytest.mark.parametrize(
    "hidden",
    [
        TensorSpec("h_taps", ("batch", 2, 16, 128), "float32"),
        TensorSpec("h_taps", ("batch", 2, 32), "float32"),
        TensorSpec("h_taps", ("batch", 2, 32, 128), "float16"),
    ],
    ids=["tokens", "rank", "dtype"],
)
def test_a_lam_whose_hidden_states_are_malformed_is_refused(shipped, hidden):
    from model_store.manifest import CSI_OUTPUTS

    lam, _ = shipped
    bad = dataclasses.replace(lam, outputs=(*CSI_OUTPUTS, hidden))
    with pytest.raises(IncompatibleModel, match="expected float32 \\[batch, taps, 32, d_model\\]"):
        bad.check_compatible(bad)
