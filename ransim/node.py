"""An E2 node that serves cells, each in one environment (a catalogue region), and sends
CSI reports of its UEs as real E2AP RICindication PDUs with E2SM-CSI content.

Channels come from lasco.channels (Sionna, cached), codewords from the UE-side
projection (lasco.codec); a fraction of UEs also report their full CSI as labels
for data collection. The node answers RICsubscriptionRequests too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from lasco.channels import ChannelCache, EnvSpec, load_region, to_real
from lasco.codec import Projection
from lasco.errors import ConfigError
from xapp import e2ap
from xapp.e2sm_csi import (
    E2T_BUFFER_BYTES,
    CsiReport,
    NrCgi,
    decode_event_trigger,
    encode_ran_function,
    encode_report,
    ran_function_definition,
)
from xapp.mtypes import MType

__all__ = ["Cell", "E2Node"]


@dataclass
class Cell:
    """A cell of the node: its id, its environment and the channels of its UEs; with an
    ``nr_cgi`` its reports carry it, and ``cell_id`` must be its text form."""

    cell_id: str
    env: EnvSpec
    n_samples: int = 200
    h: np.ndarray | None = field(default=None, repr=False)  # [n, 2, 32, 32] float32
    nr_cgi: NrCgi | None = None

    def __post_init__(self) -> None:
        if self.nr_cgi is not None and self.cell_id != self.nr_cgi.text:
            raise ConfigError(
                f"cell {self.cell_id!r}: with an NR-CGI its id is {self.nr_cgi.text!r}"
            )


class E2Node:
    """A simulated E2 node (its RMR meid is ``node_id``).

    Args:
        node_id: the E2 node id.
        cells: the cells it serves.
        projection: the UE projection (every UE uses the same one).
        ran_function_id: the RAN function of E2SM-CSI.
        label_fraction: fraction of UEs per report that also send full CSI.
        codeword_dtype: ``float16`` (default, half the bytes) or ``float32``.
        max_indication_bytes: a report whose PDU would be larger is sent as several
            indications (E2 Termination's 128 KiB receive buffer by default).
    """

    def __init__(
        self,
        node_id: str,
        cells: list[Cell],
        projection: Projection,
        *,
        ran_function_id: int = 7,
        label_fraction: float = 0.0,
        codeword_dtype: str = "float16",
        seed: int = 0,
        cache: ChannelCache | None = None,
        max_indication_bytes: int = E2T_BUFFER_BYTES,
    ) -> None:
        self.node_id, self.cells, self.projection = (
            node_id,
            {c.cell_id: c for c in cells},
            projection,
        )
        self.ran_function_id, self.label_fraction = ran_function_id, label_fraction
        self.codeword_dtype, self.max_indication_bytes = codeword_dtype, max_indication_bytes
        self.rng = np.random.default_rng(seed)
        self.sn = 0
        self.subscription: tuple[int, int] | None = None  # (requestor, instance)
        self.report_period_ms = 10
        for c in cells:
            if c.h is None:
                c.h = to_real(load_region(c.env, c.n_samples, cache))

    def move(self, cell_id: str, env: EnvSpec, cache: ChannelCache | None = None) -> None:
        """Put a cell in another environment: its UEs draw their channels from ``env`` now."""
        cell = self.cells[cell_id]
        cell.env, cell.h = env, to_real(load_region(env, cell.n_samples, cache))

    def report(self, cell_id: str, n_ues: int) -> tuple[CsiReport, np.ndarray]:
        """A report of ``n_ues`` random UEs of a cell, and their true CSI ``[n, 2, 32, 32]``."""
        cell = self.cells[cell_id]
        if n_ues > len(cell.h):
            raise ConfigError(
                f"cell {cell_id}: {n_ues} UEs in one report but {len(cell.h)} channels drawn"
            )
        idx = self.rng.choice(len(cell.h), size=n_ues, replace=False)  # distinct UEs
        h = cell.h[idx]
        rows = labels = None
        k = round(self.label_fraction * n_ues)
        if k:
            rows = np.sort(self.rng.choice(n_ues, size=k, replace=False))
            labels = h[rows]
        rep = CsiReport(
            cell_id,
            time.time_ns(),
            self.projection.id,
            self.report_period_ms,
            idx.astype(np.uint64),
            self.projection.encode(h),
            rows,
            labels,
            cell.nr_cgi,
        )
        return rep, h

    def ran_function(self) -> tuple[int, bytes]:
        """``(RAN function id, definition)`` this node declares for E2SM-CSI in its E2
        setup (``schemas/e2sm-csi-ran-function.json``)."""
        definition = ran_function_definition([self.projection.id], self.max_indication_bytes)
        return self.ran_function_id, encode_ran_function(definition)

    def _pdu(self, rep: CsiReport) -> bytes:
        header, message = encode_report(rep, self.codeword_dtype)
        req, inst = self.subscription or (0, 0)
        self.sn += 1
        return e2ap.encode_indication(
            e2ap.Indication(req, inst, self.ran_function_id, 1, self.sn % 65536, header, message)
        )

    def indication(self, cell_id: str, n_ues: int) -> tuple[bytes, np.ndarray]:
        """One E2AP RICindication PDU (aligned PER) for a whole report, whatever its size,
        and the UEs' true CSI (``indication_pdus`` keeps to the size limit)."""
        rep, h = self.report(cell_id, n_ues)
        return self._pdu(rep), h

    def indication_pdus(self, cell_id: str, n_ues: int) -> list[tuple[bytes, np.ndarray]]:
        """A report as one or more PDUs of at most ``max_indication_bytes`` (split by UEs),
        each with its UEs' true CSI."""
        rep, h = self.report(cell_id, n_ues)
        out: list[tuple[bytes, np.ndarray]] = []

        def emit(start: int, stop: int) -> None:
            pdu = self._pdu(rep.part(start, stop))
            if len(pdu) <= self.max_indication_bytes or stop - start == 1:
                out.append((pdu, h[start:stop]))
                return
            self.sn -= 1  # that PDU is not sent: its halves are
            mid = (start + stop) // 2
            emit(start, mid)
            emit(mid, stop)

        emit(0, len(rep))
        return out

    def indications(self, n: int, n_ues: int) -> Iterator[tuple[str, bytes, np.ndarray]]:
        """``n`` reports, cycling over the cells, each as one or more PDUs within the size
        limit: ``(cell_id, pdu, true CSI of its UEs)``."""
        ids = list(self.cells)
        for i in range(n):
            cell = ids[i % len(ids)]
            for pdu, h in self.indication_pdus(cell, n_ues):
                yield cell, pdu, h

    def handle(self, mtype: int, payload: bytes) -> list[tuple[int, bytes]]:
        """The node's side of the subscription procedures: a request is answered and its
        ids tag the reports from then on; a deletion of that subscription stops them (the
        node then tags reports with no subscription)."""
        if mtype == MType.RIC_SUB_DEL_REQ:
            req, inst, _ = e2ap.decode_subscription_delete_request(payload)
            if self.subscription == (req, inst):
                self.subscription = None
            return []
        if mtype != MType.RIC_SUB_REQ:
            return []
        req, inst, fid, trigger = e2ap.decode_subscription_request(payload)
        if fid != self.ran_function_id:
            return [(MType.RIC_SUB_FAILURE, e2ap.encode_subscription_failure(req, inst, fid))]
        self.report_period_ms = decode_event_trigger(trigger)
        self.subscription = (req, inst)
        return [(MType.RIC_SUB_RESP, e2ap.encode_subscription_response(req, inst, fid))]
