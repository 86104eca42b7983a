"""A real InfluxDB on a loopback port, for the demo on one machine (and the integration tests).

The demo starts Debian's ``influxd`` (1.6.7 here; any 1.x) with its data in a folder of its
own. InfluxDB 1.6 has ``/write`` and ``/query`` but not the v2 write route that
influxdb-client's write API posts to (1.8 and later map ``/api/v2/write?bucket=db/rp`` onto
``/write?db=db&rp=rp`` themselves); :class:`V2WriteBridge` puts that one mapping in front of
it, so the xApp writes to it exactly as it writes to the RIC's InfluxDB.
"""

from __future__ import annotations

import gzip
import json
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

__all__ = ["InfluxServer", "NotInstalled", "V2WriteBridge", "free_port", "wait_until"]


class NotInstalled(RuntimeError):
    """A server binary is not on this machine."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_binary(name: str) -> str:
    """The path of ``name`` (PATH, then /usr/bin); NotInstalled naming how to install it."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        raise NotInstalled(
            f"{name} is not installed; `make test` and `make demo` install it "
            "(apt-get install redis-server influxdb)"
        )
    return path


def wait_until(check, what: str, timeout: float = 30.0) -> None:
    """Poll ``check()`` until it is true; RuntimeError naming ``what`` after ``timeout`` s."""
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up in {timeout:.0f} s")


class InfluxServer:
    """``influxd`` on free loopback ports with its data, WAL and meta under ``workdir``."""

    def __init__(self, workdir: Path) -> None:
        self.port, rpc = free_port(), free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        self.cfg = workdir / "influxdb.conf"
        self.cfg.write_text(f"""
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
        self.url = f"http://127.0.0.1:{self.port}"
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [find_binary("influxd"), "-config", str(self.cfg)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(
            lambda: urllib.request.urlopen(self.url + "/ping", timeout=1).status == 204, "influxd"
        )

    def query(self, q: str, db: str) -> dict:
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
    """``POST /api/v2/write?bucket=db/rp&precision=..`` -> ``POST /write?db=db&rp=rp&..`` of
    ``target``, on a loopback port of its own (``url``)."""

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
