"""E2SM-CSI: the project's E2 service model for CSI reports (schemas/e2sm-csi.json).

The RICindicationHeader is msgpack of ``{cell_id, timestamp_ns, projection_id,
report_period_ms}``; the RICindicationMessage is msgpack of ``{ue_ids, codewords,
labels?}`` where ``codewords`` is one binary block ``{dtype, shape: [n, M], data}``
(little-endian float32 or float16, row-major) for all UEs of the report, and
``labels`` (optional, for data collection) ``{rows, block: [k, 2, 32, 32] float32}``.
The event trigger of a subscription is msgpack of ``{report_period_ms}``.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgpack
import numpy as np

from schemas import SchemaValidationError, validate
from xapp.errors import MalformedMessage

__all__ = [
    "CsiReport",
    "decode_event_trigger",
    "decode_report",
    "encode_event_trigger",
    "encode_report",
]

_DTYPES = {"float32": np.dtype("<f4"), "float16": np.dtype("<f2")}


@dataclass(frozen=True)
class CsiReport:
    """One decoded report. ``codewords [n, M] float32``; ``label_rows [k]`` index ``ue_ids``."""

    cell_id: str
    timestamp_ns: int
    projection_id: str
    report_period_ms: int | None
    ue_ids: np.ndarray
    codewords: np.ndarray
    label_rows: np.ndarray | None = None
    labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ue_ids)


def _block(arr: np.ndarray, dtype: str) -> dict:
    a = np.ascontiguousarray(arr, dtype=_DTYPES[dtype])
    return {"dtype": dtype, "shape": list(a.shape), "data": a.tobytes()}


def encode_report(report: CsiReport, dtype: str = "float16") -> tuple[bytes, bytes]:
    """``(header bytes, message bytes)`` of a report; codewords sent as ``dtype``."""
    header = {
        "cell_id": report.cell_id,
        "timestamp_ns": int(report.timestamp_ns),
        "projection_id": report.projection_id,
    }
    if report.report_period_ms is not None:
        header["report_period_ms"] = int(report.report_period_ms)
    message: dict = {
        "ue_ids": [int(u) for u in report.ue_ids],
        "codewords": _block(report.codewords, dtype),
    }
    if report.labels is not None:
        message["labels"] = {
            "rows": [int(r) for r in report.label_rows],
            "block": _block(report.labels, "float32"),
        }
    return msgpack.packb(header), msgpack.packb(message)


def _unpack(data: bytes, what: str, limit: int) -> object:
    try:
        return msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            max_bin_len=limit,
            max_str_len=1 << 12,
            max_array_len=1 << 16,
            max_map_len=64,
        )
    except Exception as exc:  # msgpack raises several types; all mean "bad bytes"
        raise MalformedMessage("e2sm-msgpack", f"{what} is not valid msgpack: {exc}") from None


def _array(block: dict, what: str) -> np.ndarray:
    dt = _DTYPES[block["dtype"]]
    shape = tuple(block["shape"])
    need = int(np.prod(shape)) * dt.itemsize
    if len(block["data"]) != need:
        raise MalformedMessage(
            "e2sm-shape",
            f"{what}: {len(block['data'])} bytes for shape "
            f"{list(shape)} {block['dtype']} (needs {need})",
        )
    return np.frombuffer(block["data"], dtype=dt).reshape(shape).astype(np.float32)


def decode_report(
    header: bytes, message: bytes, *, max_payload: int = 1 << 22, max_ues: int = 4096
) -> CsiReport:
    """Decode and validate a report; MalformedMessage (reason ``e2sm-*``) on anything wrong."""
    h = _unpack(header, "indication header", 1 << 10)
    m = _unpack(message, "indication message", max_payload)
    try:
        validate("e2sm-csi", {"header": h, "message": m})
    except SchemaValidationError as exc:
        raise MalformedMessage("e2sm-schema", str(exc)) from None
    n = len(m["ue_ids"])
    if n > max_ues:
        raise MalformedMessage("e2sm-too-many-ues", f"{n} UEs > limit {max_ues}")
    cw = m["codewords"]
    if len(cw["shape"]) != 2 or cw["shape"][0] != n:
        raise MalformedMessage("e2sm-shape", f"codewords shape {cw['shape']} for {n} UEs")
    codewords = _array(cw, "codewords")
    rows = labels = None
    if "labels" in m:
        rows = np.asarray(m["labels"]["rows"], dtype=np.int64)
        blk = m["labels"]["block"]
        if tuple(blk["shape"]) != (len(rows), 2, 32, 32) or (rows >= n).any():
            raise MalformedMessage(
                "e2sm-shape",
                f"labels shape {blk['shape']} / rows do not match {len(rows)} labelled of {n} UEs",
            )
        labels = _array(blk, "labels")
    return CsiReport(
        h["cell_id"],
        h["timestamp_ns"],
        h["projection_id"],
        h.get("report_period_ms"),
        np.asarray(m["ue_ids"], dtype=np.uint32),
        codewords,
        rows,
        labels,
    )


def encode_event_trigger(report_period_ms: int) -> bytes:
    return msgpack.packb({"report_period_ms": int(report_period_ms)})


def decode_event_trigger(data: bytes) -> int:
    obj = _unpack(data, "event trigger", 64)
    if not isinstance(obj, dict) or not isinstance(obj.get("report_period_ms"), int):
        raise MalformedMessage("e2sm-trigger", "event trigger lacks an integer report_period_ms")
    return obj["report_period_ms"]
