"""Real Redis and InfluxDB servers for the integration tests, on free loopback ports.

A missing server binary is a failure, not a skip: ``make test`` installs both (as root
on Debian: ``apt-get install redis-server influxdb``). InfluxDB here is 1.6.7, which has
``/write`` and ``/query`` but no ``/api/v2/write``; ``V2WriteBridge`` puts the one-route
mapping that InfluxDB 1.8+ has built in (``/api/v2/write?bucket=db/rp`` ->
``/write?db=db&rp=rp``) in front of it, so influxdb-client's write API talks to it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _need(binary: str) -> str:
    path = shutil.which(binary) or (
        f"/usr/bin/{binary}" if Path(f"/usr/bin/{binary}").exists() else None
    )
    if path is None:
        raise RuntimeError(
            f"{binary} is not installed; `make test` installs it "
            "(apt-get install redis-server influxdb)"
        )
    return path


def _wait(check, what: str, timeout: float = 30.0) -> None:
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up in {timeout:.0f} s")


class RedisServer:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                _need("redis-server"),
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
        _wait(
            lambda: socket.create_connection(("127.0.0.1", self.port), 1).close() is None,
            "redis-server",
        )

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class InfluxServer:
    def __init__(self, workdir: Path) -> None:
        self.port, rpc = free_port(), free_port()
        cfg = workdir / "influxdb.conf"
        cfg.write_text(f"""
reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{workdir}/meta"
[data]
  dir = "{workdir}/data"
  wal-dir = "{workdir}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
[monitor]
  store-enabled = false
""")
        self.cfg = cfg
        self.url = f"http://127.0.0.1:{self.port}"
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [_need("influxd"), "-config", str(self.cfg)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait(
            lambda: urllib.request.urlopen(self.url + "/ping", timeout=1).status == 204, "influxd"
        )

    def query(self, q: str, db: str) -> dict:
        import json

        url = f"{self.url}/query?" + urllib.parse.urlencode({"q": q, "db": db})
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.loads(r.read())

    def create_db(self, db: str) -> None:
        data = urllib.parse.urlencode({"q": f'CREATE DATABASE "{db}"'}).encode()
        urllib.request.urlopen(self.url + "/query", data=data, timeout=10).close()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


class V2WriteBridge:
    """``POST /api/v2/write?bucket=db/rp&precision=..`` -> ``POST /write?db=db&rp=rp&..``."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.writes = 0
        bridge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def do_POST(self) -> None:
                url = urllib.parse.urlparse(self.path)
                if url.path != "/api/v2/write":
                    self.send_response(404)
                    self.end_headers()
                    return
                q = urllib.parse.parse_qs(url.query)
                db, _, rp = q.get("bucket", [""])[0].partition("/")
                params = {"db": db, "precision": q.get("precision", ["ns"])[0]}
                if rp:
                    params["rp"] = rp
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    import gzip

                    body = gzip.decompress(body)
                req = urllib.request.Request(
                    f"{bridge.target}/write?{urllib.parse.urlencode(params)}", data=body
                )
                try:
                    with urllib.request.urlopen(req, timeout=10) as r:
                        code = r.status
                except urllib.error.HTTPError as exc:
                    code = exc.code
                except OSError:
                    code = 503
                bridge.writes += code == 204
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
