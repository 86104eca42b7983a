"""A tiny study: two regions, tiny models, two epochs (the ``tiny`` fixture runs it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lasco.channels import ChannelCache
from lasco.codec import Projection
from lasco.models import CsiRefiner
from lasco.train import AdaptConfig
from studies.config import StudyConfig
from studies.runner import run_study


@dataclass
class TinyStudy:
    cfg: StudyConfig
    lam: CsiRefiner
    ref: CsiRefiner
    cache: ChannelCache
    folder: Path
    report: dict[str, Any]
    logs: list[str]

    def run(self, state: Path, **kw: Any) -> dict[str, Any]:
        """Run (or resume) this study's configuration with the state file ``state``."""
        return run_tiny(self.cfg, self.lam, self.ref, self.cache, state, **kw)


def run_tiny(cfg, lam, ref, cache, state, **kw) -> dict[str, Any]:
    return run_study(
        cfg, lam, ref, Projection.from_ratio("1/4"), state, cache=cache, progress=False, **kw
    )


TINY = StudyConfig(
    targets=("101", "102"),
    samples_per_target=40,
    ns=(8, "all"),
    methods=("lam-only", "lasco", "e-lasco", "lam-finetune"),
    adapt=AdaptConfig(max_epochs=2, patience=2, batch_size=4),
    alpha_grid=(0.5, 1.0),
    alpha_n=8,
    seed_methods=("e-lasco",),
    extra_seeds=(1,),
    curve_methods=None,
    lr_grid=(),
)
