"""The typed manifest of an artifact (``manifest.json``, schemas/model-manifest.json) and the
one compatibility rule every consumer applies: the export, the store, the serving runtime
and the xApp.

An artifact is a folder with fixed file names (:data:`MANIFEST_FILE`, :data:`MODEL_FILE`,
:data:`SIGNATURE_FILE`, optionally :data:`TORCH_FILE`). Every model in it maps
``h_in [batch, 2, 32, 32] float32`` to ``h_hat`` of the same shape (:data:`CSI_INPUTS`,
:data:`CSI_OUTPUTS`). A model may serve beside a LAM when (:func:`check_compatible`):

1. its inputs and outputs are exactly those names, shapes and dtypes;
2. it decodes the same UE projection (``projection_id``);
3. a SAM (reference or proxy) was trained against that LAM (``lam_sha256``, the sha256 of
   the LAM's ``model.onnx``).

Two exceptions to 1. A LAM may have a second output, ``h_taps [batch, T, 32, d_model]``:
its hidden states after the blocks its manifest's ``taps`` names (:func:`lam_hidden`). A
proxy in mode ``side`` (a side network) reads them: its inputs are ``h_in``, the LAM's
output ``h_lam`` and ``h_taps`` (:func:`side_inputs`), so it serves only beside a LAM whose
``h_taps`` has its shape.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any

from model_store.errors import IncompatibleModel, InvalidManifest
from schemas import Mode, SchemaValidationError, validate

__all__ = [
    "BASE_NAME",
    "CSI_INPUTS",
    "CSI_OUTPUTS",
    "HIDDEN_NAME",
    "INPUT_NAME",
    "MANIFEST_FILE",
    "MODEL_FILE",
    "OUTPUT_NAME",
    "SIGNATURE_FILE",
    "TORCH_FILE",
    "Kind",
    "Manifest",
    "Producer",
    "TensorSpec",
    "check_compatible",
    "check_io",
    "expected_io",
    "hidden_spec",
    "lam_hidden",
    "session_io",
    "side_inputs",
]

MANIFEST_FILE, MODEL_FILE, SIGNATURE_FILE, TORCH_FILE = (
    "manifest.json",
    "model.onnx",
    "manifest.sig",
    "model.pt",
)
INPUT_NAME, OUTPUT_NAME = "h_in", "h_hat"
HIDDEN_NAME = "h_taps"
BASE_NAME = "h_lam"
"""A side network's input holding the LAM's output ``f_base(h_in)`` for the same rows."""
"""A LAM graph's optional second output: its hidden states after the blocks a side network
reads, ``[batch, taps, 32, d_model] float32`` (:func:`hidden_spec`)."""
_ORT_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16"}


class Kind(str, Enum):
    """What an artifact is: the LAM, the reference SAM, or an environment's proxy SAM."""

    LAM = "lam"
    SAM_REF = "sam_ref"
    SAM_PROXY = "sam_proxy"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a model: ``shape`` has ``"batch"`` for the dynamic axis."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TensorSpec:
        return cls(d["name"], _batch_shape(d["shape"]), d["dtype"])

    @classmethod
    def from_ort(cls, arg: Any) -> TensorSpec:
        """From an ``onnxruntime.NodeArg`` (``name``, ``shape``, ``type``)."""
        return cls(arg.name, _batch_shape(arg.shape), _ORT_DTYPES.get(arg.type, arg.type))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


def session_io(session: Any) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """The inputs and outputs of an ``onnxruntime.InferenceSession`` as TensorSpecs."""
    return (
        [TensorSpec.from_ort(a) for a in session.get_inputs()],
        [TensorSpec.from_ort(a) for a in session.get_outputs()],
    )


def _batch_shape(shape: Sequence[Any]) -> tuple[int | str, ...]:
    """Every symbolic or unknown axis reads as ``"batch"``."""
    return tuple(d if isinstance(d, int) else "batch" for d in shape)


CSI_INPUTS = (TensorSpec(INPUT_NAME, ("batch", 2, 32, 32), "float32"),)
CSI_OUTPUTS = (TensorSpec(OUTPUT_NAME, ("batch", 2, 32, 32), "float32"),)


def hidden_spec(taps: int, d_model: int) -> TensorSpec:
    """The hidden-state output of a LAM graph exported with ``taps`` tapped blocks."""
    return TensorSpec(HIDDEN_NAME, ("batch", taps, 32, d_model), "float32")


def side_inputs(taps: int, d_model: int) -> tuple[TensorSpec, ...]:
    """A side network's inputs: ``h_in``, the LAM's output ``h_lam`` and its hidden states
    ``h_taps`` (its output is ``h_hat``, as every model's)."""
    return (
        CSI_INPUTS[0],
        TensorSpec(BASE_NAME, ("batch", 2, 32, 32), "float32"),
        hidden_spec(taps, d_model),
    )


def check_io(
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    what: str = "model",
    *,
    want: tuple[Sequence[TensorSpec], Sequence[TensorSpec]] = (CSI_INPUTS, CSI_OUTPUTS),
) -> None:
    """Raise IncompatibleModel unless ``inputs``/``outputs`` are exactly ``want`` (default
    :data:`CSI_INPUTS` and :data:`CSI_OUTPUTS`): names, shapes (one dynamic batch axis) and
    dtypes."""
    for side, got, expected in (("input", inputs, want[0]), ("output", outputs, want[1])):
        if [t.name for t in got] != [t.name for t in expected]:
            raise IncompatibleModel(
                f"{what}: expected {side}s {[t.name for t in expected]}, "
                f"got {[t.name for t in got]}"
            )
        for g, w in zip(got, expected, strict=True):
            if g.shape != w.shape:
                raise IncompatibleModel(
                    f"{what}: {side} {g.name!r} has shape {list(g.shape)}, not {list(w.shape)}"
                )
            if g.dtype != w.dtype:
                raise IncompatibleModel(f"{what}: {side} {g.name!r} is {g.dtype}, not {w.dtype}")


def lam_hidden(outputs: Sequence[TensorSpec], what: str = "LAM") -> TensorSpec | None:
    """A LAM graph's hidden-state output (None when it has none): IncompatibleModel unless
    its second output, if any, is ``h_taps [batch, T, 32, d_model] float32``."""
    if len(outputs) < 2 or outputs[1].name != HIDDEN_NAME:
        return None
    got = outputs[1]
    shape = got.shape
    if len(shape) == 4 and all(isinstance(n, int) and n > 0 for n in (shape[1], shape[3])):
        want = hidden_spec(int(shape[1]), int(shape[3]))
        if got == want:
            return got
    raise IncompatibleModel(
        f"{what}: output {HIDDEN_NAME!r} is {got.dtype} {list(shape)}, "
        "expected float32 [batch, taps, 32, d_model]"
    )


def expected_io(
    kind: Kind | str,
    mode: Mode | str | None,
    outputs: Sequence[TensorSpec],
    serving_hidden: TensorSpec | None,
    what: str = "model",
) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """The inputs and outputs a model of ``kind`` and ``mode`` must have beside a LAM whose
    hidden-state output is ``serving_hidden`` (``outputs``: the model's own, for a LAM)."""
    if Kind(kind) is Kind.LAM:
        hidden = lam_hidden(outputs, what)
        return CSI_INPUTS, CSI_OUTPUTS + ((hidden,) if hidden else ())
    if mode is not None and Mode(str(mode)) is Mode.SIDE:
        if serving_hidden is None:
            raise IncompatibleModel(
                f"{what} reads the LAM's hidden states, and the LAM served exports none "
                "(a LAM exported with taps does)"
            )
        return side_inputs(serving_hidden.shape[1], serving_hidden.shape[3]), CSI_OUTPUTS
    return CSI_INPUTS, CSI_OUTPUTS


def check_compatible(
    *,
    what: str,
    kind: Kind | str,
    projection_id: str,
    lam_sha256: str | None,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    serving_projection_id: str,
    serving_lam_sha256: str,
    mode: Mode | str | None = None,
    serving_hidden: TensorSpec | None = None,
) -> None:
    """The one compatibility rule (see the module docstring); raises IncompatibleModel naming
    the first thing that does not match the LAM ``serving_lam_sha256`` decoding
    ``serving_projection_id`` (whose hidden-state output is ``serving_hidden``, for a
    model of ``mode`` side)."""
    want = expected_io(kind, mode, outputs, serving_hidden, what)
    check_io(inputs, outputs, what, want=want)
    if projection_id != serving_projection_id:
        raise IncompatibleModel(
            f"{what} expects projection {projection_id}, the LAM decodes {serving_projection_id}"
        )
    if Kind(kind) is not Kind.LAM and lam_sha256 != serving_lam_sha256:
        raise IncompatibleModel(
            f"{what} was trained against LAM {str(lam_sha256)[:12]}..., the LAM served is "
            f"{serving_lam_sha256[:12]}..."
        )


@dataclass(frozen=True)
class Producer:
    """How a model was made: the commit that trained it, its training configuration, the
    channel catalogue's hash, and the commit whose export wrote ``model.onnx``."""

    commit: str
    config: dict[str, Any] = field(default_factory=dict)
    catalogue_hash: str | None = None
    export_commit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "config": self.config,
            "catalogue_hash": self.catalogue_hash,
            "export_commit": self.export_commit,
        }


@dataclass(frozen=True)
class Manifest:
    """``manifest.json`` of an artifact, typed. Build it with :meth:`from_dict` (validates
    against the schema) or :meth:`draft` (the export); write it with :meth:`to_dict`.

    ``version`` is None in an unpublished draft (the store sets it). Keys the schema does
    not name (``onnx_parity_max_abs``, ...) are kept in ``extra``.
    """

    kind: Kind
    name: str
    projection_id: str
    producer: Producer
    created: str
    files: dict[str, str]
    onnx_sha256: str
    metrics: dict[str, float | None] = field(default_factory=dict)
    inputs: tuple[TensorSpec, ...] = CSI_INPUTS
    outputs: tuple[TensorSpec, ...] = CSI_OUTPUTS
    version: int | None = None
    environment_id: str | None = None
    lam_sha256: str | None = None
    alpha: float | None = None
    mode: Mode | None = None
    model: dict[str, Any] | None = None
    params: int | None = None
    onnx_graph: str | None = None
    taps: tuple[int, ...] | None = None
    training: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, draft: bool = False) -> Manifest:
        """Validate ``d`` against schemas/model-manifest.json (InvalidManifest naming the
        field) and build the typed manifest; a ``draft`` (unpublished) may lack ``version``."""
        try:
            validate("model-manifest", {"version": 1, **d} if draft else d)
        except SchemaValidationError as exc:
            raise InvalidManifest(str(exc)) from None
        known = {f.name for f in fields(cls)} - {"extra"}
        p = d["producer"]
        return cls(
            kind=Kind(d["kind"]),
            name=d["name"],
            projection_id=d["projection_id"],
            producer=Producer(
                p["commit"], p.get("config") or {}, p.get("catalogue_hash"), p.get("export_commit")
            ),
            created=d["created"],
            files=dict(d["files"]),
            onnx_sha256=d["onnx_sha256"],
            metrics=dict(d["metrics"]),
            inputs=tuple(TensorSpec.from_dict(t) for t in d["inputs"]),
            outputs=tuple(TensorSpec.from_dict(t) for t in d["outputs"]),
            version=d.get("version"),
            environment_id=d.get("environment_id"),
            lam_sha256=d.get("lam_sha256"),
            alpha=d.get("alpha"),
            mode=Mode(d["mode"]) if d.get("mode") else None,
            model=d.get("model"),
            params=d.get("params"),
            onnx_graph=d.get("onnx_graph"),
            taps=tuple(d["taps"]) if d.get("taps") else None,
            training=dict(d.get("training") or {}),
            extra={k: v for k, v in d.items() if k not in known},
        )

    @classmethod
    def draft(
        cls,
        *,
        kind: Kind | str,
        name: str,
        projection_id: str,
        producer: Producer,
        files: Mapping[str, str],
        **rest: Any,
    ) -> Manifest:
        """An unpublished manifest created now, ``onnx_sha256`` taken from ``files``."""
        return cls(
            kind=Kind(kind),
            name=name,
            projection_id=projection_id,
            producer=producer,
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            files=dict(files),
            onnx_sha256=files[MODEL_FILE],
            **rest,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what :meth:`from_dict` reads); unset optional fields are omitted,
        except the nullable ones the schema names, written as null."""
        out: dict[str, Any] = {
            "kind": self.kind.value,
            "name": self.name,
            "created": self.created,
            "producer": self.producer.to_dict(),
            "projection_id": self.projection_id,
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "environment_id": self.environment_id,
            "lam_sha256": self.lam_sha256,
            "alpha": self.alpha,
            "metrics": self.metrics,
            "training": self.training,
            "files": self.files,
            "onnx_sha256": self.onnx_sha256,
        }
        for key in ("version", "model", "params", "onnx_graph"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.taps is not None:
            out["taps"] = list(self.taps)
        if self.mode is not None:
            out["mode"] = self.mode.value
        return {**out, **self.extra}

    @property
    def label(self) -> str:
        """``name vN`` (``name (draft)`` before publishing), as people read it."""
        return f"{self.name} v{self.version}" if self.version else f"{self.name} (draft)"

    def check_compatible(self, lam: Manifest) -> None:
        """Raise IncompatibleModel unless this model may serve beside ``lam`` (the rule in
        the module docstring); a LAM is checked against itself for its inputs/outputs."""
        if lam.kind is not Kind.LAM:
            raise IncompatibleModel(f"{lam.label} is a {lam.kind}, not a LAM")
        check_compatible(
            what=f"{self.kind} {self.label}",
            kind=self.kind,
            projection_id=self.projection_id,
            lam_sha256=self.lam_sha256,
            inputs=self.inputs,
            outputs=self.outputs,
            serving_projection_id=lam.projection_id,
            serving_lam_sha256=lam.onnx_sha256,
            mode=self.mode,
            serving_hidden=lam_hidden(lam.outputs, lam.label),
        )
