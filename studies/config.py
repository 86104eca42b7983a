"""The adaptation study's settings, its cells and the order they run in.

A cell is one method adapted from ``n`` target samples in one region, keyed
``METHOD|n|REGION``. Besides the methods of lasco.collab, the plan holds alpha-sweep
cells (``alpha=A``: the learned-alpha method with alpha fixed at A) and seed reruns
(``METHOD#seedS``: the method again with adaptation seed S).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from lasco.collab import METHODS
from lasco.models import CsiRefiner
from lasco.train import AdaptConfig

__all__ = [
    "ALL",
    "Cell",
    "Roles",
    "StudyConfig",
    "alpha_key",
    "cell_key",
    "cell_label",
    "is_headline",
    "seed_key",
    "split_key",
    "study_plan",
    "trained_method",
]

ALL = "all"
Cell = tuple[str, int | str, str]  # (plan key, n, region)

_ALPHA, _SEED = "alpha=", "#seed"


@dataclass(frozen=True)
class Roles:
    """The part each method plays in the report, as keys of lasco.collab.METHODS: the
    goals and findings name methods only through these."""

    proposed: str = "e-lasco"  # the method the study is about
    base: str = "lam-only"  # the pre-trained LAM alone: gains are measured over it
    full_finetune: str = "lam-finetune"  # the accuracy (on all samples) and time to beat
    fixed_alpha: str = "lasco"  # the plug-in with alpha fixed at 1
    learned_alpha: str = "e-lasco"  # the plug-in that learns alpha (the alpha sweep's)
    reference_ablation: str = "no-reference"  # the plug-in without the reference SAM
    sam_alone: str = "sam-only"  # the pre-trained small model alone

    def unknown(self) -> list[str]:
        """The roles' methods that lasco.collab does not have."""
        return [m for m in asdict(self).values() if m not in METHODS]


# Settings that change no finished cell stay out of the hash: the seed reruns are cells
# of their own ("METHOD#seedS"), and the roles only say how the report reads the cells.
_UNHASHED = ("seed_methods", "extra_seeds", "roles")


@dataclass(frozen=True)
class StudyConfig:
    """The study's settings; their hash guards ``resume``."""

    targets: tuple[str, ...] = tuple(str(i) for i in range(101, 111))
    samples_per_target: int = 5000
    ns: tuple[int | str, ...] = (1000, ALL, 100, 300, 3000)  # the headline size first
    methods: tuple[str, ...] = tuple(METHODS)
    adapt: AdaptConfig = field(default_factory=AdaptConfig)
    alpha_grid: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
    alpha_n: int = 1000
    k_envs: int = 10
    # Reruns at the headline n with other adaptation seeds (only the order of the training
    # batches changes), for the methods whose means are closest: how much of a gap is noise.
    seed_methods: tuple[str, ...] = ("lasco", "e-lasco", "no-reference")
    extra_seeds: tuple[int, ...] = (1, 2)
    roles: Roles = field(default_factory=Roles)

    @property
    def headline_n(self) -> int | str:
        """The target-data size the goals are judged at: the first of ``ns``."""
        return self.ns[0]

    def hash(self, lam: CsiRefiner, ref: CsiRefiner) -> str:
        """The settings and both models' weights, hashed: a state file of another hash
        holds cells of another study."""
        weights = hashlib.sha256()
        for model in (lam, ref):
            for v in model.state_dict().values():
                weights.update(v.numpy().tobytes())
        fields = {k: v for k, v in asdict(self).items() if k not in _UNHASHED}
        blob = json.dumps([fields, weights.hexdigest()], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cell_key(method: str, n: int | str, region: str) -> str:
    """The state file's key of a cell: ``lasco|300|104``."""
    return f"{method}|{n}|{region}"


def cell_label(key: str) -> str:
    """A cell key as people read it: ``lasco n=300 region 104``."""
    method, n, region = key.split("|")
    return f"{method} n={n} region {region}"


def alpha_key(alpha: float) -> str:
    """The plan key of the alpha sweep at a fixed ``alpha``: ``alpha=0.5``."""
    return f"{_ALPHA}{alpha}"


def seed_key(method: str, seed: int) -> str:
    """The plan key of ``method`` rerun with adaptation seed ``seed``: ``lasco#seed1``."""
    return f"{method}{_SEED}{seed}"


def split_key(key: str) -> tuple[str | None, float | None, int | None]:
    """A plan key's (method, fixed alpha, seed): ``lasco`` is ("lasco", None, None),
    ``lasco#seed1`` ("lasco", None, 1), ``alpha=0.5`` (None, 0.5, None)."""
    if key.startswith(_ALPHA):
        return None, float(key[len(_ALPHA) :]), None
    method, _, seed = key.partition(_SEED)
    return method, None, int(seed) if seed else None


def trained_method(key: str, roles: Roles) -> str:
    """The method a plan key trains: an alpha-sweep key the learned-alpha one."""
    method, _, _ = split_key(key)
    return roles.learned_alpha if method is None else method


def is_headline(cfg: StudyConfig, cell: Cell) -> bool:
    """A cell the goals are judged on: a method at the headline n, or full fine-tuning on
    all samples (not the seed reruns or the alpha sweep)."""
    m, n, _ = cell
    return m in cfg.methods and (n == cfg.headline_n or (m == cfg.roles.full_finetune and n == ALL))


def study_plan(cfg: StudyConfig) -> list[Cell]:
    """Every cell of the study as (plan key, n, region), in the order they run.

    Alpha-sweep cells are (``alpha_key(A)``, cfg.alpha_n, region), seed reruns
    (``seed_key(M, S)``, cfg.headline_n, region).
    """
    plan: list[Cell] = [(m, n, r) for n in cfg.ns for r in cfg.targets for m in cfg.methods]
    plan += [
        (seed_key(m, s), cfg.headline_n, r)
        for s in cfg.extra_seeds
        for r in cfg.targets
        for m in cfg.seed_methods
    ]
    plan += [(alpha_key(a), cfg.alpha_n, r) for a in cfg.alpha_grid for r in cfg.targets]
    # The goals need every method at the headline n and full fine-tuning on all samples:
    # those cells run first, then the rest of n = all (the headline's second column) and
    # the seed reruns (how far the headline's gaps exceed noise), then the others from the
    # smallest training set up (the alpha sweep before the costly n), so a study cut short
    # has the most complete report per hour spent.

    def rank(cell: Cell) -> tuple[int, int]:
        if is_headline(cfg, cell):
            return (0, 0)
        if split_key(cell[0])[2] is not None:
            return (1, 1)
        return (1, 0) if cell[1] == ALL else (2, int(cell[1]))

    plan.sort(key=rank)  # stable: regions and methods keep their order within a rank
    return plan
