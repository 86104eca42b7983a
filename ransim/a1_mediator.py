"""A local stand-in for the near-RT RIC's A1 mediator, for the embedded demo and tests.

It serves the A1-P v2 REST API (FastAPI on uvicorn in a thread, on a loopback port; OpenAPI
at ``/openapi.json``) with the mediator's codes, keeps types and instances in memory,
validates instances against their type's ``create_schema`` and, once a PUT or DELETE is
answered 202, hands it to the xApp as the mediator's A1_POLICY_REQ through
``deliver(request_bytes)``, one at a time on its own thread.

    GET    /A1-P/v2/healthcheck                                   200
    GET    /A1-P/v2/policytypes                                   200 [ids]
    GET    /A1-P/v2/policytypes/{type}                            200, 404
    PUT    /A1-P/v2/policytypes/{type}                            201, 400 (bad body, exists)
    DELETE /A1-P/v2/policytypes/{type}                            204, 400 (instances), 404
    GET    /A1-P/v2/policytypes/{type}/policies                   200 [ids], 404
    GET    /A1-P/v2/policytypes/{type}/policies/{id}              200, 404
    PUT    /A1-P/v2/policytypes/{type}/policies/{id}              202, 400, 404, 415
    DELETE /A1-P/v2/policytypes/{type}/policies/{id}              202, 404
    GET    /A1-P/v2/policytypes/{type}/policies/{id}/status       200, 404 (503: fail_next)

Status is ENFORCED once an xApp answered OK, else NOT_ENFORCED with the xApp's reason
(``enforceReason`` null while no answer came yet). DELETE is fire-and-forget toward the
xApp: the instance is gone at once. ``fail_next`` makes the next requests answer an error
code (a transient DB error, by default 503). The demo's: ``A1Mediator(LocalRic(core).a1)``.
"""

from __future__ import annotations

import json
import logging
import queue
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

__all__ = ["A1Mediator", "Deliver", "build_app"]

log = logging.getLogger(__name__)

Deliver = Callable[[bytes], "bytes | None"]
"""Sends an A1_POLICY_REQ to the xApp; returns its A1_POLICY_RESP (None: no answer)."""

PREFIX = "/A1-P/v2"
_TYPE = "/policytypes/{policy_type_id}"
_INSTANCE = _TYPE + "/policies/{policy_instance_id}"
_JSON_BODY = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
_REQUEST_KEYS = ("operation", "policy_type_id", "policy_instance_id", "payload")
_UVICORN: dict[str, Any] = {"loop": "asyncio", "http": "h11", "ws": "none", "lifespan": "off"}
_UVICORN |= {"log_config": None, "access_log": False, "timeout_graceful_shutdown": 1}


@dataclass
class _Instance:
    """A stored instance: its data, the xApps' answers to its latest CREATE/UPDATE."""

    data: Any
    generation: int = 0
    answers: dict[str, tuple[str, str]] = field(default_factory=dict)  # handler: (status, why)
    note: str = ""  # why there is no answer ("" while the delivery is pending)

    def status(self) -> dict[str, Any]:
        if any(s == "OK" for s, _ in self.answers.values()):
            return {"enforceStatus": "ENFORCED", "enforceReason": None}
        why = "; ".join(f"{h}: {s} {r}".strip() for h, (s, r) in sorted(self.answers.items()))
        return {"enforceStatus": "NOT_ENFORCED", "enforceReason": why or self.note or None}


@dataclass(frozen=True)
class _Job:
    type_id: int
    instance_id: str
    operation: str
    payload: str
    generation: int


@dataclass
class _Fault:
    times: int
    code: int
    method: str | None
    path_suffix: str


def _problem(code: int, detail: str) -> JSONResponse:
    return JSONResponse({"status": code, "detail": detail}, status_code=code)


class A1Mediator:
    """The stand-in mediator.

    Args:
        deliver: sends an A1_POLICY_REQ to the xApp and returns its answer (or None).
        host, port: where to listen (port 0: a free one, then kept across restarts).

    Attributes (guarded by ``lock``):
        types: ``{type id: the PUT body}``.
        instances: ``{(type id, instance id): record}``.
        sent: every A1_POLICY_REQ delivered, in order.
        calls: requests answered, by route (``"put_type"``, ``"put_instance"``,
            ``"instance_status"``: the route functions' names; injected faults not counted).
    """

    start_timeout_s = 10.0
    """How long ``start`` waits for the server."""

    def __init__(self, deliver: Deliver, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.deliver, self.host, self.port = deliver, host, port
        self.types: dict[int, dict[str, Any]] = {}
        self.instances: dict[tuple[int, str], _Instance] = {}
        self.sent: list[bytes] = []
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._idle = threading.Condition(self.lock)
        self._pending = 0
        self._faults: list[_Fault] = []
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._server: uvicorn.Server | None = None
        self._parts: list[Any] = []  # while running: the socket and the two threads
        self.app = build_app(self)

    @property
    def url(self) -> str:
        """``http://host:port`` (after ``start``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> A1Mediator:
        """Listen (on the port of a previous start, if any) and start delivering."""
        if self._server is not None:
            return self
        # IPPROTO_TCP, or asyncio leaves Nagle on (each body then waits ~40 ms for an ACK)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(self.app, **_UVICORN))
        web = threading.Thread(target=server.run, args=([sock],), name="a1-http", daemon=True)
        worker = threading.Thread(target=self._work, name="a1-deliver", daemon=True)
        web.start()
        worker.start()
        self._server, self._parts = server, [sock, web, worker]
        deadline = time.monotonic() + self.start_timeout_s
        while not server.started:
            if not web.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the A1 mediator did not start on port {self.port}")
            time.sleep(0.005)
        log.info("A1 mediator listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop listening (a down RIC); types and instances stay for a later ``start``.
        Deliveries already queued finish first."""
        if self._server is None:
            return
        self._server.should_exit = True
        self._jobs.put(None)
        sock, *threads = self._parts
        for thread in threads:
            thread.join(timeout=10)
        sock.close()
        self._server, self._parts = None, []
        log.info("A1 mediator on port %d stopped", self.port)

    def __enter__(self) -> A1Mediator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget every type, instance, delivery, count and fault (after a ``drain``)."""
        with self.lock:
            for store in (self.types, self.instances, self.calls, self._faults):
                store.clear()
            self.sent.clear()

    def drain(self, timeout_s: float = 30.0) -> bool:
        """Wait until every queued delivery is done; False when ``timeout_s`` passed."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout_s)

    def fail_next(
        self, times: int = 1, code: int = 503, *, method: str | None = None, path_suffix: str = ""
    ) -> None:
        """Answer the next ``times`` requests matching ``method`` and ``path_suffix`` ``code``."""
        with self.lock:
            self._faults.append(_Fault(times, code, method, path_suffix))

    def fault_for(self, method: str, path: str) -> int | None:
        """The code of an injected fault for this request (using it up), else None."""
        with self.lock:
            for fault in self._faults:
                if fault.method in (None, method) and path.endswith(fault.path_suffix):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault.code
        return None

    def put_instance(self, type_id: int, instance_id: str, data: Any) -> Response:
        with self.lock:
            if type_id not in self.types:
                return _problem(404, f"policy type {type_id} not found")
            try:
                jsonschema.validate(data, self.types[type_id]["create_schema"])
            except jsonschema.ValidationError as exc:
                where = "/" + "/".join(map(str, exc.absolute_path))
                return _problem(400, f"not a valid instance of {type_id}: {where}: {exc.message}")
            old = self.instances.get((type_id, instance_id))
            inst = _Instance(data, generation=old.generation + 1 if old else 0)
            self.instances[(type_id, instance_id)] = inst
            op = "UPDATE" if old else "CREATE"
            self._queue(_Job(type_id, instance_id, op, json.dumps(data), inst.generation))
        return Response(status_code=202)

    def delete_instance(self, type_id: int, instance_id: str) -> Response:
        with self.lock:
            if self.instances.pop((type_id, instance_id), None) is None:
                return _problem(404, f"policy instance {instance_id} of type {type_id} not found")
            self._queue(_Job(type_id, instance_id, "DELETE", "", -1))
        return Response(status_code=202)

    def _queue(self, job: _Job) -> None:
        self._pending += 1
        self._jobs.put(job)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                self._deliver(job)
            except Exception:  # the delivery thread must survive anything
                log.exception("A1 mediator: delivering %s failed", job)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _deliver(self, job: _Job) -> None:
        values = (job.operation, str(job.type_id), job.instance_id, job.payload)
        request = json.dumps(dict(zip(_REQUEST_KEYS, values, strict=True))).encode()
        self.sent.append(request)
        note = "no xApp answered"
        try:
            answer = self.deliver(request)
        except Exception as exc:
            answer, note = None, f"delivery to the xApp failed: {exc}"
        log.info("A1 %s %s -> %s", job.operation, job.instance_id, answer)
        if job.operation == "DELETE":
            return  # fire-and-forget: the instance is already gone
        parsed = _parse_answer(answer)
        with self.lock:
            inst = self.instances.get((job.type_id, job.instance_id))
            if inst is None or inst.generation != job.generation:
                return  # deleted or replaced meanwhile
            if parsed is None:
                inst.note = note if answer is None else f"unreadable xApp answer: {answer!r:.200}"
            else:
                inst.answers[parsed[0]] = parsed[1:]


def _parse_answer(answer: bytes | None) -> tuple[str, str, str] | None:
    """(handler_id, status, reason) of an A1_POLICY_RESP, None when unreadable."""
    try:
        body = json.loads(answer) if answer else None
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        return None
    return str(body.get("handler_id") or "xapp"), body["status"], str(body.get("reason") or "")


def _type_error(type_id: int, body: Any) -> str:
    """Why a policy type body is refused ("" when it is fine)."""
    if not isinstance(body, dict) or not isinstance(body.get("create_schema"), dict):
        return "not a policy type: a JSON object with a create_schema object expected"
    if body.get("policy_type_id") != type_id or not isinstance(body.get("name"), str):
        return f"not a policy type: a name and policy_type_id {type_id} expected"
    try:
        jsonschema.Draft7Validator.check_schema(body["create_schema"])
    except jsonschema.SchemaError as exc:
        return f"create_schema is not a draft-07 JSON Schema: {exc.message}"
    return ""


def _doc(summary: str, *codes: int, body: bool = False) -> dict[str, Any]:
    """OpenAPI words for a route: its summary, error codes and JSON request body."""
    extra = {"openapi_extra": {"requestBody": _JSON_BODY}} if body else {}
    return {"summary": summary, "responses": {c: {} for c in codes}, **extra}


def build_app(ric: A1Mediator) -> FastAPI:
    """The A1-P v2 routes over ``ric``'s state."""
    app = FastAPI(title="A1 mediator (local stand-in)", version="2", docs_url=None)

    @app.middleware("http")
    async def faults(request: Request, call_next: Callable[..., Any]) -> Response:
        code = ric.fault_for(request.method, request.url.path)
        if code is not None:
            return _problem(code, "injected fault")
        response: Response = await call_next(request)
        route = request.scope.get("route")  # set by the router on the scope it was given
        with ric.lock:
            ric.calls[getattr(route, "name", "unrouted")] += 1
        return response

    @app.get(PREFIX + "/healthcheck", summary="Health check")
    async def healthcheck() -> Response:
        return Response(status_code=200)

    @app.get(PREFIX + "/policytypes", summary="Policy type ids")
    async def list_types() -> list[int]:
        with ric.lock:
            return sorted(ric.types)

    @app.get(PREFIX + _TYPE, **_doc("A policy type", 404))
    async def get_type(policy_type_id: int) -> Response:
        with ric.lock:
            body = ric.types.get(policy_type_id)
        return JSONResponse(body) if body else _problem(404, "policy type not found")

    @app.put(PREFIX + _TYPE, status_code=201, **_doc("Create a policy type", 400, body=True))
    async def put_type(policy_type_id: int, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        why = _type_error(policy_type_id, body)
        with ric.lock:
            if not why and policy_type_id in ric.types:
                why = f"policy type {policy_type_id} already exists"
            if why:
                return _problem(400, why)
            ric.types[policy_type_id] = body
        return Response(status_code=201)

    @app.delete(PREFIX + _TYPE, status_code=204, **_doc("Delete a policy type", 400, 404))
    async def delete_type(policy_type_id: int) -> Response:
        with ric.lock:
            if policy_type_id not in ric.types:
                return _problem(404, "policy type not found")
            if any(t == policy_type_id for t, _ in ric.instances):
                return _problem(400, "policy type has instances; delete them first")
            del ric.types[policy_type_id]
        return Response(status_code=204)

    @app.get(PREFIX + _TYPE + "/policies", **_doc("Instance ids of a type", 404))
    async def list_instances(policy_type_id: int) -> Response:
        with ric.lock:
            if policy_type_id not in ric.types:
                return _problem(404, "policy type not found")
            ids = sorted(i for t, i in ric.instances if t == policy_type_id)
        return JSONResponse(ids)

    @app.get(PREFIX + _INSTANCE, **_doc("A policy instance", 404))
    async def get_instance(policy_type_id: int, policy_instance_id: str) -> Response:
        with ric.lock:
            inst = ric.instances.get((policy_type_id, policy_instance_id))
            return JSONResponse(inst.data) if inst else _problem(404, "instance not found")

    @app.put(
        PREFIX + _INSTANCE, status_code=202, **_doc("Put an instance", 400, 404, 415, body=True)
    )
    async def put_instance(
        policy_type_id: int, policy_instance_id: str, request: Request
    ) -> Response:
        ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
        try:
            if ctype != "application/json" and not ctype.endswith("+json"):
                raise ValueError(ctype)
            data = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return _problem(415, "the body must be JSON (application/json)")
        return ric.put_instance(policy_type_id, policy_instance_id, data)

    @app.delete(PREFIX + _INSTANCE, status_code=202, **_doc("Delete an instance", 404))
    async def delete_instance(policy_type_id: int, policy_instance_id: str) -> Response:
        return ric.delete_instance(policy_type_id, policy_instance_id)

    @app.get(PREFIX + _INSTANCE + "/status", **_doc("Enforcement status", 404, 503))
    async def instance_status(policy_type_id: int, policy_instance_id: str) -> Response:
        with ric.lock:
            inst = ric.instances.get((policy_type_id, policy_instance_id))
            return JSONResponse(inst.status()) if inst else _problem(404, "instance not found")

    return app
