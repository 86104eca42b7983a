"""Where the xApp's results go: SDL (reconstructed CSI, active policies), telemetry,
and the labelled-sample data sets the rApp trains on.

SDL layout (namespace: the setting ``sdl.namespace``, default ``lasco-csi``):

    csi/<cell_id>/<ue_id>   msgpack {"ts": ns, "env": id, "sam_version": int|None,
                                     "h_hat": {"dtype": "float16", "shape": [2, 32, 32],
                                               "data": bytes}}
    policy/<instance_id>    the A1 policy instance (JSON text), for restart recovery

The in-memory SDL serves the local demo and unit tests; ``RedisSdl`` is ricsdl's
SyncStorage on a real Redis (DBAAS_SERVICE_HOST/PORT), the same calls as the
framework's ``sdl_set``/``sdl_get``.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from pathlib import Path
from typing import Protocol

import msgpack
import numpy as np

__all__ = ["DatasetSink", "InMemorySdl", "Sdl", "decode_csi_entry", "encode_csi_entry"]


class Sdl(Protocol):
    def set(self, ns: str, data: dict[str, bytes]) -> None: ...
    def get(self, ns: str, keys: list[str]) -> dict[str, bytes]: ...
    def find_and_get(self, ns: str, prefix: str) -> dict[str, bytes]: ...
    def remove(self, ns: str, keys: list[str]) -> None: ...


class InMemorySdl:
    """A thread-safe in-process stand-in for SDL with the same four calls."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, bytes]] = defaultdict(dict)
        self._lock = threading.Lock()

    def set(self, ns: str, data: dict[str, bytes]) -> None:
        with self._lock:
            self._data[ns].update(data)

    def get(self, ns: str, keys: list[str]) -> dict[str, bytes]:
        with self._lock:
            return {k: self._data[ns][k] for k in keys if k in self._data[ns]}

    def find_and_get(self, ns: str, prefix: str) -> dict[str, bytes]:
        with self._lock:
            return {k: v for k, v in self._data[ns].items() if k.startswith(prefix)}

    def remove(self, ns: str, keys: list[str]) -> None:
        with self._lock:
            for k in keys:
                self._data[ns].pop(k, None)


def encode_csi_entry(h_hat: np.ndarray, ts: int, env: str, version: int | None) -> bytes:
    block = {
        "dtype": "float16",
        "shape": [2, 32, 32],
        "data": np.ascontiguousarray(h_hat, dtype="<f2").tobytes(),
    }
    return msgpack.packb({"ts": ts, "env": env, "sam_version": version, "h_hat": block})


def decode_csi_entry(data: bytes) -> dict:
    obj = msgpack.unpackb(data)
    b = obj["h_hat"]
    obj["h_hat"] = np.frombuffer(b["data"], "<f2").reshape(b["shape"]).astype(np.float32)
    return obj


class DatasetSink:
    """Labelled samples per environment, for the rApp's adaptation data sets.

    Held in memory up to ``max_per_env`` samples (the newest kept); ``save(folder)``
    writes ``<env>.npz`` with ``h [n, 2, 32, 32] float32`` and ``codewords [n, M]``.
    """

    def __init__(self, max_per_env: int = 20000) -> None:
        self.max_per_env = max_per_env
        self._h: dict[str, list[np.ndarray]] = defaultdict(list)
        self._s: dict[str, list[np.ndarray]] = defaultdict(list)
        self._lock = threading.Lock()

    def add(self, env: str, h: np.ndarray, codewords: np.ndarray) -> None:
        with self._lock:
            self._h[env].append(h)
            self._s[env].append(codewords)

    def count(self, env: str) -> int:
        with self._lock:
            return sum(len(x) for x in self._h.get(env, []))

    def arrays(self, env: str) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            h = np.concatenate(self._h[env])[-self.max_per_env :]
            s = np.concatenate(self._s[env])[-self.max_per_env :]
            self._h[env], self._s[env] = [h], [s]
            return h, s

    def save(self, folder: str | Path) -> list[Path]:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        out = []
        for env in list(self._h):
            h, s = self.arrays(env)
            path = folder / f"{env}.npz"
            np.savez(path, h=h, codewords=s)
            out.append(path)
        return out
