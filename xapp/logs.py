"""Logs in the RIC's format: every record of Python's logging written by mdclogpy (the
O-RAN SC MDC logging library that ricxappframe uses) as one JSON line on stdout,
``{"ts": ms, "crit": "INFO", "id": <xApp name>, "mdc": {...}, "msg": "..."}``, which the
RIC's log collection parses. ``csi-xapp run`` installs it; the other commands keep plain
text for people."""

from __future__ import annotations

import logging
import os
import socket
import threading

from mdclogpy import Level, Logger

__all__ = ["MdcLogHandler", "use_mdclog"]

_LEVELS = (
    (logging.ERROR, "error"),
    (logging.WARNING, "warning"),
    (logging.INFO, "info"),
    (logging.DEBUG, "debug"),
)


class MdcLogHandler(logging.Handler):
    """A logging handler that writes through one mdclogpy Logger (``id`` = ``name``) with
    the MDC the RIC expects: PID, HOST_NAME, SYSTEM_NAME and SERVICE_NAME."""

    def __init__(self, name: str, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.mdc = Logger(name=name, level=Level.DEBUG)
        self.mdc.add_mdc("PID", str(os.getpid()))
        self.mdc.add_mdc("HOST_NAME", socket.gethostname())
        self.mdc.add_mdc("SYSTEM_NAME", os.environ.get("SYSTEM_NAME", "ric"))
        self.mdc.add_mdc("SERVICE_NAME", name)
        self._write = threading.Lock()  # mdclogpy prints; one line at a time

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = f"[{record.name}] {record.getMessage()}"
            if record.exc_info:
                msg += "\n" + logging.Formatter().formatException(record.exc_info)
            method = next((m for lv, m in _LEVELS if record.levelno >= lv), "debug")
            with self._write:
                getattr(self.mdc, method)(msg)
        except Exception:  # logging must never raise into the caller
            self.handleError(record)


def use_mdclog(name: str, level: int = logging.INFO) -> MdcLogHandler:
    """Route the root logger to an :class:`MdcLogHandler` at ``level`` (replacing its
    handlers); returns the handler."""
    handler = MdcLogHandler(name)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    return handler
