"""E2 subscriptions through the O-RAN SC Subscription Manager's REST API (submgr), the way
O-RAN SC xApps subscribe in a RIC.

Per configured E2 node the xApp POSTs ``/ric/v1/subscriptions`` (``SubscriptionParams``:
its client endpoint, the node's ``Meid``, the E2SM-CSI ``RANFunctionID``, one REPORT
action and the event trigger with the report period); submgr answers with a
``SubscriptionId`` and later notifies the xApp's callback
(``POST /ric/v1/subscriptions/response``) with the ``E2EventInstanceId`` it assigned, or
an ``ErrorCause``. Indications are matched on that instance id; a failure, an error or
no notification within ``answer_timeout_s`` deletes the subscription and retries with
backoff. A node removed from the configuration, and every node at stop, gets
``DELETE /ric/v1/subscriptions/{id}``.

The REST calls are ricxappframe's ``NewSubscriber`` (its ``Subscribe``, ``UnSubscribe``
and ``ResponseHandler``); :class:`SubmgrClient` is the boundary the tests put a local
stand-in for submgr behind. The calls run on the xApp's timer, never on the receive loop.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from xapp import e2ap
from xapp.e2sm_csi import encode_event_trigger
from xapp.settings import SubscriptionSettings

__all__ = ["RicxappSubmgrClient", "SubmgrClient", "SubmgrSubscriptions", "subscription_params"]

log = logging.getLogger(__name__)
ACTION_ID = 1
XAPP_EVENT_INSTANCE_ID = 1
_EARLY_KEPT = 64  # notifications for subscription ids not known yet, newest kept


class SubmgrClient(Protocol):
    def subscribe(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """POST the parameters; ``(HTTP status, JSON body)``."""
        ...

    def unsubscribe(self, subscription_id: str) -> int:
        """DELETE the subscription; the HTTP status."""
        ...


def subscription_params(
    s: SubscriptionSettings, meid: str, host: str, http_port: int, rmr_port: int
) -> dict[str, Any]:
    """The ``SubscriptionParams`` JSON of submgr's API for one E2 node."""
    return {
        "ClientEndpoint": {"Host": host, "HTTPPort": http_port, "RMRPort": rmr_port},
        "Meid": meid,
        "RANFunctionID": s.ran_function_id,
        "SubscriptionDetails": [
            {
                "XappEventInstanceId": XAPP_EVENT_INSTANCE_ID,
                "EventTriggers": list(encode_event_trigger(s.report_period_ms)),
                "ActionToBeSetupList": [
                    {"ActionID": ACTION_ID, "ActionType": "report", "ActionDefinition": []}
                ],
            }
        ],
    }


class RicxappSubmgrClient:
    """submgr through ricxappframe's NewSubscriber. ``base_url``: submgr's API root
    (``http://service-ricplt-submgr-http.ricplt:8088/ric/v1``); ``on_notification``
    receives each notification's JSON; it is served on ``callback_port``."""

    def __init__(
        self,
        base_url: str,
        callback_port: int,
        on_notification: Callable[[dict[str, Any]], None],
        timeout_s: float = 5.0,
    ) -> None:
        from ricxappframe.xapp_subscribe import NewSubscriber

        base = base_url.rstrip("/")
        self._timeout = (min(2.0, timeout_s), timeout_s)  # (connect, read) seconds
        # NewSubscriber posts to its uri and deletes at uri + "/subscriptions/<id>"
        self._post = NewSubscriber(f"{base}/subscriptions", timeout=timeout_s)
        self._delete = NewSubscriber(base, timeout=timeout_s, local_port=callback_port)

        def callback(name: str, path: str, data: bytes, ctype: str) -> dict[str, Any]:
            from ricxappframe.xapp_rest import initResponse

            try:
                on_notification(json.loads(data))
                return initResponse(status=200, response="OK")
            except Exception as exc:  # a bad notification is the sender's problem
                log.warning("submgr notification refused: %r", exc)
                return initResponse(status=400, response="Bad Request")

        self._delete.ResponseHandler(callback)

    # NewSubscriber's Subscribe/UnSubscribe pass no timeout to its API client, so a submgr
    # that accepts and never answers would hold the caller for good: the same requests
    # go through that client here with one.

    def subscribe(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = self._post.api.request(
            method="POST",
            url=self._post.uri,
            body=params,  # already in submgr's JSON names
            _request_timeout=self._timeout,
        )
        return int(response.status), json.loads(response.data) if response.data else {}

    def unsubscribe(self, subscription_id: str) -> int:
        response = self._delete.api.request(
            method="DELETE",
            url=f"{self._delete.uri}/subscriptions/{subscription_id}",
            _request_timeout=self._timeout,
        )
        return int(response.status)


@dataclass
class _Node:
    state: str = "new"  # new, pending, active, failed
    subscription_id: str | None = None
    e2_instance_id: int | None = None
    attempts: int = 0
    next_at: float = 0.0
    cause: str = ""


class SubmgrSubscriptions:
    """The subscription of each configured E2 node, kept through submgr.

    Args:
        settings: the subscription settings (nodes, RAN function, period, backoff).
        client: submgr (:class:`RicxappSubmgrClient` in a RIC).
        endpoint: ``(host, http_port, rmr_port)`` submgr notifies and routes to.
    """

    def __init__(
        self,
        settings: SubscriptionSettings,
        client: SubmgrClient,
        endpoint: tuple[str, int, int],
    ) -> None:
        self.settings, self.client, self.endpoint = settings, client, endpoint
        self.nodes: dict[str, _Node] = {}
        self._leaving: list[str] = []  # subscription ids of nodes no longer configured
        # Notifications that arrived before submgr's answer to the POST gave us their
        # SubscriptionId (submgr may notify first): applied when the id is recorded.
        self._early: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.set_nodes(settings.e2_nodes)

    def set_nodes(self, nodes: tuple[str, ...] | list[str]) -> None:
        with self._lock:
            for n in nodes:
                self.nodes.setdefault(n, _Node())
            for n in [n for n in self.nodes if n not in nodes]:
                node = self.nodes.pop(n)
                if node.subscription_id is not None:
                    self._leaving.append(node.subscription_id)

    def _backoff(self, attempts: int) -> float:
        steps = self.settings.resubscribe_backoff_s
        return steps[min(max(attempts, 1) - 1, len(steps) - 1)]

    def due(self, now: float) -> list[tuple[int, bytes, str | None]]:
        """Do the REST work due at ``now``: delete what left, (re)subscribe what is new,
        failed or unanswered. Nothing goes over RMR: returns ``[]``."""
        with self._lock:
            leaving, self._leaving = self._leaving, []
            todo = []
            for meid, node in self.nodes.items():
                if node.state == "pending" and node.next_at <= now:  # no notification
                    node.state, node.cause = "failed", "no notification from submgr"
                    node.next_at = now + self._backoff(node.attempts)
                    log.warning("no submgr notification for %s; retry after backoff", meid)
                elif node.state in ("new", "failed") and node.next_at <= now:
                    if node.subscription_id is not None:
                        leaving.append(node.subscription_id)
                        node.subscription_id = None
                    todo.append(meid)
        for sid in leaving:
            self._unsubscribe(sid)
        for meid in todo:
            self._subscribe(meid, now)
        return []

    def _subscribe(self, meid: str, now: float) -> None:
        host, http_port, rmr_port = self.endpoint
        params = subscription_params(self.settings, meid, host, http_port, rmr_port)
        try:
            status, body = self.client.subscribe(params)
            sid = body.get("SubscriptionId") if status in (200, 201) else None
            why = f"HTTP {status}" if sid is None else ""
        except Exception as exc:  # submgr down or unreachable: retried with backoff
            sid, why = None, repr(exc)
        with self._lock:
            node = self.nodes.get(meid)
            if node is None:  # removed meanwhile
                if sid is not None:
                    self._leaving.append(str(sid))
                return
            node.attempts += 1
            if sid is None:
                node.state, node.cause = "failed", why
                node.next_at = now + self._backoff(node.attempts)
                log.warning("subscription to %s through submgr failed (%s)", meid, why)
            else:
                node.state, node.subscription_id = "pending", str(sid)
                node.next_at = now + self.settings.answer_timeout_s
                early = self._early.pop(str(sid), None)
                if early is not None:
                    self._apply(node, early, now)

    def _unsubscribe(self, subscription_id: str) -> None:
        try:
            status = self.client.unsubscribe(subscription_id)
            if status not in (200, 204, 404):
                log.warning("submgr DELETE %s answered %s", subscription_id, status)
        except Exception as exc:
            log.warning("submgr DELETE %s failed: %r", subscription_id, exc)

    def notification(self, body: dict[str, Any], now: float) -> bool:
        """submgr's notification for one of our subscriptions: the instance id it
        assigned (active), or an error (failed, retried). False when it is not ours."""
        sid = str(body.get("SubscriptionId"))
        with self._lock:
            node = next((n for n in self.nodes.values() if n.subscription_id == sid), None)
            if node is None:
                # Perhaps one whose POST has not returned yet: kept for it (a few only).
                self._early[sid] = body
                while len(self._early) > _EARLY_KEPT:
                    self._early.popitem(last=False)
                return False
            self._apply(node, body, now)
            return True

    def _apply(self, node: _Node, body: dict[str, Any], now: float) -> None:
        for inst in body.get("SubscriptionInstances") or []:
            if inst.get("ErrorCause"):
                node.state, node.cause = "failed", str(inst["ErrorCause"])
                node.next_at = now + self._backoff(node.attempts)
            elif inst.get("E2EventInstanceId"):
                node.state, node.cause = "active", ""
                node.e2_instance_id, node.attempts = int(inst["E2EventInstanceId"]), 0

    def matches(self, meid: str | None, ind: e2ap.Indication) -> bool:
        """Whether an indication belongs to a live subscription: its node's, with the
        E2 instance id submgr assigned and the configured RAN function."""
        node = self.nodes.get(meid or "")
        return (
            node is not None
            and node.state == "active"
            and ind.instance_id == node.e2_instance_id
            and ind.ran_function_id == self.settings.ran_function_id
        )

    def outcome(self, meid: str, outcome: e2ap.SubscriptionOutcome, now: float | None = None):
        """An RMR subscription outcome: submgr handles those itself; ignored here."""

    def stop(self) -> None:
        """Delete every subscription (the xApp is stopping)."""
        with self._lock:
            ids = [n.subscription_id for n in self.nodes.values() if n.subscription_id]
            ids += self._leaving
            self._leaving = []
            for n in self.nodes.values():
                n.subscription_id, n.state = None, "new"
        for sid in ids:
            self._unsubscribe(sid)

    def states(self) -> dict[str, str]:
        return {m: n.state for m, n in self.nodes.items()}
