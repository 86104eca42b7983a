"""SDL on a real Redis through ricsdl (O-RAN SC's SDL library), with the same four calls
as the in-memory stand-in. Values are bytes (the CSI entries are msgpack already)."""

from __future__ import annotations

import os
import threading

__all__ = ["RedisSdl"]


_ENV_LOCK = threading.Lock()

# KEYS: per entry its key and the key of its timestamp (``ts/<key>``); ARGV: ttl_ms, then
# value and ts per entry. An entry whose stored timestamp is newer is kept. (The timestamp
# lives beside the value: Redis's Lua msgpack cannot read the entries' binary blocks.)
_SET_LATEST = """
local ttl = tonumber(ARGV[1])
local written = 0
for i = 1, #KEYS / 2 do
  local key, ts_key = KEYS[2 * i - 1], KEYS[2 * i]
  local value, ts = ARGV[2 * i], tonumber(ARGV[2 * i + 1])
  local old = tonumber(redis.call('GET', ts_key))
  if not old or old <= ts then
    redis.call('SET', key, value, 'PX', ttl)
    redis.call('SET', ts_key, ARGV[2 * i + 1], 'PX', ttl)
    written = written + 1
  end
end
return written
"""


class RedisSdl:
    """ricsdl's SyncStorage on ``host:port``. ricsdl reads its server from the
    environment (DBAAS_SERVICE_HOST/PORT) when the storage is made, so they are set to
    this instance's for that moment.

    The newer-only CSI write (``set_latest``) runs a Lua script through a direct Redis
    client on the same ``host:port``, with ricsdl's key format: it assumes one standalone
    DBAAS, as the O-RAN SC RIC deploys by default; with Redis sentinel or
    DBAAS_CLUSTER_ADDR_LIST sharding it would bypass ricsdl's routing (not supported)."""

    def __init__(self, host: str, port: int) -> None:
        import redis
        from ricsdl.syncstorage import SyncStorage

        with _ENV_LOCK:
            os.environ["DBAAS_SERVICE_HOST"] = host
            os.environ["DBAAS_SERVICE_PORT"] = str(port)
            self._storage = SyncStorage()
        # timeouts: a Redis that stops answering must not hold a flush for good
        self._redis = redis.Redis(
            host=host, port=port, socket_timeout=2.0, socket_connect_timeout=2.0
        )
        self._latest = self._redis.register_script(_SET_LATEST)

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

    def set_latest(self, ns: str, data: dict[str, tuple[int, bytes]], ttl_ms: int) -> int:
        """One Lua script on the server: each key is written (with its expiry) only when
        the timestamp stored beside it is not newer; keys are ricsdl's (``{ns},key``)."""
        if not data:
            return 0
        keys = [key for k in data for key in (f"{{{ns}}},{k}", f"{{{ns}}},ts/{k}")]
        args: list[object] = [int(ttl_ms)]
        for ts, value in data.values():
            args += [value, int(ts)]
        return int(self._latest(keys=keys, args=args))

    def healthy(self) -> bool:
        return bool(self._storage.is_active())
