"""Figures read from the study's report JSON: who plays which part, the headline size,
means over regions (paired where methods have finished different regions) and the
adaptation seconds a quiet machine would take."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "avg",
    "by_n",
    "headline",
    "label",
    "los_nlos",
    "mean",
    "paired",
    "quiet_seconds",
    "role",
    "sizes",
]


def role(report: dict[str, Any], part: str) -> str:
    """The method playing ``part`` (a field of studies.config.Roles: "proposed", "base",
    "full_finetune", ...) in this report."""
    return report["roles"][part]


def headline(report: dict[str, Any]) -> str:
    """The target-data size the goals are judged at, as a key of ``by_n``."""
    return str(report["headline_n"])


def label(report: dict[str, Any], method: str) -> str:
    """The method's name for people (lasco.collab's label; the key when there is none)."""
    return report["methods"].get(method, {}).get("label", method)


def by_n(report: dict[str, Any], method: str, n: str) -> dict[str, Any]:
    """The method's entry at ``n`` ({} when it has none)."""
    return report["methods"].get(method, {}).get("by_n", {}).get(n, {})


def mean(report: dict[str, Any], method: str, n: str) -> float | None:
    """The method's mean NMSE at ``n``, only when every target region is done (means over
    different sets of regions are not comparable); None otherwise."""
    entry = by_n(report, method, n)
    if not entry or entry.get("regions_done", 0) < len(report["target_regions"]):
        return None
    return entry["mean_nmse_db"]


def quiet_seconds(
    report: dict[str, Any],
    method: str,
    n: str | None = None,
    regions: list[str] | None = None,
) -> float | None:
    """Mean adaptation seconds at ``n`` (default: the headline n) as a quiet machine would
    take them: the epochs the study's runs needed times the seconds per epoch
    `python -m benchmarks adapt` measured for the method in one back-to-back run
    (``report["adapt_timing"]``, at that same n).

    With ``regions``, the mean is over those regions only (epochs from their curves)."""
    timing = report.get("adapt_timing") or {}
    spe = timing.get("methods", {}).get(method, {}).get("seconds_per_epoch")
    entry = by_n(report, method, headline(report) if n is None else n)
    if spe is None or not entry or str(timing.get("n")) != str(entry.get("n")):
        return None
    if regions is None:
        return float(entry["epochs"]) * float(spe)
    curves = entry.get("val_curve", {})
    if not all(r in curves for r in regions):
        return None
    return float(spe) * float(np.mean([len(curves[r]) - 1 for r in regions]))


def paired(report: dict[str, Any], n: str) -> tuple[list[str], dict[str, dict[str, float]]]:
    """The regions every method has finished at ``n`` and each method's NMSE on them, so
    that comparisons are paired even while the study is incomplete."""
    per = {k: rec["by_n"].get(n, {}).get("nmse_db", {}) for k, rec in report["methods"].items()}
    shared = [r for r in report["target_regions"] if all(r in v for v in per.values())]
    return shared, {k: {r: v[r] for r in shared} for k, v in per.items()}


def avg(d: dict[str, float], regions: list[str] | None = None) -> float:
    """The mean of ``d`` over ``regions`` (default: all of them); NaN over none."""
    vals = [d[r] for r in (regions if regions is not None else d)]
    return float(np.mean(vals)) if vals else float("nan")


def los_nlos(
    regions: list[str], report: dict[str, Any] | None = None
) -> tuple[list[str], list[str]]:
    """``regions`` split into LOS and NLOS ones: by the report's ``target_los`` when it
    has one, else by the paper layout's rule (even numbers LOS, odd NLOS)."""
    flags = (report or {}).get("target_los")
    if flags is None:
        flags = {r: int(r) % 2 == 0 for r in regions}
    return [r for r in regions if flags[r]], [r for r in regions if not flags[r]]


def sizes(report: dict[str, Any]) -> list[str]:
    """The study's n as report keys, smallest first ("all" as the samples it stands for)."""
    return sorted(
        (str(n) for n in report["config"]["ns"]),
        key=lambda n: report.get("n_all", 0) if n == "all" else int(n),
    )
