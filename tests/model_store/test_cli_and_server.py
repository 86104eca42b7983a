import json
import re
import urllib.error
import urllib.request

import pytest

from model_store import ModelStore, NotFound, StoreError, TrustedKeys
from model_store.backends import HttpBackend
from model_store.cli import main
from model_store.server import serve_in_thread
from tests.model_store.conftest import draft


@pytest.fixture()
def published(tmp_path, keys, onnx_bytes):
    store = ModelStore(tmp_path / "store", TrustedKeys([keys["pub"]]))
    store.publish(draft(onnx_bytes), keys["key"])
    return tmp_path / "store", tmp_path / "store" / "lam" / "1"


def _verify(capsys, folder, keys, *extra):
    code = main(["--trusted", str(keys["pub"]), "verify", str(folder), *extra])
    return code, capsys.readouterr().out


def test_verify_good_artifact_exits_0(capsys, published, keys):
    code, out = _verify(capsys, published[1], keys)
    assert code == 0 and out.startswith("OK lam version 1")


def _flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage,reason",
    [
        (lambda d: _flip(d / "model.onnx"), "sha256-mismatch"),
        (lambda d: _flip(d / "manifest.json"), "bad-signature|malformed"),
        (lambda d: (d / "manifest.sig").unlink(), "missing-signature"),
        (lambda d: (d / "model.pt").unlink(), "sha256-mismatch"),
    ],
    ids=["flipped-model-byte", "flipped-manifest-byte", "missing-signature", "missing-file"],
)
def test_verify_refuses_tampered_artifacts_with_exit_1(capsys, published, keys, damage, reason):
    damage(published[1])
    code, out = _verify(capsys, published[1], keys)
    assert code == 1 and out.startswith("REFUSED")
    assert re.search(rf"\(({reason})\)", out), out


def test_verify_refuses_an_unknown_key(capsys, published, keys):
    code = main(["--trusted", str(keys["other_pub"]), "verify", str(published[1])])
    out = capsys.readouterr().out
    assert code == 1 and "(unknown-key)" in out


def test_cli_publish_list_show_mark_bad_gc(capsys, tmp_path, keys, onnx_bytes):
    src = tmp_path / "draft"
    src.mkdir()
    for name, data in draft(
        onnx_bytes, name="sam_ref", kind="sam_ref", lam_sha256="c" * 64
    ).items():
        (src / name).write_bytes(data)
    key_file = tmp_path / "k"
    main(["keygen", str(key_file)])
    pub = str(key_file.with_suffix(".pub"))
    base = ["--store", str(tmp_path / "s"), "--trusted", pub]
    publish = [*base, "publish", str(src), "--key", str(key_file.with_suffix(".key"))]
    assert [main(publish) for _ in range(3)] == [0, 0, 0]
    assert main([*base, "list", "--json"]) == 0
    capsys.readouterr()
    assert main([*base, "show", "sam_ref@2"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == 2
    assert main([*base, "mark-bad", "sam_ref", "3", "--reason", "regression"]) == 0
    assert main([*base, "gc", "--keep", "1"]) == 0
    capsys.readouterr()
    assert main([*base, "list"]) == 0
    assert capsys.readouterr().out.strip() == "sam_ref: 2"
    assert main([*base, "show", "sam_ref@3"]) == 2  # gone


def test_keygen_refuses_to_overwrite(capsys, tmp_path):
    assert main(["keygen", str(tmp_path / "k")]) == 0
    assert main(["keygen", str(tmp_path / "k")]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert oct((tmp_path / "k.key").stat().st_mode)[-3:] == "600"


@pytest.fixture()
def store_url(published):
    server, url = serve_in_thread(published[0])
    yield url
    server.shutdown()


def test_http_server_serves_a_store_read_only(store_url, keys, onnx_bytes):
    remote = ModelStore(HttpBackend(store_url), TrustedKeys([keys["pub"]]))
    assert remote.names() == ["lam"] and remote.versions("lam") == [1]
    assert remote.fetch("lam").onnx == onnx_bytes
    with pytest.raises(StoreError, match="read-only"):
        remote.publish(draft(onnx_bytes), keys["key"])
    with pytest.raises(NotFound):
        remote.fetch("nope")
    req = urllib.request.Request(f"{store_url}/v1/models/lam", method="DELETE")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=5)
    assert exc.value.code == 405


@pytest.mark.parametrize(
    "bad", ["/v1/models/lam/1/..%2f..%2fetc", "/v1/models/../x", "/etc/passwd"]
)
def test_http_server_serves_nothing_outside_the_store(store_url, bad):
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(store_url + bad, timeout=5)
    assert exc.value.code == 404


def test_http_store_unreachable_is_a_clear_error():
    with pytest.raises(StoreError, match="unreachable"):
        HttpBackend("http://127.0.0.1:9", timeout=1).names()


def test_shipped_store_verifies(capsys):
    from model_store import DEFAULT_STORE, default_store

    assert (DEFAULT_STORE / "lam").is_dir(), "the shipped store has no LAM"
    store = default_store()
    lam, ref = store.fetch("lam"), store.fetch("sam_ref")
    assert ref.manifest.lam_sha256 == lam.manifest.onnx_sha256
    assert lam.manifest.projection_id == ref.manifest.projection_id
