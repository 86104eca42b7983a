"""What the rApp's loop (:class:`rapp.controller.RappController`) records of each step: the
events (``RappEvent``: trigger, adaptation, gate, publish, a1) it writes to the event log, and
the entry of an adaptation's outcome it keeps in its history (the operator API lists it). Each
is built here from what happened, so that an event's fields are named in one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rapp.a1_base import A1Result
from rapp.drift import DriftEvent
from rapp.loop_types import Pending
from rapp.telemetry import RappEvent

__all__ = [
    "a1_event",
    "adaptation_events",
    "drift_trigger",
    "history_entry",
    "publish_event",
    "too_few_samples",
    "trigger_event",
]


def trigger_event(environment: str, trigger: str, **fields: Any) -> RappEvent:
    """An adaptation of ``environment`` was triggered (``drift``, ``new``, ``operator``)."""
    return RappEvent("trigger", environment, {"trigger": trigger, **fields})


def drift_trigger(environment: str, change: DriftEvent) -> RappEvent:
    """The trigger a cell's drift starts: the cell, the direction and the levels around it."""
    return trigger_event(
        environment,
        "drift",
        cell=change.cell,
        direction=change.direction,
        series=change.series,
        level_before=change.before,
        level_after=change.after,
    )


def too_few_samples(p: Pending, samples: int) -> RappEvent:
    """A trigger dropped: its samples did not arrive in time."""
    return RappEvent(
        "adaptation",
        p.environment,
        {"trigger": p.trigger, "samples": samples, "reason": "too-few-samples"},
    )


def adaptation_events(
    p: Pending, samples: int, seconds: float, outcome: Mapping[str, Any]
) -> list[RappEvent]:
    """An adaptation on ``samples`` samples that took ``seconds``, then its gate decision
    (``outcome``: ``AdaptationOutcome.to_dict()``)."""
    return [
        RappEvent(
            "adaptation",
            p.environment,
            {
                "trigger": p.trigger,
                "samples": samples,
                "seconds": seconds,
                "reason": str(outcome.get("reason")),
            },
        ),
        RappEvent(
            "gate",
            p.environment,
            {
                "accepted": bool(outcome.get("accepted")),
                "reason": str(outcome.get("reason")),
                "nmse_before_db": outcome.get("running_nmse_db", outcome.get("lam_nmse_db")),
                "nmse_after_db": outcome.get("candidate_nmse_db"),
            },
        ),
    ]


def publish_event(environment: str, published: Mapping[str, Any], samples: int) -> RappEvent:
    """An accepted proxy published to the model store (``published``: its name and version)."""
    return RappEvent(
        "publish",
        environment,
        {"version": published["version"], "name": published["name"], "samples": samples},
    )


def a1_event(environment: str, result: A1Result) -> RappEvent:
    """What A1 made of an environment's policy (put or deleted)."""
    return RappEvent(
        "a1",
        environment,
        {
            "a1_status": result.status.value,
            "operation": result.operation,
            "reason": result.reason or None,
            "seconds": result.seconds,
        },
    )


def history_entry(
    p: Pending, outcome: dict[str, Any] | None, extra: dict[str, Any], t_ns: int
) -> dict[str, Any]:
    """The history's entry of an adaptation's outcome (None: it did not run), with ``extra``
    (the A1 status, or the reason it did not run)."""
    return {
        "environment": p.environment,
        "cells": list(p.cells),
        "trigger": p.trigger,
        "t_ns": t_ns,
        "accepted": bool(outcome and outcome.get("accepted")),
        "reason": (outcome or {}).get("reason", extra.get("reason")),
        "outcome": outcome,
        **extra,
    }
