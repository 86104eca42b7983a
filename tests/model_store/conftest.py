import json

import pytest

from model_store import ModelStore, TrustedKeys, generate_keypair, load_private_key


@pytest.fixture(scope="session")
def onnx_bytes(tmp_path_factory):
    """A real (tiny) refiner exported to ONNX."""
    from lasco.export import export_onnx
    from lasco.models import build_model

    path = export_onnx(build_model("tiny"), tmp_path_factory.mktemp("onnx") / "m.onnx")
    return path.read_bytes()


@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    k1, p1 = generate_keypair(folder / "release")
    k2, p2 = generate_keypair(folder / "intruder")
    return {"key": load_private_key(k1), "pub": p1, "other": load_private_key(k2), "other_pub": p2}


def draft(onnx: bytes, **fields) -> dict[str, bytes]:
    manifest = {
        "kind": "lam",
        "name": "lam",
        "producer": {"commit": "abc"},
        "inputs": [{"name": "h_in", "shape": ["batch", 2, 32, 32], "dtype": "float32"}],
        "outputs": [{"name": "h_hat", "shape": ["batch", 2, 32, 32], "dtype": "float32"}],
        "projection_id": "gauss-0-512",
        "metrics": {"test_nmse_db": -10.0},
    }
    manifest.update(fields)
    return {
        "manifest.json": json.dumps(manifest).encode(),
        "model.onnx": onnx,
        "model.pt": b"torch state",
    }


@pytest.fixture()
def store(tmp_path, keys):
    return ModelStore(tmp_path / "store", TrustedKeys([keys["pub"]]))
