"""Real Redis and InfluxDB servers for the integration tests, on free loopback ports.

A missing server binary is a failure, not a skip: ``make test`` installs both (as root
on Debian: ``apt-get install redis-server influxdb``). InfluxDB and its v2 write bridge are
the demo's own (``lasco_ric.local_influx``).
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from lasco_ric.local_influx import (
    InfluxServer,
    V2WriteBridge,
    find_binary,
    free_port,
    wait_until,
)

__all__ = ["InfluxServer", "RedisServer", "V2WriteBridge", "free_port"]


class RedisServer:
    """redis-server on a loopback port (``port``: that one, e.g. to restart a stopped
    server where its clients expect it)."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc = subprocess.Popen(
            [
                find_binary("redis-server"),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(
            lambda: socket.create_connection(("127.0.0.1", self.port), 1).close() is None,
            "redis-server",
        )

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
