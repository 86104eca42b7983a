"""The study's state file: the finished cells, shared safely by several workers."""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lasco.channels.store import atomic_write_bytes
from lasco.errors import ConfigError

__all__ = ["StudyState", "pid_alive"]


class StudyState:
    """The finished cells, saved atomically after each one.

    Several workers (``shard``) may share one state file: opened with ``resume``, each
    save takes an exclusive lock on ``<state>.lock``, re-reads the file and adds its cell
    to what is there, so no worker's cells are lost to another's write. Without
    ``resume`` the study starts over and its first save replaces the file.

    Shared workers also ``claim`` a cell before running it, in ``<state>.claims.json``
    under the same lock, so a worker that has run out of its own cells can take another
    shard's not yet started ones without two workers training the same cell. A claim
    names its host and process; on the claimant's host a claim whose process has died
    no longer counts, so a killed worker's cell is free again. A claim by a worker on
    another host (machines sharing the folder) is honoured until that cell is saved:
    if such a worker dies, delete the claims file while no worker runs.

    A state file written under another configuration hash is refused (ConfigError).
    """

    def __init__(self, path: Path, config_hash: str, resume: bool) -> None:
        self.path, self.config_hash, self.resume = path, config_hash, resume
        self.cells: dict[str, dict[str, Any]] = {}
        self._lock_path = path.with_name(path.name + ".lock")
        self._claims_path = path.with_name(path.stem + ".claims.json")
        self._me = {"host": socket.gethostname(), "pid": os.getpid()}
        self.refresh()

    def _read(self) -> dict[str, dict[str, Any]]:
        if not self.path.is_file():
            return {}
        saved = json.loads(self.path.read_text())
        if saved.get("config_hash") != self.config_hash:
            raise ConfigError(
                f"{self.path} was written by another study configuration or other models "
                f"({saved.get('config_hash')} != {self.config_hash}); remove it or drop --resume"
            )
        return saved["cells"]

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            yield

    def _live_claims(self) -> dict[str, dict[str, Any]]:
        """Claims (lock held) on cells not yet saved, by workers that may still run."""
        try:
            claims = json.loads(self._claims_path.read_text())
        except FileNotFoundError:
            return {}
        return {
            k: c
            for k, c in claims.items()
            if k not in self.cells and (c["host"] != self._me["host"] or pid_alive(c["pid"]))
        }

    def _write_claims(self, claims: dict[str, dict[str, Any]]) -> None:
        if claims:
            blob = json.dumps(claims, indent=0).encode()
            atomic_write_bytes(self._claims_path, lambda f: f.write(blob))
        else:
            self._claims_path.unlink(missing_ok=True)

    def claim(self, order: list[str]) -> str | None:
        """The first key of ``order`` that is neither saved nor claimed by another live
        worker, now claimed by this one; None when there is none."""
        with self._locked():
            self.refresh()
            claims = self._live_claims()
            for key in order:
                if key not in self.cells and claims.get(key, self._me) == self._me:
                    claims[key] = self._me
                    self._write_claims(claims)
                    return key
            self._write_claims(claims)
            return None

    def running(self) -> dict[str, dict[str, Any]]:
        """The cells claimed by workers that may still be running them (a save drops its
        cell's claim under the lock, so the cells read at start-up need no refresh)."""
        with self._locked():
            return self._live_claims()

    def save(self, key: str, cell: dict[str, Any]) -> None:
        """Add ``cell`` under ``key`` to the file (with the cells others saved)."""
        with self._locked():
            self.refresh()
            self.cells[key] = cell
            blob = json.dumps({"config_hash": self.config_hash, "cells": self.cells}).encode()
            atomic_write_bytes(self.path, lambda f: f.write(blob))
            if self._claims_path.exists():
                self._write_claims(self._live_claims())  # drops this cell's claim

    def refresh(self) -> None:
        """Add the cells other workers saved (only when resuming a shared study)."""
        if self.resume:
            self.cells = {**self.cells, **self._read()}


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
