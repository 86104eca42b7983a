"""The in-process transport: the core, E2 nodes and an A1 sender on one message bus,
with the same message types and payloads RMR would carry. For the local demo and tests.

    ric = LocalRic(core)
    ric.add_e2_node(node)            # anything with node_id and handle(mtype, payload)
    ric.start()                      # A1 query + subscriptions go out, answers come back
    ric.indication(node_id, pdu)     # an E2 node's RIC_INDICATION
    ric.a1(request_bytes)            # the A1 mediator's A1_POLICY_REQ; returns the response
"""

from __future__ import annotations

from typing import Any, Protocol

from xapp.core import CsiXapp
from xapp.mtypes import MType

__all__ = ["LocalRic"]


class E2NodeLike(Protocol):
    node_id: str

    def handle(self, mtype: int, payload: bytes) -> list[tuple[int, bytes]]: ...


class LocalRic:
    def __init__(self, core: CsiXapp) -> None:
        self.core = core
        self.nodes: dict[str, E2NodeLike] = {}
        self.to_a1: list[tuple[int, bytes]] = []  # messages the xApp sent to A1
        self.undeliverable: list[tuple[int, str | None]] = []

    def add_e2_node(self, node: E2NodeLike) -> None:
        self.nodes[node.node_id] = node

    def _route(self, msgs: list[tuple[int, bytes, str | None]]) -> None:
        for mtype, payload, meid in msgs:
            if mtype in (MType.A1_POLICY_QUERY, MType.A1_POLICY_RESP):
                self.to_a1.append((mtype, payload))
            elif meid in self.nodes:
                for r_mtype, r_payload in self.nodes[meid].handle(mtype, payload):
                    self.core.handle(r_mtype, r_payload, meid)
            else:
                self.undeliverable.append((mtype, meid))

    def start(self) -> None:
        self.core.restore()
        self._route(self.core.start_messages())

    def tick(self, now: float | None = None) -> None:
        self._route(self.core.tick(now))

    def indication(self, node_id: str, pdu: bytes) -> None:
        self.core.handle(MType.RIC_INDICATION, pdu, node_id)

    def a1(self, request: bytes) -> Any:
        """Deliver an A1_POLICY_REQ; returns the A1_POLICY_RESP payload (RTS)."""
        replies = self.core.handle(MType.A1_POLICY_REQ, request, None)
        self.to_a1.extend(replies)
        return replies[0][1] if replies else None
