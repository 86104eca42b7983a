"""Proxy SAM slots: an ONNX Runtime session checked against the LAM served (model_store's
compatibility rule), warmed up, with how it combines (its mode and alpha)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import onnxruntime as ort

from lasco.codec import CSI_SHAPE
from lasco.errors import ConfigError, LascoError
from model_store import IncompatibleModel, Kind, check_compatible, check_io
from model_store.manifest import (
    BASE_NAME,
    HIDDEN_NAME,
    INPUT_NAME,
    OUTPUT_NAME,
    TensorSpec,
    expected_io,
    session_io,
)
from schemas import Mode

__all__ = [
    "BASE",
    "HIDDEN",
    "INPUT",
    "OUTPUT",
    "IncompatibleProxy",
    "ProxySlot",
    "open_session",
    "prepare_proxy",
    "zero_feeds",
]

INPUT, OUTPUT, BASE, HIDDEN = INPUT_NAME, OUTPUT_NAME, BASE_NAME, HIDDEN_NAME


class IncompatibleProxy(LascoError, ValueError):
    """A model that does not fit this runtime (model_store's compatibility rule: inputs and
    outputs, projection, LAM sha256), or one ONNX Runtime cannot load or run."""


@dataclass(frozen=True)
class ProxySlot:
    """An installed proxy SAM: its session, how it combines, and where it came from."""

    env_id: str
    session: ort.InferenceSession = field(repr=False)
    mode: Mode
    alpha: float
    name: str
    version: int | None
    sha256: str
    cost: float = 1.0  # relative cost of one row (the ONNX size, a proxy for FLOPs)


def open_session(
    onnx: bytes,
    what: str,
    options: ort.SessionOptions,
    providers: list[str],
    kind: Kind | None = Kind.SAM_REF,
) -> ort.InferenceSession:
    """An ONNX Runtime session of ``onnx`` whose inputs and outputs are those of a model of
    ``kind`` (a LAM's may add ``h_taps``; None: left to :func:`prepare_proxy`, which knows
    the proxy's mode); otherwise IncompatibleProxy naming ``what``."""
    try:
        sess = ort.InferenceSession(onnx, sess_options=options, providers=providers)
    except Exception as exc:  # ORT's own exception types
        raise IncompatibleProxy(f"{what}: ONNX Runtime cannot load it: {exc}") from None
    if kind is not None:
        try:
            inputs, outputs = session_io(sess)
            check_io(inputs, outputs, what, want=expected_io(kind, None, outputs, None, what))
        except IncompatibleModel as exc:
            raise IncompatibleProxy(str(exc)) from None
    return sess


def zero_feeds(sess: ort.InferenceSession, batch: int) -> dict[str, np.ndarray]:
    """Zeros for every input of ``sess``, ``batch`` rows each (warm-up runs)."""
    return {
        t.name: np.zeros((batch, *(int(n) for n in t.shape[1:])), np.float32)
        for t in session_io(sess)[0]
    }


def prepare_proxy(
    env_id: str,
    sess: ort.InferenceSession,
    onnx: bytes,
    *,
    serving_projection_id: str,
    serving_lam_sha256: str,
    mode: Mode | str = Mode.E_LASCO,
    alpha: float = 1.0,
    lam_sha256: str,
    projection_id: str,
    name: str = "",
    version: int | None = None,
    serving_hidden: TensorSpec | None = None,
) -> ProxySlot:
    """Check a proxy's session against the LAM served (model_store's compatibility rule;
    a side network's against the LAM's hidden-state output ``serving_hidden``), warm it
    up, and return its slot; IncompatibleProxy or ConfigError otherwise."""
    proxy_modes = [m.value for m in Mode if m.uses_proxy]
    if str(mode) not in proxy_modes:
        raise ConfigError(f"proxy mode {str(mode)!r} is not one of {proxy_modes}")
    if not np.isfinite(alpha) or not 0 <= alpha <= 10:
        raise ConfigError(f"alpha {alpha!r} must be a finite number in [0, 10]")
    inputs, outputs = session_io(sess)
    try:
        check_compatible(
            what=f"proxy for {env_id!r}",
            kind=Kind.SAM_PROXY,
            projection_id=projection_id,
            lam_sha256=lam_sha256,
            inputs=inputs,
            outputs=outputs,
            serving_projection_id=serving_projection_id,
            serving_lam_sha256=serving_lam_sha256,
            mode=mode,
            serving_hidden=serving_hidden,
        )
    except IncompatibleModel as exc:
        raise IncompatibleProxy(str(exc)) from None
    warm = sess.run([OUTPUT], zero_feeds(sess, 2))[0]
    if warm.shape != (2, *CSI_SHAPE) or not np.isfinite(warm).all():
        raise IncompatibleProxy(f"proxy for {env_id!r} failed its warm-up run")
    return ProxySlot(
        str(env_id),
        sess,
        Mode(str(mode)),
        float(alpha),
        name,
        version,
        hashlib.sha256(onnx).hexdigest(),
        float(len(onnx)),
    )
