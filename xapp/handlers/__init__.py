"""One handler per handled message type. Each is built with the parts it needs (never
the core) and declares the message types it registers for; see :class:`Handler`."""

from xapp.handlers.a1_policy import A1PolicyHandler
from xapp.handlers.base import Handler, Replies, dispatch_table
from xapp.handlers.indication import IndicationHandler
from xapp.handlers.subscription import SubscriptionHandler

__all__ = [
    "A1PolicyHandler",
    "Handler",
    "IndicationHandler",
    "Replies",
    "SubscriptionHandler",
    "dispatch_table",
]
