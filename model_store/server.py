"""A read-only HTTP server for a local store (``model-store serve``).

    GET /v1/models                          {"names": [...]}
    GET /v1/models/<name>                   {"name", "versions": [...], "status": {...}}
    GET /v1/models/<name>/<version>         {"files": [...]}
    GET /v1/models/<name>/<version>/<file>  the file's bytes
    GET /healthz                            {"status": "ok"}

Anything else answers 404 (unknown path) or 405 (a method other than GET/HEAD).
Names, versions and file names are checked against strict patterns, so a request
can never leave the store's folder. Clients verify signatures themselves.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from model_store.backends import LocalBackend
from model_store.errors import NotFound

__all__ = ["make_server", "serve_in_thread"]

log = logging.getLogger(__name__)
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_FILE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def make_server(root: str | Path, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    backend = LocalBackend(root)

    class Handler(BaseHTTPRequestHandler):
        server_version = "lasco-model-store/1"

        def log_message(self, fmt: str, *args: object) -> None:
            log.debug("%s " + fmt, self.address_string(), *args)

        def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, code: int, obj: object) -> None:
            self._send(code, json.dumps(obj).encode())

        def do_GET(self) -> None:
            parts = [p for p in self.path.split("?")[0].split("/") if p]
            try:
                if parts == ["healthz"]:
                    return self._json(200, {"status": "ok"})
                if parts[:2] != ["v1", "models"] or len(parts) > 5:
                    return self._json(404, {"error": "not found"})
                rest = parts[2:]
                if not rest:
                    return self._json(200, {"names": backend.names()})
                name = rest[0]
                if not _NAME.match(name):
                    return self._json(404, {"error": "bad name"})
                if len(rest) == 1:
                    versions = backend.versions(name)
                    if not versions:
                        return self._json(404, {"error": f"no model {name}"})
                    return self._json(
                        200, {"name": name, "versions": versions, "status": backend.status(name)}
                    )
                if not rest[1].isdigit():
                    return self._json(404, {"error": "bad version"})
                files = backend.read(name, int(rest[1]))
                if len(rest) == 2:
                    return self._json(200, {"files": sorted(files)})
                if not _FILE.match(rest[2]) or rest[2] not in files:
                    return self._json(404, {"error": "no such file"})
                return self._send(200, files[rest[2]], "application/octet-stream")
            except NotFound as exc:
                return self._json(404, {"error": str(exc)})

        do_HEAD = do_GET

        def _refuse(self) -> None:
            self._json(405, {"error": "read-only store"})

        do_POST = do_PUT = do_DELETE = do_PATCH = _refuse

    return ThreadingHTTPServer((host, port), Handler)


def serve_in_thread(
    root: str | Path, host: str = "127.0.0.1", port: int = 0
) -> tuple[ThreadingHTTPServer, str]:
    """Start a server in a daemon thread; returns it and its base URL (stop: shutdown())."""
    server = make_server(root, host, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    h, p = server.server_address[:2]
    return server, f"http://{h}:{p}"
