"""SDL on a real Redis through ricsdl (O-RAN SC's SDL library), with the same four calls
as the in-memory stand-in. Values are bytes (the CSI entries are msgpack already)."""

from __future__ import annotations

import os
import threading

__all__ = ["RedisSdl"]


_ENV_LOCK = threading.Lock()


class RedisSdl:
    """ricsdl's SyncStorage on ``host:port``. ricsdl reads its server from the
    environment (DBAAS_SERVICE_HOST/PORT) when the storage is made, so they are set to
    this instance's for that moment."""

    def __init__(self, host: str, port: int) -> None:
        from ricsdl.syncstorage import SyncStorage

        with _ENV_LOCK:
            os.environ["DBAAS_SERVICE_HOST"] = host
            os.environ["DBAAS_SERVICE_PORT"] = str(port)
            self._storage = SyncStorage()

    @classmethod
    def from_env(cls) -> RedisSdl:
        return cls(
            os.environ.get("DBAAS_SERVICE_HOST", "127.0.0.1"),
            int(os.environ.get("DBAAS_SERVICE_PORT", "6379")),
        )

    def set(self, ns: str, data: dict[str, bytes]) -> None:
        self._storage.set(ns, data)

    def get(self, ns: str, keys: list[str]) -> dict[str, bytes]:
        return self._storage.get(ns, set(keys))

    def find_and_get(self, ns: str, prefix: str) -> dict[str, bytes]:
        return self._storage.find_and_get(ns, f"{prefix}*")

    def remove(self, ns: str, keys: list[str]) -> None:
        self._storage.remove(ns, set(keys))

    def healthy(self) -> bool:
        return bool(self._storage.is_active())
