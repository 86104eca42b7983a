import json
import os

import pytest

from model_store import (
    BadSignature,
    HashMismatch,
    IncompatibleModel,
    InvalidManifest,
    MalformedArtifact,
    MarkedBad,
    MissingSignature,
    ModelStore,
    NotFound,
    StoreError,
    TrustedKeys,
    UnknownSigningKey,
    VersionExists,
    read_folder,
    verify,
)
from model_store.backends import FsspecBackend, LocalBackend
from tests.model_store.conftest import draft


def test_publish_assigns_increasing_versions_and_signs(store, keys, onnx_bytes):
    m1 = store.publish(draft(onnx_bytes), keys["key"])
    m2 = store.publish(draft(onnx_bytes), keys["key"])
    assert (m1.version, m2.version) == (1, 2)
    art = store.fetch("lam")
    assert art.version == 2 and art.onnx == onnx_bytes and art.files["model.pt"] == b"torch state"
    assert art.manifest.files["model.onnx"] == art.manifest.onnx_sha256
    folder = store.backend.root / "lam" / "2"
    assert sorted(os.listdir(folder)) == ["manifest.json", "manifest.sig", "model.onnx", "model.pt"]
    assert not [p for p in (store.backend.root / "lam").iterdir() if p.name.startswith(".")]


def test_a_version_is_never_overwritten(store, keys, onnx_bytes):
    store.publish(draft(onnx_bytes), keys["key"])
    with pytest.raises(VersionExists):
        store.backend.write("lam", 1, {"x": b"y"})
    assert store.fetch("lam", 1).onnx == onnx_bytes


def test_publish_refuses_a_manifest_that_fails_the_schema(store, keys, onnx_bytes):
    with pytest.raises(InvalidManifest, match="kind"):
        store.publish(draft(onnx_bytes, kind="giant"), keys["key"])
    with pytest.raises(InvalidManifest, match="environment_id"):
        store.publish(draft(onnx_bytes, kind="sam_proxy", lam_sha256="a" * 64), keys["key"])
    assert store.names() == []


def _tamper(folder, fname, offset=None):
    path = folder / fname
    data = bytearray(path.read_bytes())
    data[len(data) // 2 if offset is None else offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture()
def published(store, keys, onnx_bytes):
    store.publish(draft(onnx_bytes), keys["key"])
    return store.backend.root / "lam" / "1"


def test_flipped_byte_in_model_is_refused(store, published):
    _tamper(published, "model.onnx")
    with pytest.raises(HashMismatch, match=r"model\.onnx"):
        store.fetch("lam")


def test_flipped_byte_in_manifest_is_refused(store, published):
    text = (
        (published / "manifest.json")
        .read_text()
        .replace('"test_nmse_db": -10.0', '"test_nmse_db": -90.0')
    )
    (published / "manifest.json").write_text(text)
    with pytest.raises(BadSignature):
        store.fetch("lam")


def test_missing_signature_is_refused(store, published):
    (published / "manifest.sig").unlink()
    with pytest.raises(MissingSignature):
        store.fetch("lam")


def test_unknown_signing_key_is_refused(tmp_path, keys, onnx_bytes):
    rogue = ModelStore(tmp_path / "s", TrustedKeys([keys["other_pub"]]))
    rogue.publish(draft(onnx_bytes), keys["other"])
    trusting_release_only = ModelStore(tmp_path / "s", TrustedKeys([keys["pub"]]))
    with pytest.raises(UnknownSigningKey, match="unknown key"):
        trusting_release_only.fetch("lam")


def test_malformed_signature_document(store, published):
    (published / "manifest.sig").write_text("not json")
    with pytest.raises(MalformedArtifact):
        store.fetch("lam")


def test_wrong_shapes_are_refused(store, keys, onnx_bytes):
    store.publish(
        draft(
            onnx_bytes, inputs=[{"name": "h_in", "shape": ["batch", 2, 64, 32], "dtype": "float32"}]
        ),
        keys["key"],
    )
    with pytest.raises(IncompatibleModel, match="shape"):
        store.fetch("lam")
    assert store.fetch("lam", check_onnx=False).version == 1


def test_not_an_onnx_model_is_refused(store, keys):
    store.publish(draft(b"garbage"), keys["key"])
    with pytest.raises(IncompatibleModel, match="cannot load"):
        store.fetch("lam")


def test_mark_bad_rolls_back_and_gc_keeps_the_newest(store, keys, onnx_bytes):
    for _ in range(4):
        store.publish(draft(onnx_bytes), keys["key"])
    assert store.mark_bad("lam", 4, "NMSE regression") == 3
    assert store.resolve("lam") == 3
    with pytest.raises(MarkedBad, match="NMSE regression"):
        store.resolve("lam", 4)
    removed = store.gc(keep=2)
    assert sorted(removed) == [("lam", 1), ("lam", 4)]
    assert store.versions("lam") == [2, 3] and store.bad("lam") == {}


def test_resolve_errors(store, keys, onnx_bytes):
    with pytest.raises(NotFound, match="no model named 'lam'"):
        store.resolve("lam")
    store.publish(draft(onnx_bytes), keys["key"])
    with pytest.raises(NotFound, match="no version 9"):
        store.resolve("lam", 9)
    store.mark_bad("lam", 1, "broken")
    with pytest.raises(MarkedBad, match="every version"):
        store.resolve("lam")
    with pytest.raises(StoreError):
        store.gc(keep=0)


def test_a_manifest_moved_to_another_version_is_refused(store, keys, onnx_bytes):
    store.publish(draft(onnx_bytes), keys["key"])
    root = store.backend.root / "lam"
    os.rename(root / "1", root / "2")  # a correctly signed v1 presented as v2
    with pytest.raises(InvalidManifest, match="holds a manifest for lam/1"):
        store.fetch("lam", 2)


def test_fsspec_backend_in_memory(keys, onnx_bytes):
    store = ModelStore(FsspecBackend("memory://lasco-test-store"), TrustedKeys([keys["pub"]]))
    store.publish(draft(onnx_bytes), keys["key"])
    store.publish(draft(onnx_bytes), keys["key"])
    assert store.versions("lam") == [1, 2]
    assert store.fetch("lam").version == 2
    store.mark_bad("lam", 2, "x")
    assert store.fetch("lam").version == 1
    store.gc(keep=1)
    assert store.versions("lam") == [1]


def test_concurrent_publishers_get_distinct_versions(store, keys, onnx_bytes):
    import threading

    errors = []

    def go():
        try:
            store.publish(draft(onnx_bytes), keys["key"], retries=20)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and store.versions("lam") == [1, 2, 3, 4, 5, 6]
    fetched = [store.fetch("lam", v, check_onnx=False).version for v in range(1, 7)]
    assert fetched == [1, 2, 3, 4, 5, 6]


def test_verify_a_folder_directly(store, published, keys):
    art = verify(read_folder(published), TrustedKeys([keys["pub"]]))
    assert art.name == "lam" and json.loads(art.files["manifest.json"])["version"] == 1


def test_local_backend_on_a_missing_root(tmp_path):
    assert LocalBackend(tmp_path / "none").names() == []
