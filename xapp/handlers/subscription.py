"""RIC_SUB_RESP (12011) and RIC_SUB_FAILURE (12012): the outcome of a subscription the
xApp asked for; a failure schedules a retry with backoff."""

from __future__ import annotations

from xapp import e2ap
from xapp.counters import Counters
from xapp.handlers.base import Handler, Replies
from xapp.mtypes import MType
from xapp.subscriptions import Subscriptions

__all__ = ["SubscriptionHandler"]


class SubscriptionHandler(Handler):
    """Args: the ``subscriptions`` whose outcomes arrive, and the ``counters``."""

    mtypes = (MType.RIC_SUB_RESP, MType.RIC_SUB_FAILURE)

    def __init__(self, subscriptions: Subscriptions, counters: Counters) -> None:
        super().__init__(counters)
        self.subscriptions = subscriptions

    def process(self, payload: bytes, meid: str | None) -> Replies:
        outcome = e2ap.decode_subscription_outcome(payload)
        self.subscriptions.outcome(meid or "?", outcome)
        return []
