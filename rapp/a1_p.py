"""A1 client for the near-RT RIC's A1 mediator (A1-P v2, ``/A1-P/v2/...``).

It creates policy type 30001 from ``schemas`` when the RIC lacks it (``PUT
/A1-P/v2/policytypes/30001``, 201), PUTs instances (202), reads their status
(``{"enforceStatus": "ENFORCED"|"NOT_ENFORCED", "enforceReason": ...}``) and deletes them
(202).

    >>> with A1pClient("http://ric-a1:10000") as a1:
    ...     a1.put_policy("lasco-101", policy).status      # A1Status.ENFORCED
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from rapp.a1_base import A1Settings, A1Status, Reply, policy_type_body
from rapp.a1_http import HttpA1Client
from schemas import A1_POLICY_TYPE_ID

__all__ = ["A1pClient"]

TYPE_PATH = f"/A1-P/v2/policytypes/{A1_POLICY_TYPE_ID}"


class A1pClient(HttpA1Client):
    """Args: ``target``, the mediator's ``http(s)://host:port`` or full settings (kind
    ``a1p``); ``sleep`` and ``transport`` as :class:`~rapp.a1_http.HttpA1Client`'s."""

    api = "A1-P"

    def __init__(
        self,
        target: str | A1Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        settings = target if isinstance(target, A1Settings) else A1Settings(target)
        if settings.kind != "a1p":
            settings = settings.with_(kind="a1p")
        super().__init__(settings, sleep=sleep, transport=transport)

    def healthy(self) -> bool:
        """Whether ``GET /A1-P/v2/healthcheck`` answers 200 (after the retries)."""
        return self.http.request("GET", "/A1-P/v2/healthcheck").code == 200

    def _ensure_type(self) -> tuple[A1Status, Reply, str]:
        body = policy_type_body()
        got = self.http.request("GET", TYPE_PATH)
        if got.code == 200:
            return A1Status.OK, got, _compare(got.body, body)
        if got.code != 404:
            return self._failed(got), got, got.reason
        put = self.http.request("PUT", TYPE_PATH, json=body)
        if put.code in (200, 201):
            return A1Status.OK, put, "created"
        if put.code == 400:  # another client may have created it meanwhile
            again = self.http.request("GET", TYPE_PATH)
            if again.code == 200:
                return A1Status.OK, again, _compare(again.body, body)
        return self._failed(put), put, put.reason

    def _instance_path(self, instance_id: str) -> str:
        return f"{TYPE_PATH}/policies/{quote(instance_id, safe='')}"

    def _status_path(self, instance_id: str) -> str:
        return self._instance_path(instance_id) + "/status"

    def _put(self, instance_id: str, data: dict[str, Any]) -> Reply:
        return self.http.request("PUT", self._instance_path(instance_id), json=data)

    def _data_of(self, body: Any) -> Any:
        return body

    def _enforcement_of(self, body: Any) -> tuple[str, str]:
        if not isinstance(body, dict):
            return "", ""
        return str(body.get("enforceStatus") or ""), str(body.get("enforceReason") or "")

    def _list(self) -> tuple[Reply, tuple[str, ...]]:
        reply = self.http.request("GET", f"{TYPE_PATH}/policies")
        ids = reply.body if reply.code == 200 and isinstance(reply.body, list) else []
        return reply, tuple(str(i) for i in ids)


def _compare(have: Any, want: dict[str, Any]) -> str:
    """Words on a type already on the RIC: the same create_schema, or another one (kept:
    a type cannot be replaced while it has instances)."""
    theirs = have.get("create_schema") if isinstance(have, dict) else None
    if theirs == want["create_schema"]:
        return "already there"
    return "already there, with another create_schema (kept)"
