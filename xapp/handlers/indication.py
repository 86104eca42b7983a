"""RIC_INDICATION (12050): decode the E2AP PDU and its E2SM-CSI report, queue its rows
for micro-batched reconstruction. A malformed PDU or report is counted by reason and
dropped; it never raises out of the core."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from xapp import e2ap
from xapp.e2sm_csi import decode_report
from xapp.errors import MalformedMessage

if TYPE_CHECKING:
    from xapp.core import CsiXapp


def handle(core: CsiXapp, payload: bytes, meid: str | None) -> list[tuple[int, bytes]]:
    t_in = time.perf_counter()
    s = core.settings
    if len(payload) > s.max_payload_bytes:
        core.drop("oversize", 1, cell="?")
        return []
    try:
        ind = e2ap.decode_indication(payload)
        report = decode_report(
            ind.header, ind.message, max_payload=s.max_payload_bytes, max_ues=s.max_ues_per_report
        )
    except MalformedMessage as exc:
        core.drop(exc.reason, 1, cell="?", detail=str(exc))
        return []
    if report.projection_id != core.runtime.projection.id:
        core.drop(
            "unknown-projection",
            1,
            cell=report.cell_id,
            detail=f"projection {report.projection_id} from {meid}",
        )
        return []
    core.enqueue(report, t_in)
    return core.maybe_flush()
