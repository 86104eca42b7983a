"""A1 client for the non-RT RIC's A1 Policy Management Service (PMS v2, ``/a1-policy/v2``).

PMS relays policies to a near-RT RIC (``ric_id``) on behalf of a registered service
(``service_id``); it cannot create policy types, so ``ensure_policy_type`` registers the
service and checks that the RIC has type 30001, with a clear error when it has not.

    >>> with PmsClient("http://pms:8081", ric_id="ric1", service_id="lasco-rapp") as a1:
    ...     a1.put_policy("lasco-101", policy).status      # A1Status.ENFORCED
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from rapp.a1_base import A1Settings, A1Status, Reply
from rapp.a1_http import HttpA1Client
from schemas import A1_POLICY_TYPE_ID

__all__ = ["PmsClient"]

API = "/a1-policy/v2"
TYPE_ID = str(A1_POLICY_TYPE_ID)


class PmsClient(HttpA1Client):
    """Args: ``target``, PMS's ``http(s)://host:port`` or full settings (kind ``pms``);
    ``ric_id`` and ``service_id`` override the settings' when given; ``sleep`` and
    ``transport`` as :class:`~rapp.a1_http.HttpA1Client`'s."""

    api = "PMS"

    def __init__(
        self,
        target: str | A1Settings,
        ric_id: str | None = None,
        service_id: str | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        settings = target if isinstance(target, A1Settings) else A1Settings(target, kind="pms")
        changes: dict[str, Any] = {"kind": "pms"}
        if ric_id is not None:
            changes["ric_id"] = ric_id
        if service_id is not None:
            changes["service_id"] = service_id
        super().__init__(settings.with_(**changes), sleep=sleep, transport=transport)

    def _ensure_type(self) -> tuple[A1Status, Reply, str]:
        s = self.settings
        service = {
            "service_id": s.service_id,
            "keep_alive_interval_seconds": s.keep_alive_interval_s,
            "callback_url": s.status_notification_uri,
        }
        reg = self.http.request("PUT", f"{API}/services", json=service)
        if reg.code not in (200, 201):
            return self._failed(reg), reg, f"registering service {s.service_id}: {reg.reason}"
        got = self.http.request("GET", f"{API}/policy-types", params={"ric_id": s.ric_id})
        if got.code == 404:
            return A1Status.ERROR, got, f"PMS knows no near-RT RIC {s.ric_id!r}{self._rics()}"
        if got.code != 200:
            return self._failed(got), got, got.reason
        ids = got.body.get("policytype_ids", []) if isinstance(got.body, dict) else []
        if TYPE_ID in {str(i) for i in ids}:
            return A1Status.OK, got, "already there"
        why = (
            f"policy type {TYPE_ID} is not on near-RT RIC {s.ric_id!r} (it has "
            f"{sorted(map(str, ids)) or 'none'}); PMS cannot create policy types: create it "
            "on the RIC's A1 mediator (A1pClient.ensure_policy_type)"
        )
        return A1Status.ERROR, got, why

    def _rics(self) -> str:
        """``" (it knows ...)"`` from ``GET /rics``, or "" when that fails."""
        reply = self.http.request("GET", f"{API}/rics")
        rics = reply.body.get("rics", []) if isinstance(reply.body, dict) else []
        names = sorted(str(r.get("ric_id")) for r in rics if isinstance(r, dict))
        return f" (it knows {', '.join(names) or 'none'})" if reply.code == 200 else ""

    def _instance_path(self, instance_id: str) -> str:
        return f"{API}/policies/{quote(instance_id, safe='')}"

    def _status_path(self, instance_id: str) -> str:
        return self._instance_path(instance_id) + "/status"

    def _put(self, instance_id: str, data: dict[str, Any]) -> Reply:
        s = self.settings
        body: dict[str, Any] = {
            "ric_id": s.ric_id,
            "policy_id": instance_id,
            "policytype_id": TYPE_ID,
            "policy_data": data,
            "service_id": s.service_id,
            "transient": False,
        }
        if s.status_notification_uri:
            body["status_notification_uri"] = s.status_notification_uri
        return self.http.request("PUT", f"{API}/policies", json=body)

    def _data_of(self, body: Any) -> Any:
        return body.get("policy_data") if isinstance(body, dict) else None

    def _enforcement_of(self, body: Any) -> tuple[str, str]:
        if not isinstance(body, dict):
            return "", ""
        inner = body.get("status", body)  # PMS wraps the near-RT RIC's status object
        if not isinstance(inner, dict):
            return "", ""
        return str(inner.get("enforceStatus") or ""), str(inner.get("enforceReason") or "")

    def _list(self) -> tuple[Reply, tuple[str, ...]]:
        params = {"ric_id": self.settings.ric_id, "policytype_id": TYPE_ID}
        reply = self.http.request("GET", f"{API}/policies", params=params)
        body = reply.body if reply.code == 200 and isinstance(reply.body, dict) else {}
        return reply, tuple(str(i) for i in body.get("policy_ids", []))
