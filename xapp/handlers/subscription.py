"""RIC_SUB_RESP (12011) and RIC_SUB_FAILURE (12012): the outcome of a subscription the
core asked for; a failure schedules a retry with backoff."""

from __future__ import annotations

from typing import TYPE_CHECKING

from xapp import e2ap
from xapp.errors import MalformedMessage

if TYPE_CHECKING:
    from xapp.core import CsiXapp


def handle(core: CsiXapp, payload: bytes, meid: str | None) -> list[tuple[int, bytes]]:
    try:
        outcome = e2ap.decode_subscription_outcome(payload)
    except MalformedMessage as exc:
        core.drop(exc.reason, 1, cell="?", detail=str(exc))
        return []
    core.subscriptions.outcome(meid or "?", outcome)
    return []
