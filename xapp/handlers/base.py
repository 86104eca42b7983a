"""The base handler: a message type's logic, and its answer to the core's typed errors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import ClassVar

from xapp.counters import Counters
from xapp.errors import XappError

__all__ = ["Handler", "Replies", "dispatch_table"]

Replies = list[tuple[int, bytes]]
"""Replies to the sender: ``[(mtype, payload), ...]``."""


class Handler(ABC):
    """Handles the message types in ``mtypes``.

    ``process`` holds the logic and raises :class:`XappError` for a message it cannot
    serve; calling the handler runs ``process`` and turns such an error into
    ``refused``'s answer: by default a drop counted by reason, logged at a limited rate,
    and no reply.
    """

    mtypes: ClassVar[tuple[int, ...]] = ()
    # A handler that takes the xApp's lock itself, only around its fast part (the A1
    # handler: a store fetch must not hold the E2 path).
    locks_itself: ClassVar[bool] = False

    def __init__(self, counters: Counters) -> None:
        self.counters = counters

    def __call__(self, payload: bytes, meid: str | None) -> Replies:
        try:
            return self.process(payload, meid)
        except XappError as exc:
            return self.refused(exc, payload, meid)

    @abstractmethod
    def process(self, payload: bytes, meid: str | None) -> Replies:
        """Handle one message; raises XappError when it cannot be served."""

    def refused(self, exc: XappError, payload: bytes, meid: str | None) -> Replies:
        """The answer to a message ``process`` refused."""
        self.counters.drop(exc.reason, 1, cell=exc.cell, detail=str(exc))
        return []


def dispatch_table(handlers: Iterable[Handler]) -> dict[int, Handler]:
    """``{mtype: handler}``; ValueError when two handlers register one message type."""
    table: dict[int, Handler] = {}
    for handler in handlers:
        for mtype in handler.mtypes:
            if mtype in table:
                raise ValueError(
                    f"message type {mtype} has two handlers: {type(table[mtype]).__name__} "
                    f"and {type(handler).__name__}"
                )
            table[int(mtype)] = handler
    return table
