"""The adaptation study: every method, several target-data sizes, resumable.

On the target regions with a pre-trained LAM and reference SAM (the shipped ones
by default), it adapts every method of lasco.collab from ``n`` target samples for
each n of the study, and records test NMSE (dB) and GCS, validation NMSE after
every epoch, the learning rate, whether patience or the epoch cap ended the run,
epochs and seconds to reach 95 % of the final gain, trainable parameters and
training FLOPs. Each trained method first tries every rate of the study's grid on
the tuning regions and then adapts at the one validation chose (studies.config);
a headline cell on a tuning region is its trial at that rate, taken over, not rerun.
It can also sweep a fixed alpha of the learned-alpha plug-in at one n, and reruns
some methods with other seeds.

Each finished cell (method, n, region) is written at once to a state file beside
the report (studies.state); ``resume=True`` skips finished cells, so a study that
takes hours on a CPU survives being stopped. A state written under another
configuration is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from lasco.channels import (
    ChannelCache,
    builtin_catalogue,
    load_region,
    phase_views,
    split_region,
    to_real,
)
from lasco.channels.store import split_sizes
from lasco.codec import Projection
from lasco.collab import METHODS, Collab, ELasco, build_method, taps_for
from lasco.errors import ConfigError
from lasco.flops import training_flops
from lasco.models import CsiRefiner
from lasco.train import AdaptConfig, SplitTensors, adapt, evaluate
from studies.config import (
    ALL,
    StudyConfig,
    cell_key,
    cell_label,
    cell_rate,
    chosen_lr,
    lr_decided,
    lr_key,
    split_key,
    study_plan,
    trained_method,
)
from studies.progress import remaining_seconds
from studies.reuse import Donor, load_donor, reused_cell
from studies.state import StudyState
from studies.summary import summarise
from studies.text import plural

__all__ = ["epochs_to_fraction", "region_splits", "run_cell", "run_study"]


def epochs_to_fraction(curve: list[float], fraction: float = 0.95) -> int:
    """First epoch whose validation gain over epoch 0 reaches ``fraction`` of the best gain.

    ``curve[0]`` is the validation NMSE (dB) before training. 0 when nothing was gained.
    """
    gains = curve[0] - np.asarray(curve)
    best = gains.max()
    if best <= 0:
        return 0
    return int(np.argmax(gains >= fraction * best))


def run_cell(
    method: Collab,
    lam: CsiRefiner,
    ref: CsiRefiner,
    data: tuple[SplitTensors, SplitTensors, SplitTensors],
    cfg: AdaptConfig,
    *,
    trains: bool,
    desc: str = "",
    progress: bool = False,
) -> dict[str, Any]:
    """Adapt ``method`` on the (train, validation, test) ``data`` when it ``trains``,
    then test it: the cell the state file keeps."""
    tr, va, te = data
    cell: dict[str, Any] = {}
    if trains:
        fit = adapt(method, tr, va, cfg, desc=desc, progress=progress)
        e95 = epochs_to_fraction(fit.val_nmse_db)
        cell.update(
            lr=cfg.lr,
            lam_lr=cfg.lam_lr,
            stopped_early=fit.stopped_early,
            train_seconds=round(fit.seconds, 3),
            epochs=fit.epochs,
            best_epoch=fit.best_epoch,
            epochs_to_95=e95,
            seconds_to_95=round(fit.seconds * e95 / max(1, fit.epochs), 3),
            val_curve=[round(v, 4) for v in fit.val_nmse_db],
            train_flops=training_flops(method, lam, ref, tr.samples, fit, len(va), len(tr)),
        )
    nmse_db, gcs = evaluate(method, te)
    cell.update(
        nmse_db=round(nmse_db, 4),
        gcs=round(gcs, 5),
        trainable_params=method.trainable_params() if trains else 0,
    )
    if isinstance(method, ELasco):
        cell["alpha"] = round(float(method.alpha.detach()), 4)
    return cell


def _check(cfg: StudyConfig, shard: tuple[int, int], resume: bool) -> None:
    named = [*cfg.methods, *(cfg.curve_methods or ()), *cfg.seed_methods]
    unknown = [m for m in named if m not in METHODS] + cfg.roles.unknown()
    if unknown:
        raise ConfigError(f"unknown methods {unknown}")
    if stray := [r for r in cfg.tuning if r not in cfg.targets]:
        raise ConfigError(f"tuning regions {stray} are not targets of the study")
    index, workers = shard
    if not 0 <= index < workers:
        raise ConfigError(f"shard {index}/{workers}: expected 0 <= index < count")
    if workers > 1 and not resume:
        raise ConfigError("sharded workers share one state file: run every shard with resume")
    if cfg.phase_views < 1:
        raise ConfigError(f"phase_views must be >= 1, got {cfg.phase_views}")


def _method(
    cfg: StudyConfig, key: str, lam: CsiRefiner, ref: CsiRefiner, cells: dict[str, dict]
) -> tuple[Collab, bool, AdaptConfig]:
    """The method a plan key adapts, whether it trains, and its adaptation settings (its
    trial's rate, else the rate validation chose for it; ``cells`` hold the trials)."""
    key_parts = split_key(key)
    adapt_cfg = cfg.adapt
    if (lr := cell_rate(cfg, key, cells)) is not None:
        adapt_cfg = replace(adapt_cfg, lr=lr, lam_lr=lr)
    if key_parts.seed is not None:
        adapt_cfg = replace(adapt_cfg, seed=key_parts.seed)
    if key_parts.method is None:  # the alpha sweep: the learned-alpha plug-in, alpha fixed
        return ELasco(lam, ref, alpha=key_parts.alpha, learn_alpha=False), True, adapt_cfg
    name = key_parts.method
    return build_method(name, lam, ref), METHODS[name].trains, adapt_cfg


def _trains(cfg: StudyConfig, key: str) -> str:
    return trained_method(key, cfg.roles)


def _ready(cfg: StudyConfig, key: str, cells: dict[str, dict]) -> bool:
    """Whether a plan key can run: a trial always, another cell of a trained method once
    validation has chosen its rate."""
    method = _trains(cfg, key)
    return (
        split_key(key).lr is not None
        or not METHODS[method].trains
        or lr_decided(cfg, cells, method)
    )


def _taken_over(cfg: StudyConfig, ck: str, cells: dict[str, dict]) -> dict | None:
    """The finished trial a cell would repeat exactly (a method at the headline n on a
    tuning region, at its chosen rate, default seed), or None."""
    key, n, region = ck.split("|")
    parts = split_key(key)
    if (
        not cfg.trials()
        or parts.method is None
        or parts.lr is not None
        or parts.seed is not None
        or n != str(cfg.headline_n)
        or region not in cfg.tuning
        or not METHODS[parts.method].trains
    ):
        return None
    trial = cell_key(lr_key(parts.method, chosen_lr(cfg, cells, parts.method)), n, region)
    return cells.get(trial)


_Tensors = tuple[SplitTensors, SplitTensors, SplitTensors]
_LOADED_REGIONS = 2


class _Data:
    """The target regions' (train, validation, test) tensors, each loaded (from the
    channel cache, else generated) when its first cell runs: a study that only reports
    needs no data."""

    def __init__(
        self,
        cfg: StudyConfig,
        lam: CsiRefiner,
        ref: CsiRefiner,
        projection: Projection,
        cache: ChannelCache | None,
    ) -> None:
        self.cfg, self.lam, self.ref, self.projection, self.cache = cfg, lam, ref, projection, cache
        catalogue = builtin_catalogue(cfg.catalogue)
        self._specs = {r: catalogue.get(r) for r in cfg.targets}  # unknown regions fail now
        self.taps = taps_for(cfg.methods, lam)  # hidden states, when a method reads them
        self._tensors: dict[str, _Tensors] = {}

    def region(self, region: str) -> _Tensors:
        """The region's tensors; the two regions used last stay loaded (the plan runs
        region by region, and augmented training splits are large)."""
        if region in self._tensors:
            self._tensors[region] = self._tensors.pop(region)  # now the most recent
        else:
            while len(self._tensors) >= _LOADED_REGIONS:
                del self._tensors[next(iter(self._tensors))]
            self._tensors[region] = region_splits(
                self._specs[region],
                self.cfg.samples_per_target,
                self.cache,
                self.projection,
                self.lam,
                self.ref,
                self.taps,
                self.cfg.phase_views,
                self._largest_n(),
            )
        return self._tensors[region]

    def _largest_n(self) -> int | None:
        """The most training samples a cell takes (None: all of them)."""
        sizes = [*self.cfg.ns, *([self.cfg.alpha_n] if self.cfg.alpha_grid else [])]
        return None if ALL in sizes else max(int(n) for n in sizes)


def region_splits(
    spec, samples, cache, projection, lam, ref, taps, views=1, train_n=None
) -> _Tensors:
    """A region's (train, validation, test) tensors: its ``samples`` channels (from the
    cache, else generated), split as every study splits them, projected, with the frozen
    models' outputs (and the LAM's hidden states after blocks ``taps``) cached. With
    ``views > 1`` the training split holds that many common-phase rotations of each
    sample (lasco.channels.phase_views), each projected from its rotated channel; then
    only its first ``train_n`` samples are kept (None: all), which no smaller cell misses."""
    sp = split_region(to_real(load_region(spec, samples, cache)), spec.seed)
    train = phase_views(sp.train if views == 1 else sp.train[:train_n], views)
    return (
        SplitTensors.build(projection.roundtrip(train), train, lam, ref, taps=taps, views=views),
        *(
            SplitTensors.build(projection.roundtrip(x), x, lam, ref, taps=taps)
            for x in (sp.val, sp.test)
        ),
    )


def run_study(
    cfg: StudyConfig,
    lam: CsiRefiner,
    ref: CsiRefiner,
    projection: Projection,
    state_path: str | Path,
    *,
    resume: bool = False,
    cache: ChannelCache | None = None,
    progress: bool = True,
    budget_s: float | None = None,
    shard: tuple[int, int] = (0, 1),
    log: Callable[[str], None] = print,
    wait_s: float = 15.0,
    reuse: tuple[StudyConfig, Path] | None = None,
) -> dict[str, Any]:
    """Run (or finish) the study; returns the report (see studies.summary.summarise).

    ``budget_s`` stops starting new cells after that many seconds (0: only report what
    the state file holds); the rest waits for ``resume``. ``shard=(i, k)`` runs first the
    cells whose place in the plan is i modulo k, so k workers (processes or machines on a
    shared folder) split the study over one state file; they must all ``resume``. A
    worker done with its own cells then takes the others' not yet claimed ones, from the
    end of the plan (see ``StudyState.claim``), so no worker idles while another has a
    queue. A worker with nothing ready while another runs the trials a cell waits for
    checks again every ``wait_s`` seconds. The report covers every cell in the file,
    whichever worker finished it. ``reuse=(other study, its state file)`` copies the
    other study's runs this one would repeat exactly (studies.reuse).
    """
    _check(cfg, shard, resume)
    index, workers = shard
    state = StudyState(Path(state_path), cfg.hash(lam, ref), resume)
    donor = load_donor(cfg, *reuse, lam, ref) if reuse else Donor("", {})
    n_all, n_val = split_sizes(cfg.samples_per_target)  # what split_region gives
    data = _Data(cfg, lam, ref, projection, cache)
    plan = study_plan(cfg)
    cells = {cell_key(*c): c for c in plan}
    mine = [k for j, k in enumerate(cells) if j % workers == index and k not in state.cells]
    # a shard that has run out of its own cells takes the others' from the end of the plan
    # (their workers start from the front); claims keep two workers off one cell
    order = mine + [k for j, k in reversed(list(enumerate(cells))) if j % workers != index]
    own = set(mine)
    tag = f" (shard {index}/{workers})" if workers > 1 else ""
    lent = f", {len(donor.cells)} in {donor.name} to reuse where they match" if donor.cells else ""
    log(f"study: {len(plan)} cells, {len(state.cells)} done, {len(mine)} to run{tag}{lent}")
    t0 = time.perf_counter()
    i = 0
    while True:
        if budget_s is not None and time.perf_counter() - t0 >= budget_s:
            state.refresh()
            if left := [k for k in cells if k not in state.cells]:
                log(
                    f"time budget of {budget_s / 60:.0f} min spent; "
                    f"{plural(len(left), 'cell')} of the study left for --resume"
                )
            break
        ready = [k for k in order if _ready(cfg, cells[k][0], state.cells)]
        ready_set = set(ready)
        if workers > 1:
            ck = state.claim(ready)
        else:
            ck = next((k for k in ready if k in own and k not in state.cells), None)
        if ck is None:
            blocked = [k for k in cells if k not in state.cells and k not in ready_set]
            if workers > 1 and blocked and state.running():
                time.sleep(wait_s)  # cells wait for trials other workers are running
                state.refresh()
                continue
            break
        i += 1
        key, n, region = cells[ck]
        if (trial := _taken_over(cfg, ck, state.cells)) is not None:
            cell = dict(trial, taken_from_trial=True)
        elif (old := reused_cell(cfg, ck, state.cells, donor)) is not None:
            cell = old
        else:
            tr, va, te = data.region(region)
            n_int = n_all if n == ALL else int(n)
            method, trains, adapt_cfg = _method(cfg, key, lam, ref, state.cells)
            cell = run_cell(
                method,
                lam,
                ref,
                (tr.subset(n_int), va, te),
                adapt_cfg,
                trains=trains,
                desc=f"{key} n={n} @ {region}",
                progress=progress,
            )
            cell["n"] = n_int
        state.save(ck, cell)
        left = [cells[k] for k in order if k not in state.cells]  # this worker's view
        eta = remaining_seconds(state.cells, left, n_all, n_val, roles=cfg.roles)
        if eta is None:  # a method with no finished cell yet: the run's mean per cell
            eta = (time.perf_counter() - t0) / i * len(left)
        among = f" for {workers} workers" if workers > 1 else ""
        if "reused_from" in cell:
            how = f"from {cell['reused_from']}"
        else:
            how = f"{cell.get('train_seconds', 0):.0f} s"
        log(
            f"[{i}] {cell_label(ck)}: {cell['nmse_db']:.2f} dB "
            f"({how}; {plural(len(left), 'cell')} "
            f"left, about {eta / 60 / workers:.0f} min{among})"
        )
    state.refresh()  # what other shards finished meanwhile
    return summarise(cfg, state.cells, lam, ref, n_all)
