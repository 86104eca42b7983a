"""The rApp's operator HTTP API (FastAPI; its OpenAPI document is at ``/openapi.json``).

    GET  /rapp/v1/environments                      environments and waiting adaptations
    GET  /rapp/v1/environments/{env}                one environment, with its adaptations
    POST /rapp/v1/environments/{env}/adaptations    adapt it at the next tick (202)
    POST /rapp/v1/environments/{env}/rollback       serve its previous proxy (200, A1 result)
    PUT  /rapp/v1/environments/{env}/cells          {"cells": [...]}: the cells it serves
    PUT  /rapp/v1/environments/{env}/mode           {"mode": "lasco"|"e-lasco"|"side"|"lam-only"}
    GET  /rapp/v1/adaptations                       the adaptations' history, with outcomes
    GET  /rapp/v1/health                            alive/ready (503 until the first tick)
    GET  /rapp/v1/metrics                           the loop's counters, Prometheus text

Errors are ``{"detail": "..."}`` naming what was wrong: 404 an unknown environment, 409 a
request the environment's state refuses (an adaptation already waiting, no proxy to roll
back, a cell another environment serves), 422 a malformed body (with ``errors``, one per
problem). The handlers are plain functions FastAPI runs in its thread pool; the
controller's lock orders them with the loop, so two requests for one environment are
answered one after the other (the second trigger gets 409).
"""

from __future__ import annotations

import dataclasses
import math
import re
import threading
import time
from collections.abc import Mapping
from typing import Annotated, Any, Protocol

from fastapi import Body, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from schemas import Mode

__all__ = ["PREFIX", "CellsBody", "LoopState", "ModeBody", "RollbackBody", "create_app"]

PREFIX = "/rapp/v1"
COUNTERS = {
    "drift": "drift detections (each triggers an adaptation)",
    "adapted": "adaptations accepted and published",
    "declined": "adaptations declined (the gate, too few samples, a failed Job)",
    "adaptation_failed": "adaptations that raised",
    "a1_errors": "A1 deployments that failed",
    "telemetry_unavailable": "ticks whose telemetry read failed",
    "data_unavailable": "data store reads that failed",
    "tick_failures": "ticks that raised (the loop goes on)",
}
"""The controller's counters the metrics always show (others it has are shown too)."""


class Controller(Protocol):
    """What the API needs of ``rapp.controller.RappController``."""

    table: Any
    pending: dict[str, Any]
    history: list[dict[str, Any]]
    counters: Mapping[str, int]

    def request_adaptation(self, environment: str) -> Any: ...

    def rollback(self, environment: str, reason: str = ...) -> Any: ...

    def set_cells(self, environment: str, cells: tuple[str, ...]) -> Any: ...

    def set_mode(self, environment: str, mode: Mode) -> Any: ...


class LoopState:
    """How the loop is doing, for ``/health`` and ``/metrics`` (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.ticks = 0
        self.last_tick_ns: int | None = None
        self.last_error: str | None = None

    def tick_done(self) -> None:
        with self._lock:
            self.ticks += 1
            self.last_tick_ns = time.time_ns()
            self.last_error = None

    def tick_failed(self, exc: BaseException) -> None:
        with self._lock:
            self.last_error = f"{type(exc).__name__}: {exc}"

    @property
    def ready(self) -> bool:
        """Ready once a tick completed: the parts answered at least once."""
        return self.ticks > 0

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "alive": True,
                "ready": self.ticks > 0,
                "ticks": self.ticks,
                "last_tick_ns": self.last_tick_ns,
                "last_error": self.last_error,
            }


Cell = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


class CellsBody(BaseModel):
    """The cells an environment serves (at least one, no repeats)."""

    model_config = ConfigDict(extra="forbid")
    cells: list[Cell] = Field(min_length=1, max_length=4096)

    @field_validator("cells")
    @classmethod
    def _distinct(cls, cells: list[str]) -> list[str]:
        repeated = sorted({c for c in cells if cells.count(c) > 1})
        if repeated:
            raise ValueError(f"cells repeat: {', '.join(repeated)}")
        return cells


class ModeBody(BaseModel):
    """How an environment is served."""

    model_config = ConfigDict(extra="forbid")
    mode: Mode


class RollbackBody(BaseModel):
    """Why the proxy is rolled back (kept in the store's bad-version record)."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field("rolled back by the operator", min_length=1, max_length=500)


def _finite(obj: Any) -> Any:
    """JSON-safe: non-finite floats as null, tuples as lists, enums as values."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mode):
        return obj.value
    if isinstance(obj, Mapping):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [_finite(v) for v in obj]
    if hasattr(obj, "value") and isinstance(obj.value, str):
        return obj.value
    return obj


def _pending(p: Any) -> dict[str, Any]:
    return {
        "environment": p.environment,
        "cells": list(p.cells),
        "trigger": p.trigger,
        "since_ns": p.since_ns,
        "created_ns": p.created_ns,
    }


def _a1(result: Any) -> dict[str, Any]:
    out = dataclasses.asdict(result) if dataclasses.is_dataclass(result) else dict(result)
    return _finite(out)


def _missing(exc: KeyError) -> HTTPException:
    return HTTPException(404, str(exc.args[0]) if exc.args else "no such environment")


def create_app(controller: Controller, state: LoopState | None = None) -> FastAPI:
    """The API over ``controller`` (``state``: the loop's, for health and metrics)."""
    ctl, loop = controller, state or LoopState()
    app = FastAPI(
        title="csi-rapp",
        version="1",
        description="Operator API of the LASCO CSI rApp: environments, adaptations, A1.",
    )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e["type"]}
            for e in exc.errors()
        ]
        words = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors)
        return JSONResponse({"detail": f"invalid request: {words}", "errors": errors}, 422)

    def view(environment: str) -> dict[str, Any]:
        env = ctl.table.get(environment)
        p = dict(ctl.pending).get(environment)
        return _finite({**env.to_dict(), "pending": _pending(p) if p else None})

    def changed(environment: str, result: Any) -> dict[str, Any]:
        return {"environment": view(environment), "a1": _a1(result)}

    @app.get(f"{PREFIX}/environments", summary="Environments and waiting adaptations")
    def environments() -> dict[str, Any]:
        envs = sorted(ctl.table.all(), key=lambda e: e.environment_id)
        return {
            "environments": [view(e.environment_id) for e in envs],
            "pending": [_pending(p) for _, p in sorted(dict(ctl.pending).items())],
        }

    @app.get(f"{PREFIX}/environments/{{env}}", summary="One environment and its adaptations")
    def environment(env: str) -> dict[str, Any]:
        adaptations = [_finite(h) for h in ctl.history if h.get("environment") == env]
        if env in ctl.table:
            try:
                return {**view(env), "adaptations": adaptations}
            except KeyError:  # removed since the check
                pass
        p = dict(ctl.pending).get(env)
        if p is None:
            raise HTTPException(404, f"no environment {env!r}")
        return {
            "environment": env,
            "cells": list(p.cells),
            "mode": None,
            "origin": p.trigger,
            "active": None,
            "versions": [],
            "nmse_db": None,
            "pending": _pending(p),
            "adaptations": adaptations,
        }

    @app.post(
        f"{PREFIX}/environments/{{env}}/adaptations",
        status_code=202,
        summary="Adapt an environment at the next tick",
        responses={404: {"description": "no such environment"}, 409: {"description": "busy"}},
    )
    def adapt(env: str) -> dict[str, Any]:
        try:
            p = ctl.request_adaptation(env)
        except KeyError as exc:
            raise _missing(exc) from None
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None
        return {"status": "waiting", **_pending(p)}

    @app.post(
        f"{PREFIX}/environments/{{env}}/rollback",
        summary="Serve an environment with its previous proxy (the LAM alone before the first)",
        responses={404: {"description": "no such environment"}, 409: {"description": "no proxy"}},
    )
    def rollback(env: str, body: Annotated[RollbackBody | None, Body()] = None) -> dict[str, Any]:
        reason = (body or RollbackBody()).reason
        try:
            result = ctl.rollback(env, reason)
        except KeyError as exc:
            raise _missing(exc) from None
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None
        return changed(env, result)

    @app.put(
        f"{PREFIX}/environments/{{env}}/cells",
        summary="Set the cells an environment serves; its A1 policy follows",
        responses={404: {"description": "no such environment"}, 409: {"description": "taken"}},
    )
    def cells(env: str, body: CellsBody) -> dict[str, Any]:
        try:
            result = ctl.set_cells(env, tuple(body.cells))
        except KeyError as exc:
            raise _missing(exc) from None
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None
        return changed(env, result)

    @app.put(
        f"{PREFIX}/environments/{{env}}/mode",
        summary="Set how an environment is served; its A1 policy follows",
        responses={404: {"description": "no such environment"}, 409: {"description": "no proxy"}},
    )
    def mode(env: str, body: ModeBody) -> dict[str, Any]:
        try:
            result = ctl.set_mode(env, body.mode)
        except KeyError as exc:
            raise _missing(exc) from None
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None
        return changed(env, result)

    @app.get(f"{PREFIX}/adaptations", summary="The adaptations so far, oldest first")
    def adaptations(
        environment: Annotated[str | None, Query(min_length=1)] = None,
        limit: Annotated[int, Query(ge=1, le=10000)] = 100,
    ) -> dict[str, Any]:
        rows = [h for h in list(ctl.history) if environment in (None, h.get("environment"))]
        return {"adaptations": _finite(rows[-limit:]), "total": len(rows)}

    @app.get(f"{PREFIX}/health", summary="Alive, and ready once the loop completed a tick")
    def health() -> JSONResponse:
        body = loop.to_dict()
        return JSONResponse(body, 200 if body["ready"] else 503)

    @app.get(
        f"{PREFIX}/metrics",
        response_class=PlainTextResponse,
        summary="The loop's counters (Prometheus text format 0.0.4)",
    )
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(
            prometheus_text(ctl, loop), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    return app


def _metric(lines: list[str], name: str, kind: str, help_: str, value: float) -> None:
    name = "csi_rapp_" + re.sub(r"[^a-zA-Z0-9_]", "_", name)
    exact = isinstance(value, int) or (float(value).is_integer() and abs(value) < 2**53)
    text = str(int(value)) if exact else repr(float(value))
    lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", f"{name} {text}"]


def prometheus_text(ctl: Controller, loop: LoopState) -> str:
    """The controller's counters, its event log's, and the loop's gauges."""
    lines: list[str] = []
    counts = dict(ctl.counters)
    for key in [*COUNTERS, *sorted(set(counts) - set(COUNTERS))]:
        help_ = COUNTERS.get(key, key.replace("_", " "))
        _metric(lines, f"{key}_total", "counter", help_, counts.get(key, 0))
    events = getattr(ctl, "events", None)
    for key in ("events_written", "events_dropped", "events_rejected", "write_failures"):
        if isinstance(getattr(events, key, None), int):
            name = key if key.startswith("events") else f"events_{key}"
            _metric(lines, f"{name}_total", "counter", f"event log: {key}", getattr(events, key))
    state = loop.to_dict()
    _metric(lines, "ticks_total", "counter", "ticks completed", state["ticks"])
    _metric(lines, "ready", "gauge", "1 once a tick completed", int(state["ready"]))
    if state["last_tick_ns"] is not None:
        last = state["last_tick_ns"] / 1e9
        _metric(lines, "last_tick_timestamp_seconds", "gauge", "end of the last tick", last)
    _metric(lines, "environments", "gauge", "environments served", len(ctl.table.all()))
    _metric(lines, "pending_adaptations", "gauge", "adaptations waiting", len(ctl.pending))
    _metric(lines, "adaptations_recorded", "gauge", "adaptations in the history", len(ctl.history))
    return "\n".join(lines) + "\n"
