"""Publishing an accepted proxy: export (ONNX, parity-checked against torch), sign, publish
as the next version of its name; never a half-written version left behind."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any, cast

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lasco.collab import Collab
from lasco.errors import ConfigError, LascoError
from lasco.export import write_artifact
from lasco.export_side import write_side_artifact
from lasco.models import CsiRefiner
from model_store import Manifest, ModelStore, StoreError, TrustedKeys, VerificationError, verify
from model_store.artifact import MANIFEST, MODEL, sha256
from model_store.signing import public_hex
from rapp.adapt_outcome import Published
from schemas import Mode

__all__ = ["PublishError", "publish_proxy"]

logger = logging.getLogger(__name__)


class PublishError(Exception):
    """The export or the store refused the proxy; no version of it is in the store
    (``published`` is set instead when, despite an error, a complete version is)."""

    def __init__(self, message: str, published: Published | None = None) -> None:
        super().__init__(message)
        self.published = published


def publish_proxy(
    store: ModelStore,
    key: Ed25519PrivateKey,
    proxy: CsiRefiner | Collab,
    *,
    name: str,
    environment: str,
    lam: Manifest,
    mode: Mode,
    alpha: float | None,
    training: dict[str, Any],
    metrics: dict[str, float | None],
    parity_inputs: np.ndarray,
    parity_lam: tuple[np.ndarray, np.ndarray] | None = None,
) -> Published:
    """Export ``proxy`` as a ``sam_proxy`` artifact of ``environment`` trained against
    ``lam`` (``parity_inputs [n, 2, 32, 32] float32``: ONNX must match torch to 1e-4 on
    them), sign it with ``key`` and publish it as the next version of ``name`` with ``mode``.
    In mode side ``proxy`` is the side network, and ``parity_lam`` the LAM's output and
    hidden states on ``parity_inputs``.

    Raises PublishError when the export or the store fails. A version the store wrote only
    in part (an object store that failed before the signature) is deleted again; one it
    wrote completely before failing counts as published (``PublishError.published``).
    """
    with tempfile.TemporaryDirectory(prefix="rapp-proxy-") as tmp:
        folder = Path(tmp) / name
        common = {"name": name, "training": training, "metrics": metrics, "lam": lam}
        try:
            if mode is Mode.SIDE:
                if parity_lam is None:
                    raise ConfigError("a side network's export needs the LAM's parity outputs")
                draft = write_side_artifact(
                    cast(Collab, proxy),
                    folder,
                    environment_id=environment,
                    parity=(parity_inputs, *parity_lam),
                    export_commit=training.get("commit"),
                    **common,
                )
            else:
                draft = write_artifact(
                    cast(CsiRefiner, proxy),
                    folder,
                    kind="sam_proxy",
                    projection_id=lam.projection_id,
                    parity_inputs=parity_inputs,
                    environment_id=environment,
                    alpha=alpha,
                    export_commit=training.get("commit"),
                    **common,
                )
        except (LascoError, OSError) as exc:
            raise PublishError(f"export of {name} failed: {exc}") from exc
        before: set[int] | None = None
        try:
            before = set(store.versions(name))
            manifest = store.publish(folder, key, mode=mode.value)
        except (StoreError, OSError) as exc:
            done = _clean_up(store, key, name, before, draft.onnx_sha256)
            raise PublishError(f"publishing {name} failed: {exc}", done) from exc
    return Published(manifest.name, int(manifest.version or 0), manifest.onnx_sha256)


def _clean_up(
    store: ModelStore,
    key: Ed25519PrivateKey,
    name: str,
    before: set[int] | None,
    onnx_sha256: str,
) -> Published | None:
    """After a failed publish: delete any new version of ``name`` holding this model.onnx
    that is not completely written and signed; return a complete one, if any."""
    if before is None:  # the store could not even be listed: it wrote nothing
        return None
    trusted = TrustedKeys([public_hex(key)])
    try:
        new = sorted(set(store.versions(name)) - before)
    except (StoreError, OSError) as exc:
        logger.error("%s: cannot list versions after a failed publish: %s", name, exc)
        return None
    for v in new:
        try:
            files = store.backend.read(name, v)
        except (StoreError, OSError):
            files = {}
        if not _ours(files, onnx_sha256):
            continue  # another publisher's version, or nothing to tell whose
        try:
            art = verify(files, trusted, check_onnx=False)
            if art.manifest.version == v:
                return Published(name, v, onnx_sha256)
        except VerificationError:
            pass
        try:
            store.backend.delete(name, v)
            logger.warning("%s: deleted the half-written version %d", name, v)
        except (StoreError, OSError) as exc:
            logger.error("%s: cannot delete the half-written version %d: %s", name, v, exc)
    return None


def _ours(files: dict[str, bytes], onnx_sha256: str) -> bool:
    """Whether a (possibly partial) version holds this model: its model.onnx, or else its
    manifest naming that model's sha256."""
    if MODEL in files:
        return sha256(files[MODEL]) == onnx_sha256
    try:
        return json.loads(files[MANIFEST]).get("onnx_sha256") == onnx_sha256
    except (KeyError, ValueError, AttributeError):
        return False
