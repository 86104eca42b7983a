"""ONNX export and model artifacts (torch side).

An artifact is a folder with fixed file names, in the manner of PEFT's adapter
folders: ``manifest.json`` (what the model is, how it was made, how well it did,
and the sha256 of every file), ``model.onnx`` (for serving with ONNX Runtime:
input ``h_in [batch, 2, 32, 32] float32``, output ``h_hat`` of the same shape, a
dynamic batch axis) and ``model.pt`` (the torch checkpoint, for training). The
model store (issue 4) signs and versions these folders.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lasco.errors import DataError
from lasco.models import CsiRefiner, count_params
from lasco.train import load_checkpoint, save_checkpoint

__all__ = [
    "ARTIFACT_FILES",
    "GRAPHS",
    "export_onnx",
    "load_artifact",
    "model_from_store",
    "onnx_parity",
    "sha256_file",
    "write_artifact",
]

ARTIFACT_FILES = ("manifest.json", "model.onnx", "model.pt")
INPUT, OUTPUT = "h_in", "h_hat"
OPSET = 17


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


GRAPHS = ("fused", "standard")


def export_onnx(model: CsiRefiner, path: str | Path, graph: str = "fused") -> Path:
    """Export ``model`` to ONNX (opset 17) with a dynamic batch axis.

    ``graph="fused"`` (the default, for serving) writes the network with ONNX Runtime's
    fused transformer operators (``lasco.onnx_graph``); ``"standard"`` is
    ``torch.onnx.export``'s graph of standard operators, for other ONNX engines.
    """
    if graph not in GRAPHS:
        raise DataError(f"ONNX graph {graph!r} is not one of {GRAPHS}")
    path = Path(path)
    model = model.eval().cpu()
    if graph == "fused":
        import onnx

        from lasco.onnx_graph import fused_refiner_graph

        weights = {k: v.detach().numpy() for k, v in model.state_dict().items()}
        onnx.save(fused_refiner_graph(model.cfg.to_dict(), weights), str(path))
        return path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on the shape check
        torch.onnx.export(
            model,
            (torch.zeros(2, 2, 32, 32),),
            str(path),
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    return path


def onnx_parity(model: CsiRefiner, onnx_path: str | Path, x: np.ndarray) -> float:
    """Max abs difference between torch and ONNX Runtime on ``x [N, 2, 32, 32]``."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run([OUTPUT], {INPUT: x.astype(np.float32)})[0]
    with torch.no_grad():
        want = model.eval()(torch.from_numpy(x.astype(np.float32))).numpy()
    return float(np.abs(got - want).max())


def write_artifact(
    model: CsiRefiner,
    folder: str | Path,
    *,
    kind: str,
    name: str,
    projection_id: str,
    training: dict[str, Any],
    metrics: dict[str, float],
    lam_sha256: str | None = None,
    parity_inputs: np.ndarray | None = None,
    environment_id: str | None = None,
    alpha: float | None = None,
    graph: str = "fused",
    export_commit: str | None = None,
) -> dict[str, Any]:
    """Write an unsigned artifact folder (a draft for ``ModelStore.publish``, which sets the
    version, the file hashes and the signature) atomically; returns the draft manifest.

    Refuses (DataError) when the ONNX export disagrees with torch by more than 1e-4.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        onnx_path = export_onnx(model, tmp / "model.onnx", graph)
        x = (
            parity_inputs
            if parity_inputs is not None
            else np.random.default_rng(0).standard_normal((16, 2, 32, 32)).astype(np.float32)
        )
        err = onnx_parity(model, onnx_path, x)
        if err > 1e-4:
            raise DataError(f"ONNX export of {name!r} differs from torch by {err:.2e} (> 1e-4)")
        save_checkpoint(tmp / "model.pt", model, kind, dict(training, projection_id=projection_id))
        manifest = {
            "kind": kind,
            "name": name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "producer": {
                "commit": str(training.get("commit", "unknown")),
                "config": {k: v for k, v in training.items() if k != "commit"},
                "catalogue_hash": training.get("catalogue_hash"),
                "export_commit": export_commit,
            },
            "environment_id": environment_id,
            "alpha": alpha,
            "projection_id": projection_id,
            "model": model.cfg.to_dict(),
            "params": count_params(model),
            "inputs": [{"name": INPUT, "shape": ["batch", 2, 32, 32], "dtype": "float32"}],
            "outputs": [{"name": OUTPUT, "shape": ["batch", 2, 32, 32], "dtype": "float32"}],
            "lam_sha256": lam_sha256,
            "training": training,
            "metrics": metrics,
            "onnx_parity_max_abs": err,
            "onnx_graph": graph,
            "files": {f: sha256_file(tmp / f) for f in ("model.onnx", "model.pt")},
        }
        manifest["onnx_sha256"] = manifest["files"]["model.onnx"]
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def load_artifact(folder: str | Path) -> tuple[CsiRefiner, dict[str, Any]]:
    """The torch model and manifest of an (unsigned) artifact folder, after checking the
    file hashes its manifest lists. Signed artifacts come from ``ModelStore.fetch``."""
    folder = Path(folder)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise DataError(f"{folder} is not a model artifact (no manifest.json)")
    manifest = json.loads(manifest_path.read_text())
    for fname, digest in manifest.get("files", {}).items():
        if not (folder / fname).is_file() or sha256_file(folder / fname) != digest:
            raise DataError(f"artifact {folder}: {fname} is missing or its sha256 does not match")
    model, _, _ = load_checkpoint(folder / "model.pt")
    return model, manifest


def model_from_store(art: Any) -> CsiRefiner:
    """The torch model of a verified store artifact (``model_store.VerifiedArtifact``)."""
    if "model.pt" not in art.files:
        raise DataError(f"artifact {art.name} v{art.version} carries no torch state (model.pt)")
    model, _, _ = load_checkpoint(io.BytesIO(art.files["model.pt"]))
    return model
