"""E2 subscriptions straight over RMR (``subscription.mode = rmr``, for E2 simulators such
as ransim; in an O-RAN SC RIC they go through submgr, :mod:`xapp.submgr`): one
RICsubscriptionRequest (REPORT action, E2SM-CSI event trigger with the report period)
per configured E2 node; a failure or no answer is retried with backoff
(``resubscribe_backoff_s``, the last step repeating); a request left unanswered for
``answer_timeout_s`` is sent again. Every subscription gets a RIC instance id never used
before in this process, so a node added after another left cannot take its id. A response
that does not admit the REPORT action counts as a failure. A node removed from the
configuration, and every node at stop, gets a RICsubscriptionDeleteRequest."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from xapp import e2ap
from xapp.e2sm_csi import encode_event_trigger
from xapp.mtypes import MType
from xapp.settings import SubscriptionSettings

__all__ = ["Subscriptions"]

log = logging.getLogger(__name__)
REQUESTOR_ID = 1001
ACTION_ID = 1  # the one REPORT action of every request


@dataclass
class _Node:
    instance_id: int
    state: str = "new"  # new, pending, active, failed
    attempts: int = 0
    next_at: float = 0.0
    cause: str = ""


class Subscriptions:
    """The subscription state of each configured E2 node (new, pending, active, failed)."""

    def __init__(self, settings: SubscriptionSettings) -> None:
        self.settings = settings
        self.nodes: dict[str, _Node] = {}
        self._next_instance = 1
        self._leaving: list[tuple[str, int]] = []  # (meid, instance id) to delete
        self.set_nodes(settings.e2_nodes)

    def set_nodes(self, nodes: tuple[str, ...] | list[str]) -> None:
        """The configured E2 nodes changed: subscribe to new ones, forget removed ones."""
        for n in nodes:
            if n not in self.nodes:
                self.nodes[n] = _Node(instance_id=self._next_instance)
                self._next_instance += 1
        for n in list(self.nodes):
            if n not in nodes:
                node = self.nodes.pop(n)
                if node.state in ("pending", "active"):
                    self._leaving.append((n, node.instance_id))

    def _backoff(self, attempts: int) -> float:
        steps = self.settings.resubscribe_backoff_s
        return steps[min(attempts - 1, len(steps) - 1)]

    def due(self, now: float) -> list[tuple[int, bytes, str | None]]:
        """Subscription requests to send now: new nodes, failures and unanswered ones, and
        the deletions of nodes that left."""
        out = [self._delete(meid, inst) for meid, inst in self._leaving]
        self._leaving = []
        for meid, node in self.nodes.items():
            if node.state == "active" or node.next_at > now:
                continue
            node.attempts += 1
            node.state = "pending"
            node.next_at = now + max(self.settings.answer_timeout_s, self._backoff(node.attempts))
            payload = e2ap.encode_subscription_request(
                REQUESTOR_ID,
                node.instance_id,
                self.settings.ran_function_id,
                encode_event_trigger(self.settings.report_period_ms),
            )
            out.append((MType.RIC_SUB_REQ, payload, meid))
        return out

    def outcome(
        self, meid: str, outcome: e2ap.SubscriptionOutcome, now: float | None = None
    ) -> None:
        node = self.nodes.get(meid)
        if node is None or outcome.instance_id != node.instance_id:
            log.warning(
                "subscription outcome from %s for unknown instance %s", meid, outcome.instance_id
            )
            return
        if outcome.ok and ACTION_ID not in outcome.admitted:
            outcome = e2ap.SubscriptionOutcome(
                False,
                outcome.requestor_id,
                outcome.instance_id,
                outcome.ran_function_id,
                cause="report action not admitted",
            )
        if outcome.ok:
            node.state, node.attempts, node.cause = "active", 0, ""
        else:
            node.state, node.cause = "failed", outcome.cause
            node.next_at = (time.monotonic() if now is None else now) + self._backoff(node.attempts)
            log.warning(
                "subscription to %s failed (%s); retry in %.0f s",
                meid,
                outcome.cause,
                self._backoff(node.attempts),
            )

    def matches(self, meid: str | None, ind: e2ap.Indication) -> bool:
        """Whether an indication belongs to a live subscription: its node's, with our
        requestor and instance ids and the configured RAN function."""
        node = self.nodes.get(meid or "")
        return (
            node is not None
            and node.state == "active"
            and ind.requestor_id == REQUESTOR_ID
            and ind.instance_id == node.instance_id
            and ind.ran_function_id == self.settings.ran_function_id
        )

    def _delete(self, meid: str, instance_id: int) -> tuple[int, bytes, str | None]:
        payload = e2ap.encode_subscription_delete_request(
            REQUESTOR_ID, instance_id, self.settings.ran_function_id
        )
        return (MType.RIC_SUB_DEL_REQ, payload, meid)

    def stop(self) -> list[tuple[int, bytes, str | None]]:
        """The deletions of every live subscription, to send at stop."""
        out = [self._delete(m, n.instance_id) for m, n in self.nodes.items() if n.state != "new"]
        out += [self._delete(meid, inst) for meid, inst in self._leaving]
        self._leaving = []
        for n in self.nodes.values():
            n.state = "new"
        return out

    def states(self) -> dict[str, str]:
        return {m: n.state for m, n in self.nodes.items()}
