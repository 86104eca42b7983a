"""The serving graph of a CSI refiner, written out with ONNX Runtime's fused operators.

``torch.onnx.export`` gives a portable graph of standard operators (opset 17), in
which each attention is some twenty small nodes (three MatMuls, bias Adds,
Reshapes, Transposes, the two batched products and a Softmax). ONNX Runtime's own
transformer optimiser fuses the layer norms and GELUs of that graph but not its
attention. This module writes the same network directly from its weights with the
``com.microsoft`` operators ONNX Runtime's CPU and CUDA providers implement:

- ``Attention``: one packed [d, 3d] QKV product, the scaled softmax and the mixing;
- ``SkipLayerNormalization``: residual add, bias and LayerNorm in one pass (pre-norm
  blocks also take the residual sum from its fourth output);
- ``BiasGelu``: the first feed-forward bias and the exact (erf) GELU.

The graph has the same input and output as the exported one (``h_in`` and ``h_hat``,
[batch, 2, 32, 32] float32) and ``lasco.export`` refuses it unless it agrees with
torch to 1e-4. It runs only on ONNX Runtime (the serving engine here); pass
``graph="standard"`` to ``lasco.export.export_onnx`` for the portable form.
Measured on the shipped lam-small (2-core Sapphire Rapids, one thread, batch 64):
27.0 ms against 29.0 ms for the exported graph.

This module needs numpy and ``onnx`` only; ``lasco.export`` hands it the weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from model_store.manifest import HIDDEN_NAME, INPUT_NAME, OUTPUT_NAME

__all__ = ["FUSED_DOMAIN", "fused_refiner_graph"]

FUSED_DOMAIN = "com.microsoft"
LN_EPS = 1e-5  # torch.nn.LayerNorm's default, which every refiner uses


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.inits: list[Any] = []

    def const(self, name: str, arr: np.ndarray) -> str:
        from onnx import numpy_helper

        if arr.dtype != np.int64:
            arr = np.ascontiguousarray(arr, dtype=np.float32)
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str], fused: bool = False, **attrs):
        from onnx import helper

        domain = FUSED_DOMAIN if fused else ""
        self.nodes.append(helper.make_node(op, inputs, outputs, domain=domain, **attrs))
        return outputs[0]


def fused_refiner_graph(
    cfg: Mapping[str, Any],
    weights: Mapping[str, np.ndarray],
    *,
    name: str = "csi_refiner",
    taps: tuple[int, ...] = (),
) -> Any:
    """An ``onnx.ModelProto`` computing the refiner ``cfg`` (``ModelConfig.to_dict()``)
    with ``weights`` (its state dict as numpy arrays). With ``taps`` (block numbers, 1 =
    after the first block) a second output ``h_taps [batch, len(taps), 32, d_model]``
    holds those blocks' outputs, as ``CsiRefiner.forward(x, taps=taps)`` returns them."""
    import onnx
    from onnx import TensorProto, helper

    w = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
    pre, layers, heads = bool(cfg["pre_norm"]), int(cfg["n_layers"]), int(cfg["n_heads"])
    g = _Graph()

    def linear(x: str, prefix: str, out: str, bias: bool = True) -> str:
        y = g.node("MatMul", [x, g.const(f"{prefix}.w", w[f"{prefix}.weight"].T)], [out + "_mm"])
        if not bias:
            return y
        return g.node("Add", [y, g.const(f"{prefix}.b", w[f"{prefix}.bias"])], [out])

    def norm(prefix: str) -> list[str]:
        return [
            g.const(f"{prefix}.g", w[f"{prefix}.weight"]),
            g.const(f"{prefix}.b", w[f"{prefix}.bias"]),
        ]

    def skip_norm(x: str, skip: str, norm_prefix: str, bias_prefix: str, out: str) -> list[str]:
        """LN(x + skip + bias): returns [normalised, residual sum] (pre-norm) or [normalised]."""
        bias = g.const(f"{bias_prefix}.b", w[f"{bias_prefix}.bias"])
        outs = [out, "", "", out + "_sum"] if pre else [out]
        g.node(
            "SkipLayerNormalization",
            [x, skip, *norm(norm_prefix), bias],
            outs,
            fused=True,
            epsilon=LN_EPS,
        )
        return [o for o in outs if o]

    # tokens: [B, 2, 32, 32] -> [B, 32 antennas, 64 = re/im x 32 subcarriers]
    t = g.node("Transpose", [INPUT_NAME], ["tok_t"], perm=[0, 2, 1, 3])
    t = g.node("Reshape", [t, g.const("shape_tok", np.array([0, 32, 64], np.int64))], ["tok"])
    z = g.node("MatMul", [t, g.const("embed.w", w["embed.weight"].T)], ["z_mm"])
    z = g.node("Add", [z, g.const("embed.b_pos", w["embed.bias"] + w["pos"])], ["z0"])
    if bad := [t for t in taps if not 1 <= t <= layers]:
        raise ValueError(f"taps {bad} are not blocks of a {layers}-block refiner")
    tapped: dict[int, str] = {}  # block number -> its output (the residual stream)
    cur = z  # what the next attention reads: LN(z) pre-norm, z post-norm
    if pre:
        first = "blocks.0.norm1" if layers else "norm"
        cur = g.node("LayerNormalization", [z, *norm(first)], ["a0"], axis=-1, epsilon=LN_EPS)
    for i in range(layers):
        p = f"blocks.{i}."
        qkv_w = np.concatenate([w[p + f"{n}.weight"].T for n in "qkv"], axis=1)
        qkv_b = np.concatenate([w[p + f"{n}.bias"] for n in "qkv"])
        att = g.node(
            "Attention",
            [cur, g.const(p + "qkv.w", qkv_w), g.const(p + "qkv.b", qkv_b)],
            [f"att{i}"],
            fused=True,
            num_heads=heads,
        )
        o = linear(att, p + "o", f"o{i}", bias=False)  # the bias goes into the skip norm
        if pre:  # z += attn; a = norm2(z); z += ff(a); next = norm1'(z)
            a2, z = skip_norm(o, z, p + "norm2", p + "o", f"a2_{i}")
        else:  # z = norm1(z + attn); z = norm2(z + ff(z))
            (z,) = skip_norm(o, z, p + "norm1", p + "o", f"z1_{i}")
            a2 = z
        f = linear(a2, p + "ff1", f"f1_{i}", bias=False)
        f = g.node(
            "BiasGelu", [f, g.const(p + "ff1.b", w[p + "ff1.bias"])], [f"gelu{i}"], fused=True
        )
        f = linear(f, p + "ff2", f"f2_{i}", bias=False)
        if pre:
            nxt = f"blocks.{i + 1}.norm1" if i + 1 < layers else "norm"
            cur, z = skip_norm(f, z, nxt, p + "ff2", f"a{i + 1}")
        else:
            (z,) = skip_norm(f, z, p + "norm2", p + "ff2", f"z2_{i}")
            cur = z
        tapped[i + 1] = z
    h = linear(cur, "head", "head")
    h = g.node("Reshape", [h, g.const("shape_out", np.array([0, 32, 2, 32], np.int64))], ["head_r"])
    residual = bool(cfg.get("residual", True))
    h = g.node("Transpose", [h], ["head_t" if residual else OUTPUT_NAME], perm=[0, 2, 1, 3])
    if residual:
        g.node("Add", [INPUT_NAME, h], [OUTPUT_NAME])

    def io(n: str, shape=(2, 32, 32)) -> Any:
        return helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", *shape])

    outputs = [io(OUTPUT_NAME)]
    if taps:
        axis = g.const("tap_axis", np.array([1], np.int64))
        each = [g.node("Unsqueeze", [tapped[t], axis], [f"tap{t}"]) for t in taps]
        g.node("Concat", each, [HIDDEN_NAME], axis=1)
        outputs.append(io(HIDDEN_NAME, (len(taps), 32, int(cfg["d_model"]))))
    graph = helper.make_graph(g.nodes, name, [io(INPUT_NAME)], outputs, g.inits)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(FUSED_DOMAIN, 1)],
        producer_name="lasco",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
