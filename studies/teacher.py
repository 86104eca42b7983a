"""The teacher probe: can a plug-in represent what LAM fine-tuning learns?

A plug-in adapted on n target samples recovers a small share of the gain LAM fine-tuning
gets from the same n. Three causes fit that: the plug-in is too small (capacity), what it
sees (``H_in``, the LAM's output or hidden states) does not carry the correction (input),
or n noisy labels do not pin the correction down for a network that starts from scratch
while the LAM starts from its pre-trained weights (data). The capacity sweep varies the
first; this probe separates the other two.

Per region it fine-tunes the LAM on the first ``teacher_n`` training samples (the
comparison's budget and rate), then adapts each plug-in on *all* the region's training
inputs labelled by that fine-tuned LAM, validated against its labels too. The target is
then a function the plug-in's inputs determine (the teacher's output is a function of
``H_in``) and that is known on four times as many inputs. A student that reaches most of
the teacher's gain shows the plug-in can represent it: what it lacks at n true labels is
data, not capacity or input. A student that stays where it was shows its function class
(capacity times input) is the limit. The test split keeps its true channels; the report
gives each student's NMSE against them, its share of the teacher's gain and its NMSE
against the teacher's output (fidelity).

Each finished step (the teacher, each student) is saved to a state file, so the probe
resumes; the teacher's weights are kept beside it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lasco.channels import ChannelCache, builtin_catalogue
from lasco.channels.store import atomic_write_bytes
from lasco.codec import Projection
from lasco.collab import METHODS, LamFinetune, build_method, taps_for
from lasco.errors import ConfigError
from lasco.models import CsiRefiner
from lasco.train import AdaptConfig, SplitTensors, adapt, atomic_torch_save, evaluate, predict
from studies.plots import write_report
from studies.presets import STUDIES
from studies.runner import region_splits
from studies.state import StudyState

__all__ = [
    "TeacherConfig",
    "run_teacher_probe",
    "settings_from_reports",
    "teacher_markdown",
    "teacher_summary",
    "write_teacher",
]

TEACHER = "lam-finetune"


@dataclass(frozen=True)
class TeacherConfig:
    """The probe's settings (hashed with both models' weights to guard ``resume``).

    ``rates``: each method's learning rate (all its parameters at one rate), e.g. the
    rates the comparison's validation chose; a method not named adapts at ``adapt.lr``."""

    regions: tuple[str, ...] = ("106", "102", "109")
    catalogue: str = "paper"
    samples_per_target: int = 5000
    teacher_n: int = 1000
    students: tuple[str, ...] = ("side", "e-lasco", "readout")
    rates: tuple[tuple[str, float], ...] = ()
    adapt: AdaptConfig = field(default_factory=lambda: STUDIES["comparison"].adapt)

    def __post_init__(self) -> None:
        unknown = [m for m in self.students if m not in METHODS]
        if unknown:
            raise ConfigError(f"teacher probe: unknown student method(s) {unknown}")
        if not self.regions or not self.students:
            raise ConfigError("teacher probe: needs at least one region and one student")
        if bad := [
            m for m in self.students if not METHODS[m].trains or METHODS[m].factory.needs_lam
        ]:
            raise ConfigError(
                f"teacher probe: students must be plug-ins (trained, LAM frozen), not {bad}"
            )
        if self.teacher_n < 1:
            raise ConfigError(f"teacher probe: teacher_n {self.teacher_n} must be >= 1")

    def rate(self, method: str) -> float:
        return dict(self.rates).get(method, self.adapt.lr)

    def hash(self, lam: CsiRefiner, ref: CsiRefiner) -> str:
        h = hashlib.sha256(json.dumps(asdict(self), sort_keys=True, default=str).encode())
        for model in (lam, ref):
            for v in model.state_dict().values():
                h.update(v.numpy().tobytes())
        return h.hexdigest()[:16]


def settings_from_reports(
    reports: dict[str, dict[str, Any]],
    regions: tuple[str, ...],
    students: tuple[str, ...],
    lam_sha256: str,
) -> tuple[TeacherConfig, dict[str, dict[str, float]]]:
    """The probe's settings and true-label results from study reports by name, the
    comparison's first: each method adapts at the rate the comparison's validation chose
    for it (the teacher at full fine-tuning's; a plug-in it did not adapt at the budget's
    default), and a plug-in's true-label NMSE per region at ``teacher_n`` comes from the
    first report that adapted it. Every report must be of the LAM whose ONNX hashes to
    ``lam_sha256`` (ConfigError naming it)."""
    for name, report in reports.items():
        if report.get("meta", {}).get("lam_sha256") not in (None, lam_sha256):
            raise ConfigError(f"{name}: written with another LAM than the probe's")
    methods = [r.get("methods", {}) for r in reports.values()]
    chosen = {m: methods[0].get(m, {}).get("lr") for m in (TEACHER, *students)}
    rates = tuple((m, r) for m, r in chosen.items() if r)
    cfg = TeacherConfig(regions=regions, students=students, rates=rates)
    n, true_labels = str(cfg.teacher_n), {}
    for m in students:
        found = (ms.get(m, {}).get("by_n", {}).get(n, {}).get("nmse_db") for ms in methods)
        true_labels[m] = next((v for v in found if v), {})
    return cfg, true_labels


def _with_labels(split: SplitTensors, y: torch.Tensor) -> SplitTensors:
    return SplitTensors(split.x, y, split.base, split.ref, split.hidden)


def run_teacher_probe(
    cfg: TeacherConfig,
    lam: CsiRefiner,
    ref: CsiRefiner,
    projection: Projection,
    state_path: str | Path,
    *,
    resume: bool = False,
    cache: ChannelCache | None = None,
    progress: bool = True,
    log=print,
    true_labels: dict[str, dict[str, float]] | None = None,
) -> dict[str, Any]:
    """Run (or finish) the probe; returns ``teacher_summary`` of its cells (``true_labels``
    as there)."""
    state_path = Path(state_path)
    state = StudyState(state_path, cfg.hash(lam, ref), resume)
    catalogue = builtin_catalogue(cfg.catalogue)
    specs = {r: catalogue.get(r) for r in cfg.regions}  # unknown regions fail now
    taps = taps_for(cfg.students, lam)
    for region in cfg.regions:
        keys = [f"{TEACHER}|{region}", *(f"{m}|{region}" for m in cfg.students)]
        if all(k in state.cells for k in keys):
            continue
        tr, va, te = region_splits(
            specs[region], cfg.samples_per_target, cache, projection, lam, ref, taps
        )
        if cfg.teacher_n > len(tr):
            raise ConfigError(
                f"region {region}: teacher_n {cfg.teacher_n} > its {len(tr)} training samples"
            )
        teacher = _teacher(cfg, lam, ref, (tr, va, te), region, state, state_path, progress)
        with torch.no_grad():
            labels = [predict(teacher.lam, s.x) for s in (tr, va, te)]
        log(f"{region}: teacher {state.cells[keys[0]]['nmse_db']:.2f} dB")
        for method in cfg.students:
            key = f"{method}|{region}"
            if key in state.cells:
                continue
            student = build_method(method, lam, ref)
            fit = adapt(
                student,
                _with_labels(tr, labels[0]),
                _with_labels(va, labels[1]),
                replace(cfg.adapt, lr=cfg.rate(method), lam_lr=cfg.rate(method)),
                desc=f"{method} from the teacher @ {region}",
                progress=progress,
            )
            nmse_db, _ = evaluate(student, te)
            fidelity_db, _ = evaluate(student, _with_labels(te, labels[2]))
            cell = {
                "nmse_db": round(nmse_db, 4),
                "fidelity_db": round(fidelity_db, 4),
                "lr": cfg.rate(method),
                "epochs": fit.epochs,
                "best_epoch": fit.best_epoch,
                "stopped_early": fit.stopped_early,
                "train_seconds": round(fit.seconds, 3),
                "n": len(tr),
            }
            state.save(key, cell)
            log(f"{region}: {method} from the teacher {nmse_db:.2f} dB")
    state.refresh()
    return teacher_summary(cfg, state.cells, true_labels)


def _teacher(cfg, lam, ref, data, region, state, state_path, progress) -> LamFinetune:
    """The LAM fine-tuned on ``teacher_n`` true labels: trained (and its weights kept
    beside the state file) or, when the state holds it, reloaded. When the state holds
    the teacher but not its weights (another machine), it is trained again from the same
    seed and data; its saved cell, which finished students are paired with, is kept."""
    tr, va, te = data
    weights = state_path.with_name(f"{state_path.stem}.{region}.pt")
    teacher = LamFinetune(lam, ref)
    key = f"{TEACHER}|{region}"
    if key in state.cells and weights.is_file():
        teacher.lam.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        return teacher.eval()
    rate = cfg.rate(TEACHER)
    fit = adapt(
        teacher,
        tr.subset(cfg.teacher_n),
        va,
        replace(cfg.adapt, lr=rate, lam_lr=rate),
        desc=f"teacher ({TEACHER} n={cfg.teacher_n}) @ {region}",
        progress=progress,
    )
    atomic_torch_save(weights, {k: v.cpu() for k, v in teacher.lam.state_dict().items()})
    if key in state.cells:
        return teacher.eval()
    lam_db, _ = evaluate(build_method("lam-only", lam, ref), te)
    nmse_db, _ = evaluate(teacher, te)
    state.save(
        key,
        {
            "nmse_db": round(nmse_db, 4),
            "lam_nmse_db": round(lam_db, 4),
            "lr": rate,
            "epochs": fit.epochs,
            "best_epoch": fit.best_epoch,
            "train_seconds": round(fit.seconds, 3),
            "n": cfg.teacher_n,
        },
    )
    return teacher.eval()


def teacher_summary(
    cfg: TeacherConfig,
    cells: dict[str, dict[str, Any]],
    true_labels: dict[str, dict[str, float]] | None = None,
) -> dict[str, Any]:
    """Per student and region: NMSE from the teacher, its share of the teacher's gain over
    the LAM alone, its fidelity, and (``true_labels``: method -> region -> NMSE dB, e.g.
    the comparison's at ``teacher_n``) the share the same plug-in reached from true
    labels; the means over the regions done."""
    true_labels = true_labels or {}
    rows = []
    for method in cfg.students:
        per_region = {}
        for r in cfg.regions:
            t, s = cells.get(f"{TEACHER}|{r}"), cells.get(f"{method}|{r}")
            if t is None or s is None:
                continue
            lam_db, gain = t["lam_nmse_db"], t["lam_nmse_db"] - t["nmse_db"]
            own = true_labels.get(method, {}).get(r)
            true_share = (lam_db - own) / gain if own is not None and gain > 0 else None
            per_region[r] = {
                "lam_nmse_db": lam_db,
                "teacher_nmse_db": t["nmse_db"],
                "nmse_db": s["nmse_db"],
                "fidelity_db": s["fidelity_db"],
                "share": round((lam_db - s["nmse_db"]) / gain, 4) if gain > 0 else None,
                "true_label_nmse_db": own,
                "true_label_share": None if true_share is None else round(true_share, 4),
                "lr": s.get("lr"),
                "at_cap": s.get("epochs", 0) >= cfg.adapt.max_epochs,
            }
        rows.append({"method": method, "regions": per_region, **_means(per_region)})
    return {"config": asdict(cfg), "teacher": TEACHER, "rows": rows}


def _means(per_region: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Mean gains over the regions as a share of the teacher's mean gain (as the
    comparison's share table), and the mean fidelity."""
    rs = list(per_region.values())
    out: dict[str, Any] = {"regions_done": len(rs), "at_cap": sum(v["at_cap"] for v in rs)}
    teacher_gain = sum(v["lam_nmse_db"] - v["teacher_nmse_db"] for v in rs)
    for key, field_ in (("share", "nmse_db"), ("true_label_share", "true_label_nmse_db")):
        have = [v for v in rs if v.get(field_) is not None]
        gain = sum(v["lam_nmse_db"] - v[field_] for v in have)
        t_gain = sum(v["lam_nmse_db"] - v["teacher_nmse_db"] for v in have)
        out[key] = round(gain / t_gain, 4) if have and t_gain > 0 else None
    out["teacher_gain_db"] = round(teacher_gain / len(rs), 4) if rs else None
    out["fidelity_db"] = round(float(np.mean([v["fidelity_db"] for v in rs])), 4) if rs else None
    return out


def _rates(row: dict[str, Any]) -> str:
    return ", ".join(f"{r:g}" for r in sorted({v["lr"] for v in row["regions"].values()} - {None}))


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.0f} %"


def teacher_markdown(summary: dict[str, Any], figure: str = "teacher.png") -> str:
    """The probe's table as Markdown, with how to read it (``figure``: the PNG beside it)."""
    cfg = summary["config"]
    lines = [
        "# Teacher probe",
        "",
        f"Per region the LAM fine-tuned on {cfg['teacher_n']:,} true labels (the teacher) "
        "labels all the region's training inputs; each plug-in adapts on those labels "
        "(`python -m studies teacher`). Share: the plug-in's mean gain over the LAM alone "
        "on the test split's true channels, as a fraction of the teacher's; from true "
        f"labels: the same plug-in adapted on {cfg['teacher_n']:,} true labels (the "
        "comparison's cell, or another report's on the same models). Fidelity: its NMSE "
        "against the teacher's output. A share near "
        "100 % from the teacher says the plug-in can represent what fine-tuning learns, so "
        "what it lacks with true labels is data; a share near its true-label one says its "
        "capacity and input are the limit. At the cap: runs from the teacher that used all "
        f"{cfg['adapt']['max_epochs']} epochs (still improving: their share is a lower bound).",
        "",
        "| plug-in | regions | teacher's gain (dB) | share from the teacher "
        "| share from true labels | fidelity (dB) | lr | at the cap |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in summary["rows"]:
        if not row["regions_done"]:
            continue
        lines.append(
            f"| {row['method']} | {', '.join(row['regions'])} | {row['teacher_gain_db']:+.2f} "
            f"| {_pct(row['share'])} | {_pct(row['true_label_share'])} "
            f"| {row['fidelity_db']:.2f} | {_rates(row)} | {row['at_cap']}/{row['regions_done']} |"
        )
    if not any(r["regions_done"] for r in summary["rows"]):
        lines.append("| (no region finished yet) | | | | | | | |")
    lines += ["", "Per region (test NMSE, dB):", ""]
    lines += ["| plug-in | region | LAM alone | teacher | from the teacher | from true labels |"]
    lines += ["|---|---|---|---|---|---|"]
    for row in summary["rows"]:
        for r, v in row["regions"].items():
            own = v["true_label_nmse_db"]
            lines.append(
                f"| {row['method']} | {r} | {v['lam_nmse_db']:.2f} | {v['teacher_nmse_db']:.2f} "
                f"| {v['nmse_db']:.2f} | {'-' if own is None else f'{own:.2f}'} |"
            )
    lines += ["", f"![share of the teacher's gain per plug-in]({figure})", ""]
    return "\n".join(lines)


def _plot(summary: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in summary["rows"] if r["regions_done"]]
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    x = np.arange(len(rows))
    for dx, key, label in ((-0.2, "true_label_share", "true labels"), (0.2, "share", "teacher")):
        have = [i for i, r in enumerate(rows) if r[key] is not None]  # no bar for no result
        ys = [100 * rows[i][key] for i in have]
        ax.bar(x[have] + dx, ys, 0.4, label=f"from {label}")
    ax.axhline(100, ls=":", color="grey", lw=1)
    ax.set_xticks(x, [r["method"] for r in rows])
    ax.set(ylabel="share of the teacher's gain (%)", title="Teacher probe")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    atomic_write_bytes(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
    return path


def write_teacher(summary: dict[str, Any], out: str | Path) -> list[Path]:
    """Write ``out`` (JSON) and the Markdown and PNG beside it; returns their paths."""
    return write_report(summary, out, _plot, teacher_markdown)
