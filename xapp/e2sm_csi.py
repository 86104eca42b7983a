"""E2SM-CSI: the project's E2 service model for CSI reports (schemas/e2sm-csi.json).

The RICindicationHeader is msgpack of ``{cell_id, timestamp_ns, projection_id,
report_period_ms}``; the RICindicationMessage is msgpack of ``{ue_ids, codewords,
labels?}`` where ``codewords`` is one binary block ``{dtype, shape: [n, M], data}``
(little-endian float32 or float16, row-major) for all UEs of the report, and
``labels`` (optional, for data collection) ``{rows, block: [k, 2, 32, 32] float32}``.
A cell may carry its NR-CGI (``nr_cgi``: PLMN identity and 36-bit NR cell identity), and
then ``cell_id`` is its text form ``PLMN-NCI``; UE ids are E2SM UE ids (the node's 8-octet
RAN UE ID), unique within a report.
The event trigger of a subscription is msgpack of ``{report_period_ms}``.

An E2 node declares the model in its E2 setup with the RAN function definition of
``schemas/e2sm-csi-ran-function.json`` (msgpack, :func:`ran_function_definition`): the
short name, the OID, the event trigger and report styles, the projections it encodes with
and the largest indication it sends. E2 Termination receives each SCTP message into a
128 KiB buffer, so a node splits a report whose PDU would exceed ``maxIndicationBytes``
into several indications (``ransim``), and the xApp's ``limits.max_payload_bytes``
matches that buffer.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgpack
import numpy as np

from schemas import SchemaValidationError, validate
from xapp.errors import MalformedMessage

__all__ = [
    "E2T_BUFFER_BYTES",
    "RAN_FUNCTION_OID",
    "RAN_FUNCTION_SHORT_NAME",
    "CsiReport",
    "NrCgi",
    "decode_event_trigger",
    "decode_ran_function",
    "decode_report",
    "encode_event_trigger",
    "encode_ran_function",
    "encode_report",
    "ran_function_definition",
]

_DTYPES = {"float32": np.dtype("<f4"), "float16": np.dtype("<f2")}

RAN_FUNCTION_SHORT_NAME = "LASCO-E2SM-CSI"
# Under the IANA experimental arc (1.3.6.1.3) until the model is registered.
RAN_FUNCTION_OID = "1.3.6.1.3.2512.12170.1"
E2T_BUFFER_BYTES = 128 * 1024  # E2 Termination's SCTP receive buffer


def ran_function_definition(
    projections: list[str], max_indication_bytes: int = E2T_BUFFER_BYTES, instance: int = 1
) -> dict:
    """The RAN function definition an E2 node declares for E2SM-CSI (validated)."""
    definition = {
        "ranFunctionShortName": RAN_FUNCTION_SHORT_NAME,
        "ranFunctionE2SMOid": RAN_FUNCTION_OID,
        "ranFunctionDescription": "CSI reports (projected codewords, optional full CSI "
        "labels) for AI CSI feedback",
        "ranFunctionInstance": instance,
        "eventTriggerStyles": [{"styleType": 1, "styleName": "Periodic", "formatType": 1}],
        "reportStyles": [
            {
                "styleType": 1,
                "styleName": "CSI codewords per report period",
                "indicationHeaderFormat": 1,
                "indicationMessageFormat": 1,
                "projections": list(projections),
                "maxIndicationBytes": int(max_indication_bytes),
            }
        ],
    }
    validate("e2sm-csi-ran-function", definition)
    return definition


def encode_ran_function(definition: dict) -> bytes:
    validate("e2sm-csi-ran-function", definition)
    return msgpack.packb(definition)


def decode_ran_function(data: bytes) -> dict:
    """A RAN function definition from an E2 setup; MalformedMessage when it is not one."""
    obj = _unpack(data, "RAN function definition", 1 << 14)
    try:
        validate("e2sm-csi-ran-function", obj)
    except SchemaValidationError as exc:
        raise MalformedMessage("e2sm-ran-function", str(exc)) from None
    return obj


@dataclass(frozen=True)
class NrCgi:
    """The NR Cell Global Identity: PLMN identity (MCC then MNC digits) and the 36-bit NR
    cell identity. Its text form ``PLMN-NCI`` (NCI as 9 hex digits) names the cell."""

    plmn_id: str
    nr_cell_id: int

    @property
    def text(self) -> str:
        return f"{self.plmn_id}-{self.nr_cell_id:09x}"


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
    nr_cgi: NrCgi | None = None

    def __len__(self) -> int:
        return len(self.ue_ids)

    def part(self, start: int, stop: int) -> CsiReport:
        """The report of UEs ``start:stop`` (their labels re-indexed)."""
        rows = labels = None
        if self.label_rows is not None:
            keep = (self.label_rows >= start) & (self.label_rows < stop)
            rows, labels = self.label_rows[keep] - start, self.labels[keep]
        return CsiReport(
            self.cell_id,
            self.timestamp_ns,
            self.projection_id,
            self.report_period_ms,
            self.ue_ids[start:stop],
            self.codewords[start:stop],
            rows,
            labels,
            self.nr_cgi,
        )


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
    if report.nr_cgi is not None:
        header["nr_cgi"] = {
            "plmn_id": report.nr_cgi.plmn_id,
            "nr_cell_id": int(report.nr_cgi.nr_cell_id),
        }
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
    nr_cgi = None
    if "nr_cgi" in h:
        nr_cgi = NrCgi(h["nr_cgi"]["plmn_id"], h["nr_cgi"]["nr_cell_id"])
        if h["cell_id"] != nr_cgi.text:
            raise MalformedMessage(
                "e2sm-cell-id",
                f"cell_id {h['cell_id']!r} is not the text form {nr_cgi.text!r} of its NR-CGI",
            )
    return CsiReport(
        h["cell_id"],
        h["timestamp_ns"],
        h["projection_id"],
        h.get("report_period_ms"),
        np.asarray(m["ue_ids"], dtype=np.uint64),
        codewords,
        rows,
        labels,
        nr_cgi,
    )


def encode_event_trigger(report_period_ms: int) -> bytes:
    return msgpack.packb({"report_period_ms": int(report_period_ms)})


def decode_event_trigger(data: bytes) -> int:
    obj = _unpack(data, "event trigger", 64)
    if not isinstance(obj, dict) or not isinstance(obj.get("report_period_ms"), int):
        raise MalformedMessage("e2sm-trigger", "event trigger lacks an integer report_period_ms")
    return obj["report_period_ms"]
