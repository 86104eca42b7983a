"""Export of the plug-ins that read the LAM's hidden states (the side network, the feature
readout): their own ONNX graph, fed by the LAM graph's outputs of the same pass, and their
artifact (a ``sam_proxy`` in mode ``side``).

The graph's inputs are ``h_in [batch, 2, 32, 32]``, ``h_lam`` (the LAM's output, same
shape) and ``h_taps [batch, T, 32, d_model]`` (its hidden states, as a LAM exported with
the plug-in's taps gives them); its output is ``h_hat``. No LAM weight is in it.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lasco.collab import Collab
from lasco.errors import ConfigError, DataError
from lasco.export import OPSET, artifact_folder, draft_manifest
from model_store import Manifest
from model_store.manifest import (
    BASE_NAME,
    HIDDEN_NAME,
    INPUT_NAME,
    MODEL_FILE,
    OUTPUT_NAME,
    side_inputs,
)
from schemas import Mode

__all__ = ["export_side_onnx", "side_parity", "write_side_artifact"]

INPUT, OUTPUT = INPUT_NAME, OUTPUT_NAME


class _SideServing(torch.nn.Module):
    """A method reading the LAM's hidden states, as it is served: from ``h_in``, the LAM's
    output and its hidden states (no LAM inside; the reference SAM's output unused)."""

    def __init__(self, method: Collab) -> None:
        super().__init__()
        self.method = method

    def forward(self, x: torch.Tensor, base: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        return self.method(x, base, None, hidden)


def export_side_onnx(method: Collab, path: str | Path) -> Path:
    """Export a method that reads the LAM's hidden states (the side network, the feature
    readout) to ONNX (opset 17, standard operators, dynamic batch axis): inputs ``h_in``,
    ``h_lam`` (the LAM's output) and ``h_taps`` (its hidden states, as a LAM graph
    exported with the method's ``taps`` gives them), output ``h_hat``."""
    if not method.needs_hidden:
        raise ConfigError(f"{type(method).__name__} reads no hidden states: export its proxy")
    method = method.eval().cpu()
    d = method.tap_norm.normalized_shape[0]
    names = [INPUT, BASE_NAME, HIDDEN_NAME]
    example = (
        torch.zeros(2, 2, 32, 32),
        torch.zeros(2, 2, 32, 32),
        torch.zeros(2, len(method.taps), 32, d),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _SideServing(method),
            example,
            str(path),
            input_names=names,
            output_names=[OUTPUT],
            dynamic_axes={n: {0: "batch"} for n in (*names, OUTPUT)},
            opset_version=OPSET,
            dynamo=False,
        )
    _keep_inputs(Path(path), example, names)
    return Path(path)


def _keep_inputs(path: Path, example: tuple[torch.Tensor, ...], names: list[str]) -> None:
    """Declare the inputs the tracer dropped because the method does not read them (the
    feature readout ignores ``h_in``): every side graph takes the same three inputs."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(path))
    have = {i.name for i in model.graph.input}
    missing = [(n, t) for n, t in zip(names, example, strict=True) if n not in have]
    if not missing:
        return
    for n, t in missing:
        shape = ["batch", *t.shape[1:]]
        model.graph.input.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, shape))
    order = {n: i for i, n in enumerate(names)}
    inputs = sorted(model.graph.input, key=lambda i: order.get(i.name, len(order)))
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    onnx.save(model, str(path))


def side_parity(
    method: Collab, onnx_path: str | Path, x: np.ndarray, base: np.ndarray, hidden: np.ndarray
) -> float:
    """Max abs difference between a hidden-state method in torch and its ONNX export."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    feeds = {INPUT: x, BASE_NAME: base, HIDDEN_NAME: hidden}
    got = sess.run([OUTPUT], {k: np.asarray(v, np.float32) for k, v in feeds.items()})[0]
    with torch.no_grad():
        t = (torch.from_numpy(np.asarray(a, np.float32)) for a in (x, base, hidden))
        want = _SideServing(method.eval())(*t).numpy()
    return float(np.abs(got - want).max())


def write_side_artifact(
    method: Collab,
    folder: str | Path,
    *,
    name: str,
    lam: Manifest,
    environment_id: str,
    training: dict[str, Any],
    metrics: dict[str, float | None],
    parity: tuple[np.ndarray, np.ndarray, np.ndarray],
    export_commit: str | None = None,
) -> Manifest:
    """Write an unsigned ``sam_proxy`` artifact in mode ``side`` of a hidden-state plug-in
    trained beside ``lam`` (which must export the hidden states it reads), atomically;
    ``parity``: ``(h_in, h_lam, h_taps)`` rows ONNX must match torch on to 1e-4. The
    artifact holds the ONNX graph only (a side network is retrained from the reference
    SAM, never continued)."""
    with artifact_folder(folder) as tmp:
        path = export_side_onnx(method, tmp / MODEL_FILE)
        err = side_parity(method, path, *parity)
        if err > 1e-4:
            raise DataError(f"ONNX export of {name!r} differs from torch by {err:.2e} (> 1e-4)")
        d = int(method.tap_norm.normalized_shape[0])
        return draft_manifest(
            tmp,
            (MODEL_FILE,),
            kind="sam_proxy",
            name=name,
            projection_id=lam.projection_id,
            training=training,
            export_commit=export_commit,
            lam=lam,
            environment_id=environment_id,
            lam_sha256=lam.onnx_sha256,
            mode=Mode.SIDE,
            inputs=side_inputs(len(method.taps), d),
            model=method.proxy.cfg.to_dict() if hasattr(method, "proxy") else None,
            params=method.trainable_params(),
            metrics=metrics,
            onnx_graph="standard",
            extra={"onnx_parity_max_abs": err},
        )
