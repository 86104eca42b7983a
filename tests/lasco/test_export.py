import json

import numpy as np
import pytest
import torch

from lasco.channels import load_region, paper_catalogue, to_real
from lasco.codec import Projection
from lasco.errors import DataError
from lasco.export import export_onnx, load_artifact, onnx_parity, write_artifact
from lasco.models import build_model


@pytest.mark.parametrize("preset", ["tiny", "sam", "lam-mini"])
def test_onnx_parity_on_random_inputs_and_batch_sizes(tmp_path, preset):
    torch.manual_seed(0)
    model = build_model(preset).eval()
    path = export_onnx(model, tmp_path / "m.onnx")
    for batch in (1, 7, 64):  # dynamic batch axis
        x = np.random.default_rng(batch).standard_normal((batch, 2, 32, 32)).astype(np.float32)
        assert onnx_parity(model, path, x) <= 1e-4


def test_onnx_parity_on_real_channels(tmp_path, channel_cache):
    h = to_real(load_region(paper_catalogue().get("102"), 32, channel_cache))
    x = Projection.from_ratio("1/4").roundtrip(h)
    model = build_model("sam").eval()
    assert onnx_parity(model, export_onnx(model, tmp_path / "m.onnx"), x) <= 1e-4


def test_artifact_roundtrip_and_tamper_detection(tmp_path):
    model = build_model("tiny").eval()
    folder = tmp_path / "store" / "lam"
    manifest = write_artifact(
        model,
        folder,
        kind="lam",
        name="tiny",
        projection_id="gauss-0-512",
        training={"epochs": 1},
        metrics={"source_test_nmse_db": -3.0},
    )
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "model.onnx", "model.pt"]
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temp left
    back, m = load_artifact(folder)
    assert m == json.loads((folder / "manifest.json").read_text()) == manifest
    x = torch.randn(2, 2, 32, 32)
    assert torch.equal(back(x), model(x))
    data = bytearray((folder / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"model\.onnx is missing or its sha256 does not match"):
        load_artifact(folder)


def test_not_an_artifact(tmp_path):
    with pytest.raises(DataError, match=r"no manifest\.json"):
        load_artifact(tmp_path)
