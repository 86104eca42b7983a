"""What the rApp knows of its environments: which cells each one serves, the proxy SAM versions
it went through (for roll-back), and the A1 policy instance that deploys it."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field, replace
from typing import Any

from rapp.adapt_settings import RunningProxy
from schemas import A1Policy, Mode, ProxyRef

__all__ = ["Environment", "EnvironmentTable", "ProxyVersion", "data_key", "policy_id"]

_ID = re.compile(r"[^A-Za-z0-9._-]+")


def policy_id(environment: str) -> str:
    """The A1 policy instance id of an environment's deployment."""
    return f"csi-sam-{environment}"


def data_key(cell: str, environment: str | None) -> str:
    """Where the xApp files a cell's labelled samples: under its environment, or ``cell:<id>``
    when no policy maps the cell."""
    return environment if environment else f"cell:{cell}"


@dataclass(frozen=True)
class ProxyVersion:
    """A published proxy SAM the environment ran (or runs)."""

    name: str
    version: int
    sha256: str
    mode: Mode = Mode.E_LASCO
    alpha: float | None = None

    def running(self) -> RunningProxy:
        return RunningProxy(self.name, self.version, self.mode, self.alpha)


@dataclass(frozen=True)
class Environment:
    """One environment: its cells, how it is served, and its proxies newest last.

    ``origin`` says how it came about (``drift``, ``new``, ``operator``); ``mode`` LAM_ONLY
    serves its cells with the LAM alone (no proxy yet, or rolled back past the first).
    """

    environment_id: str
    cells: tuple[str, ...]
    mode: Mode = Mode.LAM_ONLY
    versions: tuple[ProxyVersion, ...] = ()
    origin: str = "new"
    nmse_db: float | None = None

    @property
    def active(self) -> ProxyVersion | None:
        return self.versions[-1] if self.versions and self.mode.uses_proxy else None

    def policy(self, lam_sha256: str, store_uri: str) -> A1Policy:
        """The A1 policy that deploys this environment as it is now."""
        proxy = self.active
        return A1Policy(
            environment_id=self.environment_id,
            cells=self.cells,
            mode=self.mode if proxy else Mode.LAM_ONLY,
            lam_sha256=lam_sha256,
            proxy=ProxyRef(store_uri, proxy.name, proxy.version, proxy.sha256) if proxy else None,
            alpha=proxy.alpha if proxy and proxy.mode is Mode.E_LASCO else None,
        )

    def to_dict(self) -> dict[str, Any]:
        active = self.active
        return {
            "environment": self.environment_id,
            "cells": list(self.cells),
            "mode": self.mode.value,
            "origin": self.origin,
            "active": f"{active.name} v{active.version}" if active else None,
            "versions": [v.version for v in self.versions],
            "nmse_db": self.nmse_db,
        }


@dataclass
class EnvironmentTable:
    """The environments and the cell -> environment map, thread-safe (the operator API and
    the loop share it). Every change returns the new :class:`Environment`."""

    _envs: dict[str, Environment] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def __contains__(self, environment: str) -> bool:
        return environment in self._envs

    def get(self, environment: str) -> Environment:
        with self._lock:
            try:
                return self._envs[environment]
            except KeyError:
                raise KeyError(f"no environment {environment!r}") from None

    def all(self) -> list[Environment]:
        with self._lock:
            return list(self._envs.values())

    def of_cell(self, cell: str) -> Environment | None:
        """The environment that serves ``cell`` (None: no policy maps it)."""
        with self._lock:
            return next((e for e in self._envs.values() if cell in e.cells), None)

    def new_id(self, cell: str) -> str:
        """A fresh environment id for a cell that moved: ``<cell>.<k>``."""
        base = _ID.sub("-", cell).strip("-.")[:56] or "env"
        with self._lock:
            k = 1
            while f"{base}.{k}" in self._envs:
                k += 1
            return f"{base}.{k}"

    def put(self, env: Environment) -> Environment:
        with self._lock:
            self._envs[env.environment_id] = env
            return env

    def update(self, environment: str, **changes: Any) -> Environment:
        with self._lock:
            return self.put(replace(self.get(environment), **changes))

    def remove(self, environment: str) -> None:
        with self._lock:
            self._envs.pop(environment, None)
