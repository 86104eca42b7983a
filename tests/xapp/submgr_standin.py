"""A local stand-in for the O-RAN SC Subscription Manager's REST API, as its API document
describes it: ``POST /ric/v1/subscriptions`` (``SubscriptionParams`` in, ``201`` with a
``SubscriptionId`` out), then a notification ``POST <ClientEndpoint>/ric/v1/subscriptions/
response`` carrying the ``E2EventInstanceId`` it assigned (or an ``ErrorCause``), and
``DELETE /ric/v1/subscriptions/{id}`` (``204``; ``404`` for an unknown id)."""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REQUIRED = ("ClientEndpoint", "Meid", "RANFunctionID", "SubscriptionDetails")


class SubmgrStandIn:
    def __init__(self, first_instance: int = 4242, refuse_meids: tuple[str, ...] = ()) -> None:
        self.posted: list[dict] = []
        self.deleted: list[str] = []
        self.live: dict[str, dict] = {}
        self.refuse_meids = set(refuse_meids)
        self._next = first_instance
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, code, obj=None):
                body = b"" if obj is None else json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                if self.path != "/ric/v1/subscriptions":
                    return self._reply(404)
                params = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if any(k not in params for k in REQUIRED):
                    return self._reply(400, {"error": "missing fields"})
                stand_in.posted.append(params)
                sid = f"sub-{len(stand_in.posted)}"
                stand_in.live[sid] = params
                self._reply(201, {"SubscriptionId": sid, "SubscriptionInstances": None})
                threading.Thread(target=stand_in._notify, args=(sid, params)).start()

            def do_DELETE(self):
                sid = self.path.rsplit("/", 1)[-1]
                if not self.path.startswith("/ric/v1/subscriptions/") or sid not in stand_in.live:
                    return self._reply(404)
                del stand_in.live[sid]
                stand_in.deleted.append(sid)
                self._reply(204)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ric/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _notify(self, sid: str, params: dict) -> None:
        ep = params["ClientEndpoint"]
        if params["Meid"] in self.refuse_meids:
            inst = {"XappEventInstanceId": 1, "E2EventInstanceId": 0}
            inst.update(ErrorCause="RAN function not supported", ErrorSource="E2Node")
        else:
            inst = {"XappEventInstanceId": 1, "E2EventInstanceId": self._next}
            self._next += 1
        body = json.dumps({"SubscriptionId": sid, "SubscriptionInstances": [inst]}).encode()
        req = urllib.request.Request(
            f"http://{ep['Host']}:{ep['HTTPPort']}/ric/v1/subscriptions/response",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(req, timeout=5).close()

    def close(self) -> None:
        self.server.shutdown()
