"""Runs a study takes over from another study's state file instead of repeating them.

A study whose settings differ from another's only in the learning-rate grid (a wider
grid, say) repeats runs of it exactly: the trials at the rates both grids hold, the
methods that do not train, and every other cell of a trained method whose rate
validation chooses again. ``run_study(reuse=(other config, its state file))`` copies
such a run (marked ``reused_from``) when its turn comes; a cell the other study ran at a
rate the new grid no longer chooses runs anew. Nothing in the other state file changes.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from lasco.collab import METHODS
from lasco.errors import ConfigError
from lasco.models import CsiRefiner
from studies.config import StudyConfig, cell_rate, trained_method
from studies.state import StudyState

__all__ = ["Donor", "load_donor", "report_stem", "reused_cell"]


def report_stem(preset: str) -> str:
    """The file stem of a preset's report and state file (``reports/STEM.json``)."""
    return "adaptation" if preset == "study" else preset


class Donor:
    """Another study's finished cells, read once, and its name for the record."""

    def __init__(self, name: str, cells: dict[str, dict[str, Any]]) -> None:
        self.name, self.cells = name, cells


def load_donor(
    cfg: StudyConfig, other: StudyConfig, path: Path, lam: CsiRefiner, ref: CsiRefiner
) -> Donor:
    """``other``'s cells from its state file ``path``, after checking that the two studies
    differ only in their rate grids (ConfigError otherwise, and for a state file of other
    settings or other models). A missing file lends nothing. The cells are read once: any
    the other study finishes later are run here again."""
    if replace(other, lr_grid=cfg.lr_grid, reuses=cfg.reuses) != cfg:
        raise ConfigError(
            f"cannot reuse {path}: its study differs from this one in more than the "
            "learning-rate grid"
        )
    name = path.name.removesuffix(".state.json")
    if not path.is_file():
        return Donor(name, {})
    try:
        cells = StudyState(path, other.hash(lam, ref), resume=True).cells
    except ConfigError:
        raise ConfigError(
            f"cannot reuse {path}: its runs are of other settings or other models than this "
            "study's (with --store, give --json in another folder); nothing was changed"
        ) from None
    return Donor(name, cells)


def reused_cell(cfg: StudyConfig, ck: str, cells: dict[str, dict], donor: Donor) -> dict | None:
    """The donor's run of cell ``ck`` when this study would repeat it exactly (``cells``:
    this study's, which hold the trials that choose the rates), else None."""
    cell = donor.cells.get(ck)
    if cell is None:
        return None
    key = ck.split("|")[0]
    if METHODS[trained_method(key, cfg.roles)].trains:
        lr = cell_rate(cfg, key, cells)  # None: cfg.adapt's rates, not a grid's: never reused
        if lr is None or (cell.get("lr"), cell.get("lam_lr")) != (lr, lr):
            return None
    return dict(cell, reused_from=donor.name)
