"""RIC_INDICATION (12050): decode the E2AP PDU and its E2SM-CSI report, check it alone and
queue its rows for micro-batched reconstruction. A malformed PDU or report, one for another
projection, one whose codewords do not have the projection's width, hold values beyond
``max_abs_codeword`` or repeat a UE is refused (counted by reason and dropped) before it
joins a batch, so it cannot cost the reports queued with it."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from lasco.codec import Projection
from xapp import e2ap
from xapp.batching import MicroBatcher
from xapp.counters import Counters
from xapp.e2sm_csi import decode_report
from xapp.errors import MalformedMessage
from xapp.handlers.base import Handler, Replies
from xapp.mtypes import MType
from xapp.settings import LimitSettings

__all__ = ["IndicationHandler"]


class IndicationHandler(Handler):
    """Args: ``limits`` on one indication, the ``projection`` the runtime decodes, the
    ``batcher`` rows are queued in, the ``counters``, and ``matches(meid, indication)``:
    whether it belongs to a live subscription (None: every indication is served)."""

    mtypes = (MType.RIC_INDICATION,)

    def __init__(
        self,
        limits: LimitSettings,
        projection: Projection,
        batcher: MicroBatcher,
        counters: Counters,
        matches: Callable[[str | None, e2ap.Indication], bool] | None = None,
    ) -> None:
        super().__init__(counters)
        self.limits, self.projection, self.batcher = limits, projection, batcher
        self.matches = matches

    def process(self, payload: bytes, meid: str | None) -> Replies:
        t_in = time.perf_counter()
        if len(payload) > self.limits.max_payload_bytes:
            raise MalformedMessage(
                "oversize", f"{len(payload)} bytes > {self.limits.max_payload_bytes} from {meid}"
            )
        ind = e2ap.decode_indication(payload)
        if self.matches is not None and not self.matches(meid, ind):
            raise MalformedMessage(
                "no-subscription",
                f"indication from {meid} for request {ind.requestor_id}/{ind.instance_id}, "
                f"RAN function {ind.ran_function_id}: no live subscription",
            )
        report = decode_report(
            ind.header,
            ind.message,
            max_payload=self.limits.max_payload_bytes,
            max_ues=self.limits.max_ues_per_report,
        )
        if report.projection_id != self.projection.id:
            raise MalformedMessage(
                "unknown-projection",
                f"projection {report.projection_id} from {meid}",
                cell=report.cell_id,
            )
        self._check_alone(report, meid)
        self.batcher.add(report, t_in)
        return []

    def _check_alone(self, report, meid: str | None) -> None:
        """What would make the report fail in a batch with others, refused here."""
        width = report.codewords.shape[1]
        if width != self.projection.m:
            raise MalformedMessage(
                "e2sm-width",
                f"codewords {width} wide from {meid}; projection {self.projection.id} "
                f"needs {self.projection.m}",
                cell=report.cell_id,
            )
        values = report.codewords[np.isfinite(report.codewords)]
        if values.size and np.abs(values).max() > self.limits.max_abs_codeword:
            raise MalformedMessage(
                "e2sm-range",
                f"codeword magnitude {float(np.abs(values).max()):.3g} > "
                f"{self.limits.max_abs_codeword:g} from {meid}",
                cell=report.cell_id,
            )
        if len(np.unique(report.ue_ids)) != len(report.ue_ids):
            raise MalformedMessage(
                "e2sm-duplicate-ue",
                f"a UE id repeats in one report from {meid}",
                cell=report.cell_id,
            )
        rows = report.label_rows
        if rows is not None and (len(np.unique(rows)) != len(rows) or (rows < 0).any()):
            raise MalformedMessage(
                "e2sm-label-rows",
                f"label rows repeat or are negative, from {meid}",
                cell=report.cell_id,
            )
