"""RIC_INDICATION (12050): decode the E2AP PDU and its E2SM-CSI report and queue its rows
for micro-batched reconstruction. A malformed PDU or report, or one for another
projection, is refused (counted by reason and dropped)."""

from __future__ import annotations

import time

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
    """Args: ``limits`` on one indication, the ``projection_id`` the runtime decodes, the
    ``batcher`` rows are queued in, and the ``counters``."""

    mtypes = (MType.RIC_INDICATION,)

    def __init__(
        self, limits: LimitSettings, projection_id: str, batcher: MicroBatcher, counters: Counters
    ) -> None:
        super().__init__(counters)
        self.limits, self.projection_id, self.batcher = limits, projection_id, batcher

    def process(self, payload: bytes, meid: str | None) -> Replies:
        t_in = time.perf_counter()
        if len(payload) > self.limits.max_payload_bytes:
            raise MalformedMessage(
                "oversize", f"{len(payload)} bytes > {self.limits.max_payload_bytes} from {meid}"
            )
        ind = e2ap.decode_indication(payload)
        report = decode_report(
            ind.header,
            ind.message,
            max_payload=self.limits.max_payload_bytes,
            max_ues=self.limits.max_ues_per_report,
        )
        if report.projection_id != self.projection_id:
            raise MalformedMessage(
                "unknown-projection",
                f"projection {report.projection_id} from {meid}",
                cell=report.cell_id,
            )
        self.batcher.add(report, t_in)
        return []
