"""The store's layout on any fsspec filesystem, shared by the writer and the reader::

    <root>/<environment dir>/<t_ns>-<writer id>-<seq>-n<N>.npz     a shard
    <root>/<environment dir>/.tmp-<shard name>.<token>              being written

A shard is written under its temporary name and then moved into place (``fs.mv``: a
rename on a local disk; a server-side copy and delete on object stores, where a PUT is
visible only once whole), so a listing never shows a partly written shard.
"""

from __future__ import annotations

import logging
import os
import uuid
from typing import Any

import fsspec
from fsspec import AbstractFileSystem

from datastore.shard import ShardInfo, env_dir, env_from_dir, parse_shard_name, temp_name

__all__ = ["Layout"]

log = logging.getLogger(__name__)


class Layout:
    """Paths and listings of a store at ``uri`` (any fsspec URL or a plain folder).

    Args:
        uri: the store's root.
        storage_options: passed to the filesystem (credentials, endpoint).
    """

    def __init__(self, uri: str, storage_options: dict[str, Any] | None = None) -> None:
        self.uri = uri
        self.fs: AbstractFileSystem
        self.fs, root = fsspec.core.url_to_fs(uri, **(storage_options or {}))
        self.root = root.rstrip("/") or "/"

    def __repr__(self) -> str:
        return f"Layout({self.uri!r})"

    def _names(self, path: str) -> list[str]:
        try:
            return [p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(path, detail=False)]
        except FileNotFoundError:
            return []

    def env_path(self, environment: str) -> str:
        return f"{self.root}/{env_dir(environment)}"

    def environments(self) -> list[str]:
        """Environment ids with a folder in the store, sorted (a folder may be empty)."""
        return sorted(env_from_dir(n) for n in self._names(self.root) if not n.startswith("."))

    def shards(self, environment: str) -> list[ShardInfo]:
        """An environment's shards, newest first (by time, then name)."""
        base = self.env_path(environment)
        found = [parse_shard_name(f"{base}/{n}") for n in self._names(base)]
        return sorted(
            (s for s in found if s is not None), key=lambda s: (s.t_ns, s.name), reverse=True
        )

    def temp_files(self, environment: str) -> list[str]:
        """Names of the temporary files in an environment's folder."""
        return [n for n in self._names(self.env_path(environment)) if n.startswith(".tmp-")]

    def write_atomic(self, environment: str, name: str, data: bytes) -> str:
        """Write ``data`` as ``name`` in the environment's folder: to a temporary name
        first, then moved into place; returns the final path. On failure the temporary
        file is removed (best effort) and the error raised."""
        base = self.env_path(environment)
        final, tmp = f"{base}/{name}", f"{base}/{temp_name(name, uuid.uuid4().hex[:12])}"
        try:
            self.fs.makedirs(base, exist_ok=True)
            with self.fs.open(tmp, "wb") as f:
                f.write(data)
                if "file" in _protocols(self.fs):  # durable on a local disk before the rename
                    f.flush()
                    os.fsync(f.fileno())
            self.fs.mv(tmp, final)
        except BaseException:
            self.remove_quietly(tmp)
            raise
        return final

    def remove_quietly(self, path: str) -> bool:
        """Delete a file; False (logged at debug) when it was not there or could not be."""
        try:
            self.fs.rm_file(path)
        except Exception as exc:  # cleanup only: another writer may have removed it
            log.debug("could not remove %s: %r", path, exc)
            return False
        return True

    def cat(self, path: str) -> bytes:
        return self.fs.cat_file(path)


def _protocols(fs: AbstractFileSystem) -> tuple[str, ...]:
    p = fs.protocol
    return (p,) if isinstance(p, str) else tuple(p)
