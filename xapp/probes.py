"""HTTP probes on port 8080, as the xApp descriptor declares them:

GET /ric/v1/health/alive   200 while the process serves requests
GET /ric/v1/health/ready   200 when the models are loaded and RMR is ready; 503 with the
                           failing checks otherwise (a model store outage does not cut
                           the pod's traffic: the loaded models keep serving)
GET /ric/v1/metrics        Prometheus text (xapp.metrics)
GET /ric/v1/counters       the core's counters (JSON)
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["serve_probes"]


def serve_probes(
    readiness: Callable[[], dict[str, bool]],
    counters: Callable[[], dict],
    metrics_text: Callable[[], bytes],
    host: str = "0.0.0.0",
    port: int = 8080,
) -> ThreadingHTTPServer:
    """Start the probe server in a daemon thread; ``readiness()`` returns named checks."""
    from xapp.metrics import CONTENT_TYPE

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _json(self, code: int, obj: object) -> None:
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/ric/v1/health/alive":
                return self._json(200, {"status": "alive"})
            if self.path == "/ric/v1/health/ready":
                checks = readiness()
                return self._json(200 if all(checks.values()) else 503, checks)
            if self.path == "/ric/v1/metrics":
                body = metrics_text()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return None
            if self.path == "/ric/v1/counters":
                return self._json(200, counters())
            return self._json(404, {"error": "not found"})

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="probes", daemon=True).start()
    return server
