import json

import numpy as np
import pytest
import torch

from lasco.channels import load_region, paper_catalogue, to_real
from lasco.codec import Projection
from lasco.errors import ConfigError, DataError
from lasco.export import GRAPHS, export_onnx, load_artifact, onnx_parity, write_artifact
from lasco.models import ModelConfig, build_model


def _scrambled(preset, residual=None, seed=0):
    """A model whose every parameter (LayerNorm gains and biases included) is random, so
    that a graph which mixed up two norms or dropped a bias would not match torch."""
    torch.manual_seed(seed)
    model = build_model(preset, residual=residual).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.3 * torch.randn_like(p))
            else:
                p.add_(0.05 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("graph", GRAPHS)
@pytest.mark.parametrize(
    ("preset", "residual"),
    [("tiny", None), ("sam", None), ("lam-mini", None), ("sam-mini", False), ("tiny", False)],
)
def test_onnx_parity_on_random_inputs_and_batch_sizes(tmp_path, preset, residual, graph):
    model = _scrambled(preset, residual)
    path = export_onnx(model, tmp_path / "m.onnx", graph)
    rng = np.random.default_rng(0)
    errors = {  # dynamic batch axis
        batch: onnx_parity(model, path, rng.standard_normal((batch, 2, 32, 32)).astype(np.float32))
        for batch in (1, 7, 64)
    }
    assert max(errors.values()) <= 1e-4, errors


@pytest.mark.parametrize("graph", GRAPHS)
@pytest.mark.parametrize(("preset", "taps"), [("lam-mini", (1, 2)), ("sam", (1, 2)), ("sam", (2,))])
def test_hidden_states_are_a_second_output_of_the_same_pass(tmp_path, preset, taps, graph):
    """Pre-norm (lam-mini) and post-norm (sam) blocks: ``h_taps`` is what the torch model
    returns for ``taps``, and ``h_hat`` is the graph without taps' to the bit."""
    import onnxruntime as ort

    from model_store.manifest import HIDDEN_NAME, hidden_spec, session_io

    model = _scrambled(preset)
    tapped = export_onnx(model, tmp_path / "t.onnx", graph, taps=taps)
    plain = export_onnx(model, tmp_path / "p.onnx", graph)
    x = np.random.default_rng(1).standard_normal((5, 2, 32, 32)).astype(np.float32)
    assert onnx_parity(model, tapped, x, taps=taps) <= 1e-4
    sess = ort.InferenceSession(str(tapped), providers=["CPUExecutionProvider"])
    assert session_io(sess)[1][1] == hidden_spec(len(taps), model.cfg.d_model)
    h_hat, hidden = sess.run(["h_hat", HIDDEN_NAME], {"h_in": x})
    assert hidden.shape == (5, len(taps), 32, model.cfg.d_model)
    alone = ort.InferenceSession(str(plain), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(h_hat, alone.run(["h_hat"], {"h_in": x})[0], atol=1e-6)


def test_taps_that_are_no_blocks_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"taps \[3\]"):
        export_onnx(build_model("sam"), tmp_path / "m.onnx", taps=(1, 3))
    with pytest.raises(ConfigError, match="distinct blocks in increasing order"):
        export_onnx(build_model("sam"), tmp_path / "m.onnx", taps=(2, 1))
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("key", ["side", "readout"])
def test_a_hidden_state_plugin_serves_from_the_lams_exported_outputs(tmp_path, key):
    """The LAM graph's h_hat and h_taps, fed to the plug-in's graph, give what the torch
    method gives from the LAM in torch."""
    import onnxruntime as ort

    from lasco.collab import build_method, side_taps
    from lasco.export_side import export_side_onnx, side_parity
    from model_store.manifest import CSI_OUTPUTS, session_io, side_inputs

    lam, ref = _scrambled("lam-mini"), _scrambled("sam", seed=1)
    method = build_method(key, lam, ref)
    with torch.no_grad():  # a trained plug-in: no zero head, mixed taps
        for p in method.parameters():
            p.add_(0.05 * torch.randn_like(p))
    taps = side_taps(lam.cfg.n_layers)
    x = np.random.default_rng(2).standard_normal((6, 2, 32, 32)).astype(np.float32)
    lam_sess = ort.InferenceSession(
        str(export_onnx(lam, tmp_path / "lam.onnx", taps=taps)), providers=["CPUExecutionProvider"]
    )
    base, hidden = lam_sess.run(["h_hat", "h_taps"], {"h_in": x})
    path = export_side_onnx(method, tmp_path / "side.onnx")
    assert side_parity(method, path, x, base, hidden) <= 1e-4
    side = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs, outputs = session_io(side)  # the same three inputs for every side graph
    assert (inputs, outputs) == (list(side_inputs(len(taps), lam.cfg.d_model)), list(CSI_OUTPUTS))
    got = side.run(["h_hat"], {"h_in": x, "h_lam": base, "h_taps": hidden})[0]
    with torch.no_grad():
        b, h = lam(torch.from_numpy(x), taps=taps)
        want = method(torch.from_numpy(x), b, None, h).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_a_plugin_without_hidden_states_is_not_a_side_export(tmp_path):
    from lasco.collab import build_method
    from lasco.export_side import export_side_onnx

    method = build_method("e-lasco", build_model("tiny"), build_model("tiny"))
    with pytest.raises(ConfigError, match="reads no hidden states"):
        export_side_onnx(method, tmp_path / "m.onnx")


def test_a_zero_layer_refiner_exports_too(tmp_path):
    model = build_model(ModelConfig("flat", 0, 16, 16, 1, pre_norm=True)).eval()
    x = np.random.default_rng(0).standard_normal((3, 2, 32, 32)).astype(np.float32)
    assert onnx_parity(model, export_onnx(model, tmp_path / "m.onnx"), x) <= 1e-4


@pytest.mark.parametrize("graph", GRAPHS)
def test_onnx_parity_on_real_channels(tmp_path, channel_cache, graph):
    h = to_real(load_region(paper_catalogue().get("102"), 32, channel_cache))
    x = Projection.from_ratio("1/4").roundtrip(h)
    model = _scrambled("sam")
    assert onnx_parity(model, export_onnx(model, tmp_path / "m.onnx", graph), x) <= 1e-4


def test_the_fused_graph_uses_ort_fused_operators_and_the_standard_one_does_not(tmp_path):
    import onnx

    model = build_model("lam-mini").eval()
    ops = {}
    for graph in GRAPHS:
        proto = onnx.load(str(export_onnx(model, tmp_path / f"{graph}.onnx", graph)))
        ops[graph] = [(n.domain, n.op_type) for n in proto.graph.node]
    fused = ops["fused"]
    layers = model.cfg.n_layers
    assert fused.count(("com.microsoft", "Attention")) == layers
    assert fused.count(("com.microsoft", "BiasGelu")) == layers
    assert fused.count(("com.microsoft", "SkipLayerNormalization")) == 2 * layers
    assert not [op for domain, op in ops["standard"] if domain not in ("", "ai.onnx")]
    assert len(fused) < len(ops["standard"]) / 4
    with pytest.raises(DataError, match="not one of"):
        export_onnx(model, tmp_path / "x.onnx", "tensorrt")


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
    assert m == manifest and m.to_dict() == json.loads((folder / "manifest.json").read_text())
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


def test_a_sam_for_another_projection_is_not_exported(tmp_path):
    """The export applies the store's compatibility rule to a SAM and its LAM artifact."""
    common = dict(training={"epochs": 1}, metrics={"source_test_nmse_db": -3.0})
    lam = write_artifact(
        build_model("tiny").eval(),
        tmp_path / "lam",
        kind="lam",
        name="lam",
        projection_id="gauss-0-512",
        **common,
    )
    with pytest.raises(ConfigError, match="expects projection gauss-0-256"):
        write_artifact(
            build_model("tiny").eval(),
            tmp_path / "sam",
            kind="sam_ref",
            name="sam_ref",
            projection_id="gauss-0-256",
            lam=lam,
            **common,
        )
    assert not (tmp_path / "sam").exists()
    sam = write_artifact(
        build_model("tiny").eval(),
        tmp_path / "sam",
        kind="sam_ref",
        name="sam_ref",
        projection_id="gauss-0-512",
        lam=lam,
        **common,
    )
    assert sam.lam_sha256 == lam.onnx_sha256


def test_a_lam_with_taps_and_its_side_network_publish_verify_and_serve(tmp_path):
    """A LAM artifact exporting its hidden states, a side network artifact trained beside
    it, both signed into a store: the store verifies them (ONNX I/O against the manifests)
    and the runtime built from the store serves the side network as torch computes it."""
    from lasco.codec import Projection
    from lasco.collab import build_method, side_taps
    from lasco.export_side import write_side_artifact
    from model_store import ModelStore, TrustedKeys, generate_keypair, load_private_key
    from schemas import Mode
    from serving import LascoRuntime

    proj = Projection.from_ratio("1/4", seed=0)
    common = dict(projection_id=proj.id, training={"commit": "test"}, metrics={})
    lam, ref = _scrambled("lam-mini"), _scrambled("sam", seed=1)
    taps = side_taps(lam.cfg.n_layers)
    lam_m = write_artifact(lam, tmp_path / "lam", kind="lam", name="lam", taps=taps, **common)
    assert lam_m.taps == taps and [t.name for t in lam_m.outputs] == ["h_hat", "h_taps"]
    write_artifact(ref, tmp_path / "ref", kind="sam_ref", name="sam_ref", lam=lam_m, **common)
    side = build_method("side", lam, ref)
    with torch.no_grad():
        for p in side.parameters():
            p.add_(0.05 * torch.randn_like(p))
    x = torch.from_numpy(proj.decode(np.random.default_rng(3).standard_normal((4, proj.m))))
    x = x.float()
    with torch.no_grad():
        base, hidden = lam(x, taps=taps)
    side_m = write_side_artifact(
        side,
        tmp_path / "side",
        name="proxy-7",
        lam=lam_m,
        environment_id="7",
        training={"commit": "test"},
        metrics={},
        parity=(x.numpy(), base.numpy(), hidden.numpy()),
    )
    assert side_m.mode is Mode.SIDE and sorted(side_m.files) == ["model.onnx"]
    k, pub = generate_keypair(tmp_path / "keys" / "k")
    store = ModelStore(tmp_path / "store", TrustedKeys([pub]))
    for name in ("lam", "ref", "side"):
        store.publish(tmp_path / name, load_private_key(k))
    rt = LascoRuntime.from_store(store, threads=1)
    try:
        rt.set_proxy_from_artifact("7", store.fetch("proxy-7"))
        s = proj.encode(x.numpy())
        got = rt.reconstruct(s, ["7"] * 4).h_hat
        with torch.no_grad():
            xs = torch.from_numpy(proj.decode(s))
            b, h = lam(xs, taps=taps)
            want = side(xs, b, None, h).numpy()
        assert np.abs(got - want).max() <= 1e-4
    finally:
        rt.close()
    with pytest.raises(ConfigError, match="only a LAM exports hidden states"):
        write_artifact(ref, tmp_path / "r2", kind="sam_ref", name="r", taps=taps, **common)
