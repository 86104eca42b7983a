"""The adaptation study: every method, several target-data sizes, resumable.

On the target regions with a pre-trained LAM and reference SAM (the shipped ones
by default), it adapts every method of lasco.collab from ``n`` target samples for
each n of the study, and records test NMSE (dB) and GCS, validation NMSE after
every epoch, epochs and seconds to reach 95 % of the final gain, trainable
parameters and training FLOPs. It also sweeps a fixed alpha for LASCO (the E-LASCO
form with alpha frozen) at one n.

Each finished cell (method, n, region) is written at once to a state file beside
the report; ``resume=True`` skips finished cells, so a study that takes hours on a
CPU survives being stopped. A state written under another configuration is refused.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from lasco.channels import ChannelCache, load_region, paper_catalogue, split_region, to_real
from lasco.channels.store import atomic_write_bytes, split_sizes
from lasco.codec import Projection
from lasco.collab import METHODS, Collab, ELasco, build_method
from lasco.errors import ConfigError
from lasco.flops import training_flops
from lasco.models import CsiRefiner, count_params
from lasco.train import AdaptConfig, SplitTensors, adapt, evaluate
from studies.report import plural

__all__ = [
    "StudyConfig",
    "epochs_to_fraction",
    "remaining_seconds",
    "run_study",
    "study_plan",
    "study_progress",
]

ALL = "all"
_UNHASHED = ("seed_methods", "extra_seeds")


@dataclass(frozen=True)
class StudyConfig:
    """The study's settings; their hash guards ``resume``."""

    targets: tuple[str, ...] = tuple(str(i) for i in range(101, 111))
    samples_per_target: int = 5000
    ns: tuple[int | str, ...] = (1000, ALL, 100, 300, 3000)  # headline sizes first
    methods: tuple[str, ...] = tuple(METHODS)
    adapt: AdaptConfig = field(default_factory=AdaptConfig)
    alpha_grid: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
    alpha_n: int = 1000
    k_envs: int = 10
    # Reruns at the first n with other adaptation seeds (only the order of the training
    # batches changes), for the methods whose means are closest: how much of a gap is noise.
    seed_methods: tuple[str, ...] = ("lasco", "e-lasco", "no-reference")
    extra_seeds: tuple[int, ...] = (1, 2)

    def hash(self, lam: CsiRefiner, ref: CsiRefiner) -> str:
        weights = hashlib.sha256()
        for model in (lam, ref):
            for v in model.state_dict().values():
                weights.update(v.numpy().tobytes())
        # The seed reruns are cells of their own ("METHOD#seedS"), so choosing other ones
        # leaves every finished cell valid: they stay out of the hash.
        fields = {k: v for k, v in asdict(self).items() if k not in _UNHASHED}
        blob = json.dumps([fields, weights.hexdigest()], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def epochs_to_fraction(curve: list[float], fraction: float = 0.95) -> int:
    """First epoch whose validation gain over epoch 0 reaches ``fraction`` of the best gain.

    ``curve[0]`` is the validation NMSE (dB) before training. 0 when nothing was gained.
    """
    gains = curve[0] - np.asarray(curve)
    best = gains.max()
    if best <= 0:
        return 0
    return int(np.argmax(gains >= fraction * best))


def _cell_key(method: str, n: int | str, region: str) -> str:
    return f"{method}|{n}|{region}"


def cell_label(key: str) -> str:
    """A cell key as people read it: ``lasco n=300 region 104``."""
    method, n, region = key.split("|")
    return f"{method} n={n} region {region}"


class _State:
    """The finished cells, saved atomically after each one.

    Several workers (``shard``) may share one state file: opened with ``resume``, each
    save takes an exclusive lock on ``<state>.lock``, re-reads the file and adds its cell
    to what is there, so no worker's cells are lost to another's write. Without
    ``resume`` the study starts over and its first save replaces the file.

    Shared workers also ``claim`` a cell before running it, in ``<state>.claims.json``
    under the same lock, so a worker that has run out of its own cells can take another
    shard's not yet started ones without two workers training the same cell. A claim
    names its host and process; on the claimant's host a claim whose process has died
    no longer counts, so a killed worker's cell is free again. A claim by a worker on
    another host (machines sharing the folder) is honoured until that cell is saved:
    if such a worker dies, delete the claims file while no worker runs.
    """

    def __init__(self, path: Path, config_hash: str, resume: bool) -> None:
        self.path, self.config_hash, self.resume, self.cells = path, config_hash, resume, {}
        self._lock_path = path.with_name(path.name + ".lock")
        self._claims_path = path.with_name(path.stem + ".claims.json")
        self._me = {"host": socket.gethostname(), "pid": os.getpid()}
        self.refresh()

    def _read(self) -> dict[str, Any]:
        if not self.path.is_file():
            return {}
        saved = json.loads(self.path.read_text())
        if saved.get("config_hash") != self.config_hash:
            raise ConfigError(
                f"{self.path} was written by another study configuration or other models "
                f"({saved.get('config_hash')} != {self.config_hash}); remove it or drop --resume"
            )
        return saved["cells"]

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            yield

    def _live_claims(self) -> dict[str, dict[str, Any]]:
        """Claims (lock held) on cells not yet saved, by workers that may still run."""
        try:
            claims = json.loads(self._claims_path.read_text())
        except FileNotFoundError:
            return {}
        return {
            k: c
            for k, c in claims.items()
            if k not in self.cells and (c["host"] != self._me["host"] or _pid_alive(c["pid"]))
        }

    def _write_claims(self, claims: dict[str, dict[str, Any]]) -> None:
        if claims:
            blob = json.dumps(claims, indent=0).encode()
            atomic_write_bytes(self._claims_path, lambda f: f.write(blob))
        else:
            self._claims_path.unlink(missing_ok=True)

    def claim(self, order: list[str]) -> str | None:
        """The first key of ``order`` that is neither saved nor claimed by another live
        worker, now claimed by this one; None when there is none."""
        with self._locked():
            self.refresh()
            claims = self._live_claims()
            for key in order:
                if key not in self.cells and claims.get(key, self._me) == self._me:
                    claims[key] = self._me
                    self._write_claims(claims)
                    return key
            self._write_claims(claims)
            return None

    def running(self) -> dict[str, dict[str, Any]]:
        """The cells claimed by workers that may still be running them (a save drops its
        cell's claim under the lock, so the cells read at start-up need no refresh)."""
        with self._locked():
            return self._live_claims()

    def save(self, key: str, cell: dict[str, Any]) -> None:
        with self._locked():
            self.refresh()
            self.cells[key] = cell
            blob = json.dumps({"config_hash": self.config_hash, "cells": self.cells}).encode()
            atomic_write_bytes(self.path, lambda f: f.write(blob))
            if self._claims_path.exists():
                self._write_claims(self._live_claims())  # drops this cell's claim

    def refresh(self) -> None:
        """Add the cells other workers saved (only when resuming a shared study)."""
        if self.resume:
            self.cells = {**self.cells, **self._read()}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _run_cell(
    method: Collab,
    lam,
    ref,
    tr: SplitTensors,
    va: SplitTensors,
    te: SplitTensors,
    cfg: AdaptConfig,
    trains: bool,
    desc: str,
    progress: bool,
) -> dict[str, Any]:
    cell: dict[str, Any] = {}
    if trains:
        fit = adapt(method, tr, va, cfg, desc=desc, progress=progress)
        e95 = epochs_to_fraction(fit.val_nmse_db)
        cell.update(
            train_seconds=round(fit.seconds, 3),
            epochs=fit.epochs,
            best_epoch=fit.best_epoch,
            epochs_to_95=e95,
            seconds_to_95=round(fit.seconds * e95 / max(1, fit.epochs), 3),
            val_curve=[round(v, 4) for v in fit.val_nmse_db],
            train_flops=training_flops(method, lam, ref, len(tr), fit, len(va)),
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


def _headline(cfg: StudyConfig, cell: tuple[str, int | str, str]) -> bool:
    """A cell the goals are judged on: a method at the first n, or the LAM fine-tuned on
    all samples (not the seed reruns or the alpha sweep)."""
    m, n, _ = cell
    return m in cfg.methods and (n == cfg.ns[0] or (m == "lam-finetune" and n == ALL))


def study_plan(cfg: StudyConfig) -> list[tuple[str, int | str, str]]:
    """Every cell of the study as (method, n, region), in the order they run.

    Alpha-sweep cells are ("alpha=A", cfg.alpha_n, region), seed reruns
    ("METHOD#seedS", cfg.ns[0], region).
    """
    plan = [(m, n, r) for n in cfg.ns for r in cfg.targets for m in cfg.methods]
    plan += [
        (f"{m}#seed{s}", cfg.ns[0], r)
        for s in cfg.extra_seeds
        for r in cfg.targets
        for m in cfg.seed_methods
    ]
    plan += [(f"alpha={a}", cfg.alpha_n, r) for a in cfg.alpha_grid for r in cfg.targets]
    # The goals need every method at the first n and the LAM fine-tuned on all samples:
    # those cells run first, then the rest of n = all (the headline's second column) and
    # the seed reruns (how far the headline's gaps exceed noise), then the others from the
    # smallest training set up (the alpha sweep before the costly n), so a study cut short
    # has the most complete report per hour spent.

    def rank(cell: tuple[str, int | str, str]) -> tuple[int, int]:
        if _headline(cfg, cell):
            return (0, 0)
        if "#seed" in cell[0]:
            return (1, 1)
        return (1, 0) if cell[1] == ALL else (2, int(cell[1]))

    plan.sort(key=rank)  # stable: regions and methods keep their order within a rank
    return plan


def _base_method(key: str) -> str:
    """The method a plan key trains: "alpha=A" is E-LASCO with alpha fixed, "M#seedS" is M."""
    return "e-lasco" if key.startswith("alpha=") else key.partition("#seed")[0]


def remaining_seconds(
    cells: dict[str, dict[str, Any]],
    left: list[tuple[str, int | str, str]],
    n_all: int,
    n_val: int = 0,
) -> float | None:
    """Seconds the cells ``left`` should take. An epoch costs a forward and backward pass
    per training sample (3 forwards) and a forward per validation sample, so each method's
    finished cells give its seconds per unit of ``3 n + n_val``; a cell left costs that
    times its own units (an alpha-sweep cell counts as E-LASCO, a seed rerun as its
    method). None when a method left
    has no finished cell to go by."""
    per_unit: dict[str, list[float]] = {}
    for k, c in cells.items():
        per_unit.setdefault(_base_method(k.split("|")[0]), []).append(
            c.get("train_seconds", 0.0) / (3 * max(1, c.get("n", 1)) + n_val)
        )
    total = 0.0
    for m, n, _ in left:
        rates = per_unit.get(_base_method(m))
        if not rates:
            return None
        total += float(np.mean(rates)) * (3 * (n_all if n == ALL else int(n)) + n_val)
    return total


def study_progress(cfg: StudyConfig, cells: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Where a study stands, stage by stage in the order the plan runs them: cells done and
    planned, and the cell-hours the rest should take (``remaining_seconds``; None until
    every method left has a finished cell). Needs the state file only, not the data."""
    n_train, n_val = split_sizes(cfg.samples_per_target)
    n_all = next((c["n"] for k, c in cells.items() if k.split("|")[1] == ALL), n_train)
    stages: dict[str, list[tuple[str, int | str, str]]] = {}
    for cell in study_plan(cfg):
        m, n, _ = cell
        if m.startswith("alpha="):
            name = f"alpha sweep, n = {n}"
        elif "#seed" in m:
            name = f"seed reruns, n = {n}: {', '.join(cfg.seed_methods)}"
        elif _headline(cfg, cell):
            name = f"headline: every method at n = {cfg.ns[0]}, LAM fine-tuned at n = all"
        else:
            name = f"n = {n}"
        stages.setdefault(name, []).append(cell)
    rows = []
    for name, planned in stages.items():
        left = [c for c in planned if _cell_key(*c) not in cells]
        eta = remaining_seconds(cells, left, n_all, n_val)
        rows.append(
            {
                "stage": name,
                "done": len(planned) - len(left),
                "planned": len(planned),
                "hours_left": None if eta is None else round(eta / 3600, 2),
            }
        )
    return rows


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
) -> dict[str, Any]:
    """Run (or finish) the study; returns the report (see ``summarise``).

    ``budget_s`` stops starting new cells after that many seconds (0: only report what
    the state file holds); the rest waits for ``resume``. ``shard=(i, k)`` runs first the
    cells whose place in the plan is i modulo k, so k workers (processes or machines on a
    shared folder) split the study over one state file; they must all ``resume``. A
    worker done with its own cells then takes the others' not yet claimed ones, from the
    end of the plan (see ``_State.claim``), so no worker idles while another has a queue.
    The report covers every cell in the file, whichever worker finished it.
    """
    unknown = [m for m in cfg.methods if m not in METHODS]
    if unknown:
        raise ConfigError(f"unknown methods {unknown}")
    index, workers = shard
    if not 0 <= index < workers:
        raise ConfigError(f"shard {index}/{workers}: expected 0 <= index < count")
    if workers > 1 and not resume:
        raise ConfigError("sharded workers share one state file: run every shard with resume")
    cat = paper_catalogue()
    state = _State(Path(state_path), cfg.hash(lam, ref), resume)
    splits = {
        r: split_region(
            to_real(load_region(cat.get(r), cfg.samples_per_target, cache)), cat.get(r).seed
        )
        for r in cfg.targets
    }
    n_all = min(len(s.train) for s in splits.values())
    plan = study_plan(cfg)
    cells = {_cell_key(*c): c for c in plan}
    mine = [k for j, k in enumerate(cells) if j % workers == index and k not in state.cells]
    # a shard that has run out of its own cells takes the others' from the end of the plan
    # (their workers start from the front); claims keep two workers off one cell
    order = mine + [k for j, k in reversed(list(enumerate(cells))) if j % workers != index]
    tag = f" (shard {index}/{workers})" if workers > 1 else ""
    log(f"study: {len(plan)} cells, {len(state.cells)} done, {len(mine)} to run{tag}")
    tensors: dict[str, tuple[SplitTensors, SplitTensors, SplitTensors]] = {}
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
        if workers > 1:
            ck = state.claim(order)
        else:
            ck = next((k for k in mine if k not in state.cells), None)
        if ck is None:
            break
        i += 1
        key, n, region = cells[ck]
        if region not in tensors:
            sp = splits[region]
            tensors[region] = tuple(
                SplitTensors.build(projection.roundtrip(h), h, lam, ref)
                for h in (sp.train, sp.val, sp.test)
            )
        tr, va, te = tensors[region]
        n_int = n_all if n == ALL else int(n)
        adapt_cfg = cfg.adapt
        if key.startswith("alpha="):
            method: Collab = ELasco(lam, ref, alpha=float(key[6:]), learn_alpha=False)
            trains = True
        else:
            name, _, seed = key.partition("#seed")
            method, trains = build_method(name, lam, ref), METHODS[name].trains
            if seed:
                adapt_cfg = replace(cfg.adapt, seed=int(seed))
        cell = _run_cell(
            method,
            lam,
            ref,
            tr.subset(n_int),
            va,
            te,
            adapt_cfg,
            trains,
            f"{key} n={n} @ {region}",
            progress,
        )
        cell["n"] = n_int
        state.save(ck, cell)
        left = [cells[k] for k in order if k not in state.cells]  # this worker's view
        eta = remaining_seconds(state.cells, left, n_all, len(va))
        if eta is None:  # a method with no finished cell yet: the run's mean per cell
            eta = (time.perf_counter() - t0) / i * len(left)
        among = f" for {workers} workers" if workers > 1 else ""
        log(
            f"[{i}] {cell_label(ck)}: {cell['nmse_db']:.2f} dB "
            f"({cell.get('train_seconds', 0):.0f} s; {plural(len(left), 'cell')} "
            f"left, about {eta / 60 / workers:.0f} min{among})"
        )
    state.refresh()  # what other shards finished meanwhile
    return summarise(cfg, state.cells, lam, ref, n_all)


def summarise(
    cfg: StudyConfig, cells: dict[str, dict], lam: CsiRefiner, ref: CsiRefiner, n_all: int
) -> dict[str, Any]:
    """The report JSON from the finished cells (incomplete cells are simply absent)."""
    lam_params, ref_params = count_params(lam), count_params(ref)
    methods: dict[str, Any] = {}
    for m in cfg.methods:
        by_n: dict[str, Any] = {}
        for n in cfg.ns:
            recs = {
                r: cells[_cell_key(m, n, r)] for r in cfg.targets if _cell_key(m, n, r) in cells
            }
            if not recs:
                continue
            entry = {
                "n": n_all if n == ALL else n,
                "nmse_db": {r: c["nmse_db"] for r, c in recs.items()},
                "gcs": {r: c["gcs"] for r, c in recs.items()},
                "mean_nmse_db": round(float(np.mean([c["nmse_db"] for c in recs.values()])), 4),
                "mean_gcs": round(float(np.mean([c["gcs"] for c in recs.values()])), 5),
                "regions_done": len(recs),
            }
            for k in ("train_seconds", "epochs_to_95", "seconds_to_95", "epochs", "train_flops"):
                vals = [c[k] for c in recs.values() if k in c]
                entry[k] = round(float(np.mean(vals)), 3) if vals else 0
            if m == "e-lasco":
                entry["alpha"] = {r: c["alpha"] for r, c in recs.items()}
            entry["val_curve"] = {r: c["val_curve"] for r, c in recs.items() if "val_curve" in c}
            by_n[str(n)] = entry
        trainable = next(
            (c["trainable_params"] for k, c in cells.items() if k.startswith(m + "|")), None
        )
        methods[m] = {"label": METHODS[m].label, "trainable_params": trainable, "by_n": by_n}
    sweep_by_region = {
        str(a): {
            r: cells[k]["nmse_db"]
            for r in cfg.targets
            if (k := _cell_key(f"alpha={a}", cfg.alpha_n, r)) in cells
        }
        for a in cfg.alpha_grid
    }
    sweep_by_region = {a: v for a, v in sweep_by_region.items() if v}
    sweep = {a: round(float(np.mean(list(v.values()))), 4) for a, v in sweep_by_region.items()}
    e_lasco_alpha = {
        r: cells[k]["alpha"]
        for r in cfg.targets
        if (k := _cell_key("e-lasco", cfg.alpha_n, r)) in cells
    }
    seed_runs = {}
    for m in cfg.seed_methods:
        keys = [m] + [f"{m}#seed{s}" for s in cfg.extra_seeds]
        runs = {
            r: [cells[_cell_key(k, cfg.ns[0], r)]["nmse_db"] for k in keys]
            for r in cfg.targets
            if all(_cell_key(k, cfg.ns[0], r) in cells for k in keys)
        }
        if runs and cfg.extra_seeds:
            seed_runs[m] = {
                "n": cfg.ns[0],
                "seeds": [cfg.adapt.seed, *cfg.extra_seeds],
                "nmse_db": runs,
                "mean_nmse_db": round(float(np.mean([np.mean(v) for v in runs.values()])), 4),
                "seed_std_db": round(float(np.mean([np.std(v, ddof=1) for v in runs.values()])), 4),
                "max_range_db": round(float(max(max(v) - min(v) for v in runs.values())), 4),
            }
    plan = {_cell_key(*c) for c in study_plan(cfg)}
    k = cfg.k_envs
    return {
        "lam_params": lam_params,
        "sam_params": ref_params,
        "target_regions": list(cfg.targets),
        "n_all": n_all,
        "config": json.loads(json.dumps(asdict(cfg), default=str)),
        "methods": methods,
        "alpha_sweep": sweep,
        "alpha_sweep_nmse_db": sweep_by_region,
        "alpha_sweep_n": cfg.alpha_n,
        "e_lasco_alpha": e_lasco_alpha,
        "serving_memory_bytes": {
            "k_envs": k,
            "lasco": 4 * (lam_params + ref_params * (k + 1) + k),
            "fine_tuned_lam_copies": 4 * lam_params * k,
            "note": "fp32 weights only: one LAM + reference + K proxies (and alphas) "
            "against K fine-tuned LAM copies",
        },
        "seed_runs": seed_runs,
        "cells_done": len(plan & set(cells)),
        "cells_total": len(plan),
    }
