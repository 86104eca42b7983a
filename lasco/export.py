"""ONNX export and model artifacts (torch side).

An artifact is a folder with fixed file names, in the manner of PEFT's adapter
folders: ``manifest.json`` (what the model is, how it was made, how well it did,
and the sha256 of every file), ``model.onnx`` (for serving with ONNX Runtime:
input ``h_in [batch, 2, 32, 32] float32``, output ``h_hat`` of the same shape, a
dynamic batch axis) and ``model.pt`` (the torch checkpoint, for training). The
model store (``model_store``) signs and versions these folders.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lasco.errors import ConfigError, DataError
from lasco.models import CsiRefiner, count_params
from lasco.train import load_checkpoint, save_checkpoint
from model_store import IncompatibleModel, InvalidManifest, Manifest, Producer, VerifiedArtifact
from model_store.manifest import (
    CSI_INPUTS,
    CSI_OUTPUTS,
    HIDDEN_NAME,
    MANIFEST_FILE,
    MODEL_FILE,
    TORCH_FILE,
    hidden_spec,
)

__all__ = [
    "ARTIFACT_FILES",
    "GRAPHS",
    "artifact_folder",
    "draft_manifest",
    "export_onnx",
    "load_artifact",
    "model_from_store",
    "onnx_parity",
    "parity_rows",
    "read_manifest",
    "sha256_file",
    "store_models",
    "write_artifact",
]

ARTIFACT_FILES = (MANIFEST_FILE, MODEL_FILE, TORCH_FILE)
INPUT, OUTPUT = CSI_INPUTS[0].name, CSI_OUTPUTS[0].name
OPSET = 17


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


GRAPHS = ("fused", "standard")


class _Tapped(torch.nn.Module):
    """A refiner whose forward returns its output and its hidden states at ``taps``:
    what ``torch.onnx.export`` traces for a graph with the ``h_taps`` output."""

    def __init__(self, model: CsiRefiner, taps: tuple[int, ...]) -> None:
        super().__init__()
        self.model, self.taps = model, taps

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model(x, taps=self.taps)


def _check_taps(model: CsiRefiner, taps: tuple[int, ...]) -> None:
    if bad := [t for t in taps if not 1 <= t <= model.cfg.n_layers]:
        raise ConfigError(f"taps {bad} are not blocks of a {model.cfg.n_layers}-block model")
    if list(taps) != sorted(set(taps)):
        raise ConfigError(f"taps {list(taps)} must be distinct blocks in increasing order")


def export_onnx(
    model: CsiRefiner, path: str | Path, graph: str = "fused", taps: tuple[int, ...] = ()
) -> Path:
    """Export ``model`` to ONNX (opset 17) with a dynamic batch axis.

    ``graph="fused"`` (the default, for serving) writes the network with ONNX Runtime's
    fused transformer operators (``lasco.onnx_graph``); ``"standard"`` is
    ``torch.onnx.export``'s graph of standard operators, for other ONNX engines. With
    ``taps`` (block numbers) the graph has a second output, ``h_taps [batch, len(taps),
    32, d_model]``: the hidden states after those blocks, from the same pass (what a side
    network reads; see lasco.collab.side_taps).
    """
    if graph not in GRAPHS:
        raise DataError(f"ONNX graph {graph!r} is not one of {GRAPHS}")
    _check_taps(model, taps)
    path = Path(path)
    model = model.eval().cpu()
    if graph == "fused":
        import onnx

        from lasco.onnx_graph import fused_refiner_graph

        weights = {k: v.detach().numpy() for k, v in model.state_dict().items()}
        onnx.save(fused_refiner_graph(model.cfg.to_dict(), weights, taps=taps), str(path))
        return path
    outputs = [OUTPUT, HIDDEN_NAME] if taps else [OUTPUT]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on the shape check
        torch.onnx.export(
            _Tapped(model, taps) if taps else model,
            (torch.zeros(2, 2, 32, 32),),
            str(path),
            input_names=[INPUT],
            output_names=outputs,
            dynamic_axes={n: {0: "batch"} for n in (INPUT, *outputs)},
            opset_version=OPSET,
            dynamo=False,
        )
    return path


def onnx_parity(
    model: CsiRefiner, onnx_path: str | Path, x: np.ndarray, taps: tuple[int, ...] = ()
) -> float:
    """Max abs difference between torch and ONNX Runtime on ``x [N, 2, 32, 32]``, over
    the output and (with ``taps``, for a graph exported with them) the hidden states."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [OUTPUT, HIDDEN_NAME] if taps else [OUTPUT]
    got = sess.run(names, {INPUT: x.astype(np.float32)})
    with torch.no_grad():
        want = model.eval()(torch.from_numpy(x.astype(np.float32)), taps=taps)
    want = want if taps else (want,)
    return max(float(np.abs(g - w.numpy()).max()) for g, w in zip(got, want, strict=True))


@contextmanager
def artifact_folder(folder: str | Path) -> Iterator[Path]:
    """A temporary folder beside ``folder`` to write an artifact in; on success its files
    are synced and it replaces ``folder`` in one rename, on any error it is removed: never
    a half-written artifact."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        yield tmp
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def draft_manifest(
    tmp: Path,
    files: tuple[str, ...],
    *,
    kind: str,
    name: str,
    projection_id: str,
    training: dict[str, Any],
    export_commit: str | None,
    lam: Manifest | None,
    **fields: Any,
) -> Manifest:
    """The draft manifest of the ``files`` written in ``tmp``, checked against ``lam`` (the
    LAM artifact it goes with; ConfigError when it does not fit), written beside them."""
    manifest = Manifest.draft(
        kind=kind,
        name=name,
        projection_id=projection_id,
        producer=Producer(
            commit=str(training.get("commit", "unknown")),
            config={k: v for k, v in training.items() if k != "commit"},
            catalogue_hash=training.get("catalogue_hash"),
            export_commit=export_commit,
        ),
        files={f: sha256_file(tmp / f) for f in files},
        training=training,
        **fields,
    )
    if lam is not None:
        try:
            manifest.check_compatible(lam)
        except IncompatibleModel as exc:
            raise ConfigError(f"cannot export {name!r} for {lam.label}: {exc}") from None
    (tmp / MANIFEST_FILE).write_text(json.dumps(manifest.to_dict(), indent=1) + "\n")
    return manifest


def parity_rows(parity_inputs: np.ndarray | None) -> np.ndarray:
    """The rows an export is checked on: ``parity_inputs``, else 16 seeded random ones."""
    if parity_inputs is not None:
        return parity_inputs
    return np.random.default_rng(0).standard_normal((16, 2, 32, 32)).astype(np.float32)


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
    lam: Manifest | None = None,
    parity_inputs: np.ndarray | None = None,
    environment_id: str | None = None,
    alpha: float | None = None,
    graph: str = "fused",
    export_commit: str | None = None,
    taps: tuple[int, ...] = (),
) -> Manifest:
    """Write an unsigned artifact folder (a draft for ``ModelStore.publish``, which sets the
    version, the file hashes and the signature) atomically; returns the draft manifest.
    A LAM exported with ``taps`` has its hidden states after those blocks as a second
    output, ``h_taps`` (what side networks read), and names them in its manifest.

    Refuses (DataError) when the ONNX export disagrees with torch by more than 1e-4, and
    (ConfigError) a SAM that does not fit ``lam``, the LAM artifact it goes with
    (model_store's compatibility rule; ``lam_sha256`` defaults to that LAM's).
    """
    if lam is not None and lam_sha256 is None:
        lam_sha256 = lam.onnx_sha256
    if taps and kind != "lam":
        raise ConfigError(f"only a LAM exports hidden states, not a {kind}")
    with artifact_folder(folder) as tmp:
        onnx_path = export_onnx(model, tmp / MODEL_FILE, graph, taps)
        err = onnx_parity(model, onnx_path, parity_rows(parity_inputs), taps)
        if err > 1e-4:
            raise DataError(f"ONNX export of {name!r} differs from torch by {err:.2e} (> 1e-4)")
        save_checkpoint(tmp / TORCH_FILE, model, kind, dict(training, projection_id=projection_id))
        outputs = CSI_OUTPUTS
        if taps:
            outputs = (*CSI_OUTPUTS, hidden_spec(len(taps), model.cfg.d_model))
        return draft_manifest(
            tmp,
            (MODEL_FILE, TORCH_FILE),
            kind=kind,
            name=name,
            projection_id=projection_id,
            training=training,
            export_commit=export_commit,
            lam=lam,
            environment_id=environment_id,
            alpha=alpha,
            model=model.cfg.to_dict(),
            params=count_params(model),
            lam_sha256=lam_sha256,
            metrics=metrics,
            onnx_graph=graph,
            outputs=outputs,
            taps=taps or None,
            extra={"onnx_parity_max_abs": err},
        )


def read_manifest(folder: str | Path) -> Manifest:
    """The manifest of an (unsigned) artifact folder, after checking the file hashes it
    lists (DataError otherwise). Signed artifacts come from ``ModelStore.fetch``."""
    folder = Path(folder)
    manifest_path = folder / MANIFEST_FILE
    if not manifest_path.is_file():
        raise DataError(f"{folder} is not a model artifact (no {MANIFEST_FILE})")
    try:
        manifest = Manifest.from_dict(json.loads(manifest_path.read_text()), draft=True)
    except (ValueError, InvalidManifest) as exc:
        raise DataError(f"artifact {folder}: {exc}") from None
    for fname, digest in manifest.files.items():
        if not (folder / fname).is_file() or sha256_file(folder / fname) != digest:
            raise DataError(f"artifact {folder}: {fname} is missing or its sha256 does not match")
    return manifest


def load_artifact(folder: str | Path) -> tuple[CsiRefiner, Manifest]:
    """The torch model and manifest of an (unsigned) artifact folder (see read_manifest)."""
    manifest = read_manifest(folder)
    model, _, _ = load_checkpoint(Path(folder) / TORCH_FILE)
    return model, manifest


def model_from_store(art: VerifiedArtifact) -> CsiRefiner:
    """The torch model of a verified store artifact (``model_store.VerifiedArtifact``)."""
    if TORCH_FILE not in art.files:
        raise DataError(f"artifact {art.name} v{art.version} carries no torch state (model.pt)")
    model, _, _ = load_checkpoint(io.BytesIO(art.files[TORCH_FILE]))
    return model


def store_models(
    store_uri: str | None = None,
    trusted: list[str] | tuple[str, ...] = (),
    *,
    lam_version: int | None = None,
    ref_version: int | None = None,
) -> tuple[CsiRefiner, CsiRefiner, Manifest, Manifest]:
    """The LAM and reference SAM (torch) of a model store (default: the shipped one; the
    latest versions unless given) and their manifests, after checking the reference SAM
    was trained against that LAM."""
    from model_store import ModelStore, TrustedKeys, default_store

    store = ModelStore(store_uri, TrustedKeys(list(trusted))) if store_uri else default_store()
    lam_art = store.fetch("lam", "latest" if lam_version is None else lam_version)
    ref_art = store.fetch("sam_ref", "latest" if ref_version is None else ref_version)
    try:
        ref_art.manifest.check_compatible(lam_art.manifest)
    except IncompatibleModel as exc:
        raise ConfigError(f"the store's LAM and reference SAM do not go together: {exc}") from None
    return (
        model_from_store(lam_art),
        model_from_store(ref_art),
        lam_art.manifest,
        ref_art.manifest,
    )
