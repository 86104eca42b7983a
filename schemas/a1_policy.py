"""Typed view of an A1 policy instance of type 30001 (``a1-csi-sam-policy.json``): which
proxy SAM serves the CSI reports of which cells, and how it combines with the LAM.

Code reads a policy only through :class:`A1Policy`, built by :meth:`A1Policy.parse`,
which validates against the schema first; :class:`Mode` is the one spelling of every
combination mode (the schema's enum, the manifest's ``mode``, the runtime's slots).

    >>> policy = A1Policy.parse(json.loads(payload))   # raises SchemaValidationError
    >>> policy.mode is Mode.E_LASCO, policy.proxy.version
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from schemas.validation import validate

__all__ = ["A1_POLICY_SCHEMA", "A1_POLICY_TYPE_ID", "A1Policy", "Mode", "ProxyRef"]

A1_POLICY_TYPE_ID = 30001
"""The A1 policy type of CSI SAM deployments."""
A1_POLICY_SCHEMA = "a1-csi-sam-policy"


class Mode(str, Enum):
    """How an environment's CSI is reconstructed.

    LASCO:    H_hat = f_base + (f_pxy - f_ref)
    E_LASCO:  H_hat = f_pxy + alpha (f_base - f_ref)
    SIDE:     H_hat = f_side(H_in, f_base, h) (a side network on the LAM's hidden states h)
    LAM_ONLY: H_hat = f_base (no proxy SAM)
    """

    LASCO = "lasco"
    E_LASCO = "e-lasco"
    SIDE = "side"
    LAM_ONLY = "lam-only"

    @property
    def uses_proxy(self) -> bool:
        return self is not Mode.LAM_ONLY

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ProxyRef:
    """Where the proxy SAM is: a model store, a name and version, and its ONNX sha256."""

    store_uri: str
    name: str
    version: int
    sha256: str


@dataclass(frozen=True)
class A1Policy:
    """One validated policy instance.

    Attributes:
        environment_id: the environment whose proxy serves ``cells``.
        cells: the cells (E2SM-CSI cell ids) this policy maps to ``environment_id``.
        mode: how the proxy combines with the LAM (``LAM_ONLY``: no proxy).
        lam_sha256: the LAM (sha256 of its model.onnx) the xApp must be running.
        proxy: the proxy SAM; None exactly when ``mode`` is ``LAM_ONLY``.
        alpha: E-LASCO's alpha; None: the proxy manifest's.
    """

    environment_id: str
    cells: tuple[str, ...]
    mode: Mode
    lam_sha256: str
    proxy: ProxyRef | None = None
    alpha: float | None = None

    @classmethod
    def parse(cls, obj: Any) -> A1Policy:
        """Validate ``obj`` (the decoded JSON payload) and build the typed view; raises
        ``SchemaValidationError`` naming the failing field."""
        validate(A1_POLICY_SCHEMA, obj)
        proxy = obj.get("proxy")
        mode = Mode(obj["mode"])
        return cls(
            environment_id=obj["environment_id"],
            cells=tuple(obj["cells"]),
            mode=mode,
            lam_sha256=obj["lam_sha256"],
            proxy=ProxyRef(**proxy) if proxy and mode.uses_proxy else None,
            alpha=obj.get("alpha"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON payload form (what ``parse`` accepts)."""
        out: dict[str, Any] = {
            "environment_id": self.environment_id,
            "cells": list(self.cells),
            "mode": self.mode.value,
            "lam_sha256": self.lam_sha256,
        }
        if self.proxy is not None:
            out["proxy"] = {
                "store_uri": self.proxy.store_uri,
                "name": self.proxy.name,
                "version": self.proxy.version,
                "sha256": self.proxy.sha256,
            }
        if self.alpha is not None:
            out["alpha"] = self.alpha
        return out
