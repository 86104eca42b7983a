"""Following the configuration file as Kubernetes updates it.

A ConfigMap mounted as a volume is updated by swapping a symlink (``..data``) to a new
folder, which an inotify watch on the file itself can miss. :class:`ConfigWatcher` polls
the file as its path resolves now (the real path, inode, size and modification time) and
hands each new content to a callback; a file that cannot be read or parsed is counted,
logged and skipped, and the running configuration stays.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["ConfigWatcher"]

log = logging.getLogger(__name__)


def _signature(path: Path) -> tuple | None:
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except OSError:
        return None
    return (real, st.st_ino, st.st_size, st.st_mtime_ns)


class ConfigWatcher:
    """Args: the config ``path``; ``load(path)`` reads it (raising on a bad file);
    ``on_change(config)`` applies it; ``on_error(exc)`` hears of a file that could not be
    loaded or applied; ``poll_s`` between looks."""

    def __init__(
        self,
        path: str | Path,
        load: Callable[[Path], Any],
        on_change: Callable[[Any], None],
        on_error: Callable[[Exception], None] = lambda exc: None,
        poll_s: float = 2.0,
    ) -> None:
        self.path, self.load, self.on_change, self.on_error = Path(path), load, on_change, on_error
        self.poll_s = poll_s
        self._seen = _signature(self.path)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> bool:
        """Look once; apply the file when it changed. Returns whether it was applied."""
        sig = _signature(self.path)
        if sig is None or sig == self._seen:
            return False
        self._seen = sig
        try:
            self.on_change(self.load(self.path))
        except Exception as exc:
            log.warning("config %s not applied, keeping the running one: %s", self.path, exc)
            self.on_error(exc)
            return False
        return True

    def start(self) -> ConfigWatcher:
        def loop() -> None:
            while not self._stop.wait(self.poll_s):
                self.check()

        self._thread = threading.Thread(target=loop, name="config-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
