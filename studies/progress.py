"""Where a study stands: the cells done per stage of the plan and the time the rest
should take. Reads the finished cells only, not the data."""

from __future__ import annotations

from typing import Any

import numpy as np

from lasco.channels.store import split_sizes
from lasco.collab import METHODS
from studies.config import (
    ALL,
    Cell,
    Roles,
    StudyConfig,
    cell_key,
    is_headline,
    split_key,
    study_plan,
    trained_method,
)

__all__ = ["remaining_seconds", "stage_name", "study_progress"]


def remaining_seconds(
    cells: dict[str, dict[str, Any]],
    left: list[Cell],
    n_all: int,
    n_val: int = 0,
    *,
    roles: Roles,
) -> float | None:
    """Seconds the cells ``left`` should take. An epoch costs a forward and backward pass
    per training sample (3 forwards) and a forward per validation sample, so each method's
    finished cells give its seconds per unit of ``3 n + n_val``; a cell left costs that
    times its own units (an alpha-sweep cell counts as the learned-alpha method of
    ``roles``, a seed rerun as its method). None when a method left has no finished cell
    to go by."""
    per_unit: dict[str, list[float]] = {}
    for k, c in cells.items():
        per_unit.setdefault(trained_method(k.split("|")[0], roles), []).append(
            c.get("train_seconds", 0.0) / (3 * max(1, c.get("n", 1)) + n_val)
        )
    total = 0.0
    for m, n, _ in left:
        rates = per_unit.get(trained_method(m, roles))
        if not rates:
            return None
        total += float(np.mean(rates)) * (3 * (n_all if n == ALL else int(n)) + n_val)
    return total


def stage_name(cfg: StudyConfig, cell: Cell) -> str:
    """The stage of the plan ``cell`` belongs to, as ``--status`` prints it."""
    parts = split_key(cell[0])
    n = cell[1]
    if parts.lr is not None:
        return f"learning-rate trials, n = {n}: regions {', '.join(cfg.tuning)}"
    if parts.alpha is not None:
        return f"alpha sweep, n = {n}"
    if parts.seed is not None:
        return f"seed reruns, n = {n}: {', '.join(cfg.seed_methods)}"
    if is_headline(cfg, cell):
        full = METHODS[cfg.roles.full_finetune].label
        return f"headline: every method at n = {cfg.headline_n}, {full} at n = {ALL}"
    return f"n = {n}"


def study_progress(cfg: StudyConfig, cells: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Where a study stands, stage by stage in the order the plan runs them: cells done and
    planned, and the cell-hours the rest should take (``remaining_seconds``; None until
    every method left has a finished cell). Needs the state file only, not the data."""
    n_train, n_val = split_sizes(cfg.samples_per_target)
    n_all = next((c["n"] for k, c in cells.items() if k.split("|")[1] == ALL), n_train)
    stages: dict[str, list[Cell]] = {}
    for cell in study_plan(cfg):
        stages.setdefault(stage_name(cfg, cell), []).append(cell)
    rows = []
    for name, planned in stages.items():
        left = [c for c in planned if cell_key(*c) not in cells]
        eta = remaining_seconds(cells, left, n_all, n_val, roles=cfg.roles)
        rows.append(
            {
                "stage": name,
                "done": len(planned) - len(left),
                "planned": len(planned),
                "hours_left": None if eta is None else round(eta / 3600, 2),
            }
        )
    return rows
