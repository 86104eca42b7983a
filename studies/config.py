"""The adaptation study's settings, its cells and the order they run in.

A cell is one method adapted from ``n`` target samples in one region, keyed
``METHOD|n|REGION``. Besides the methods of lasco.collab, the plan holds alpha-sweep
cells (``alpha=A``: the learned-alpha method with alpha fixed at A), seed reruns
(``METHOD#seedS``: the method again with adaptation seed S) and learning-rate trials
(``METHOD@lr=G``: the method at rate G of the common grid, at the headline n on the
tuning regions). Each trained method adapts at the rate of the grid with the best mean
validation NMSE over its trials (``chosen_lr``): chosen on validation, judged on test.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

from lasco.collab import METHODS
from lasco.models import CsiRefiner
from lasco.train import AdaptConfig

__all__ = [
    "ALL",
    "Cell",
    "PlanKey",
    "Roles",
    "StudyConfig",
    "alpha_key",
    "cell_key",
    "cell_label",
    "cell_rate",
    "chosen_lr",
    "is_headline",
    "is_trial",
    "lr_decided",
    "lr_key",
    "lr_trials",
    "seed_key",
    "split_key",
    "study_plan",
    "trained_method",
]

ALL = "all"
Cell = tuple[str, int | str, str]  # (plan key, n, region)

_ALPHA, _SEED, _LR = "alpha=", "#seed", "@lr="


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
    # plug-ins beyond the paper, each compared with the proposed method
    new_plugins: tuple[str, ...] = ("refiner", "side")

    def methods(self) -> list[str]:
        """Every method a role names."""
        out: list[str] = []
        for v in asdict(self).values():
            out += list(v) if isinstance(v, tuple | list) else [v]
        return out

    def unknown(self) -> list[str]:
        """The roles' methods that lasco.collab does not have."""
        return [m for m in self.methods() if m not in METHODS]


# Settings that change no finished cell stay out of the hash: the seed reruns are cells
# of their own ("METHOD#seedS"), and the roles only say how the report reads the cells.
_UNHASHED = ("seed_methods", "extra_seeds", "roles", "lam_version", "ref_version", "reuses")


# Settings added after the first study ran, at the values that reproduce it, stay out of
# the hash: that study's state file still resumes and reports.
_NEUTRAL = {
    "catalogue": "paper",
    "curve_methods": None,
    "lr_grid": (),
    "tune_targets": None,
    "phase_views": 1,
}
_KEEP = object()


def _fair_budget() -> AdaptConfig:
    """Every trained method's budget: at most 300 epochs, early stop after 30 without
    validation gain, a 5-epoch linear warm-up (the rate itself comes from the grid)."""
    return AdaptConfig(max_epochs=300, patience=30, warmup_epochs=5)


@dataclass(frozen=True)
class StudyConfig:
    """The study's settings; their hash guards ``resume``.

    ``catalogue`` names the built-in catalogue the ``targets`` come from ("paper": regions
    of the pre-training cell; "scenarios": other scenarios). ``curve_methods`` limits the
    sizes other than the headline to those methods (None: every method). ``lr_grid`` is
    the rates every trained method tries on ``tune_targets`` at the headline n (all its
    parameters at one rate; None: the first two targets, in the paper's layout one NLOS
    and one LOS region); with one rate there are no trials, and with none every method
    keeps ``adapt``'s ``lr`` and ``lam_lr``. ``phase_views`` augments every training set
    with that many common-phase rotations of each sample (lasco.channels.phase_views; 1:
    none); an epoch still visits each sample once, in one view drawn at random.
    ``reuses`` names a preset whose runs this one repeats (see studies.reuse)."""

    targets: tuple[str, ...] = tuple(str(i) for i in range(101, 111))
    catalogue: str = "paper"
    samples_per_target: int = 5000
    ns: tuple[int | str, ...] = (1000, ALL, 100, 300, 3000)  # the headline size first
    methods: tuple[str, ...] = tuple(METHODS)
    curve_methods: tuple[str, ...] | None = ("e-lasco", "refiner", "side", "lora", "lam-finetune")
    adapt: AdaptConfig = field(default_factory=_fair_budget)
    lr_grid: tuple[float, ...] = (1e-3, 3e-4, 1e-4)
    tune_targets: tuple[str, ...] | None = None
    alpha_grid: tuple[float, ...] = ()
    alpha_n: int = 1000
    k_envs: int = 10
    # Reruns at the headline n with other adaptation seeds (only the order of the training
    # batches changes), for the methods whose means are closest: how much of a gap is noise.
    seed_methods: tuple[str, ...] = ("e-lasco", "refiner", "side")
    extra_seeds: tuple[int, ...] = (1,)
    roles: Roles = field(default_factory=Roles)
    # The store versions of the LAM and reference SAM the study ran on (None: the latest);
    # the weights themselves are in the hash.
    lam_version: int | None = None
    ref_version: int | None = None
    phase_views: int = 1
    reuses: str | None = None

    @property
    def tuning(self) -> tuple[str, ...]:
        """The regions of the learning-rate trials."""
        return self.tune_targets if self.tune_targets is not None else self.targets[:2]

    def trials(self) -> bool:
        """Whether the plan holds learning-rate trials."""
        return len(self.lr_grid) > 1

    def sized(self, n: int | str) -> tuple[str, ...]:
        """The methods planned at size ``n``."""
        if n == self.headline_n or self.curve_methods is None:
            return self.methods
        return tuple(m for m in self.methods if m in self.curve_methods)

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
        fields = {
            k: v
            for k, v in asdict(self).items()
            if k not in _UNHASHED and _NEUTRAL.get(k, _KEEP) != v
        }
        if fields["adapt"]["warmup_epochs"] == 0:  # as before warm-ups existed
            del fields["adapt"]["warmup_epochs"]
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


def lr_key(method: str, lr: float) -> str:
    """The plan key of ``method``'s trial at learning rate ``lr``: ``lasco@lr=0.0003``."""
    return f"{method}{_LR}{lr:g}"


class PlanKey(NamedTuple):
    """What a plan key stands for; ``method`` is None for the alpha sweep."""

    method: str | None
    alpha: float | None = None
    seed: int | None = None
    lr: float | None = None


def split_key(key: str) -> PlanKey:
    """A plan key's parts: ``lasco`` is ("lasco",), ``lasco#seed1`` ("lasco", seed=1),
    ``alpha=0.5`` (None, alpha=0.5), ``lasco@lr=0.0003`` ("lasco", lr=0.0003)."""
    if key.startswith(_ALPHA):
        return PlanKey(None, alpha=float(key[len(_ALPHA) :]))
    if _LR in key:
        method, _, lr = key.partition(_LR)
        return PlanKey(method, lr=float(lr))
    method, _, seed = key.partition(_SEED)
    return PlanKey(method, seed=int(seed) if seed else None)


def trained_method(key: str, roles: Roles) -> str:
    """The method a plan key trains: an alpha-sweep key the learned-alpha one."""
    method = split_key(key).method
    return roles.learned_alpha if method is None else method


def cell_rate(cfg: StudyConfig, key: str, cells: dict[str, dict]) -> float | None:
    """The learning rate plan key ``key`` adapts at: its trial's, else the one validation
    chose for the method it trains (``chosen_lr``); None for a method that does not train
    or, without a grid, ``cfg.adapt``'s rates."""
    lr, method = split_key(key).lr, trained_method(key, cfg.roles)
    if lr is None and METHODS[method].trains:
        lr = chosen_lr(cfg, cells, method)
    return lr


def chosen_lr(cfg: StudyConfig, cells: dict[str, dict], method: str) -> float | None:
    """The learning rate ``method`` adapts at outside its trials: the rate of the grid
    whose trials have the best mean validation NMSE over the tuning regions (the first
    on a tie); the grid's only rate; None (``cfg.adapt``'s rates) without a grid.
    LookupError while a trial is missing (``lr_decided`` says whether one is)."""
    if not cfg.lr_grid:
        return None
    if not cfg.trials():
        return cfg.lr_grid[0]
    means = lr_trials(cfg, cells, method)
    if len(means) < len(cfg.lr_grid):
        raise LookupError(f"{method}: {len(means)} of {len(cfg.lr_grid)} rates tried")
    return min(cfg.lr_grid, key=lambda g: means[g])


def lr_decided(cfg: StudyConfig, cells: dict[str, dict], method: str) -> bool:
    """Whether ``chosen_lr`` can answer for ``method``: no trials, or all of them done."""
    return not cfg.trials() or len(lr_trials(cfg, cells, method)) == len(cfg.lr_grid)


def lr_trials(cfg: StudyConfig, cells: dict[str, dict], method: str) -> dict[float, float]:
    """Mean best validation NMSE (dB) of ``method``'s trials per rate, for the rates whose
    trials are all done."""
    out = {}
    for g in cfg.lr_grid:
        keys = [cell_key(lr_key(method, g), cfg.headline_n, r) for r in cfg.tuning]
        if all(k in cells for k in keys):
            out[g] = float(sum(min(cells[k]["val_curve"]) for k in keys) / len(keys))
    return out


def is_headline(cfg: StudyConfig, cell: Cell) -> bool:
    """A cell the goals are judged on: a method at the headline n, or full fine-tuning on
    all samples (not the seed reruns or the alpha sweep)."""
    m, n, _ = cell
    return m in cfg.methods and (n == cfg.headline_n or (m == cfg.roles.full_finetune and n == ALL))


def is_trial(cell: Cell) -> bool:
    """A learning-rate trial."""
    return split_key(cell[0]).lr is not None


def study_plan(cfg: StudyConfig) -> list[Cell]:
    """Every cell of the study as (plan key, n, region), in the order they run.

    Alpha-sweep cells are (``alpha_key(A)``, cfg.alpha_n, region), seed reruns
    (``seed_key(M, S)``, cfg.headline_n, region).
    """
    plan: list[Cell] = [(m, n, r) for n in cfg.ns for r in cfg.targets for m in cfg.sized(n)]
    if cfg.trials():
        trained = [m for m in cfg.methods if METHODS[m].trains]
        plan += [
            (lr_key(m, g), cfg.headline_n, r)
            for r in cfg.tuning
            for m in trained
            for g in cfg.lr_grid
        ]
    plan += [
        (seed_key(m, s), cfg.headline_n, r)
        for s in cfg.extra_seeds
        for r in cfg.targets
        for m in cfg.seed_methods
    ]
    plan += [(alpha_key(a), cfg.alpha_n, r) for a in cfg.alpha_grid for r in cfg.targets]
    # The learning-rate trials run first (every other cell of a method waits for its
    # rate). The goals need every method at the headline n and full fine-tuning on all
    # samples: those cells run next, then the rest of n = all (the headline's second
    # column) and the seed reruns (how far the headline's gaps exceed noise), then the
    # others from the smallest training set up (the alpha sweep before the costly n), so
    # a study cut short has the most complete report per hour spent.

    def rank(cell: Cell) -> tuple[int, int]:
        if is_trial(cell):
            return (0, 0)
        if is_headline(cfg, cell):
            return (0, 1)
        if split_key(cell[0]).seed is not None:
            return (1, 1)
        return (1, 0) if cell[1] == ALL else (2, int(cell[1]))

    plan.sort(key=rank)  # stable: regions and methods keep their order within a rank
    return plan
