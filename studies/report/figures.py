"""The study's PNG figures (matplotlib, headless): data efficiency, convergence at the
headline size, and the learned against fixed alpha."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lasco.channels.store import atomic_write_bytes
from studies.report.measures import avg, headline, label, los_nlos, role
from studies.text import size

__all__ = ["FIGURES", "plot_study"]

# The figures' file names (after the report's prefix): data efficiency, convergence, alpha.
FIGURES = ("nmse_vs_n.png", "convergence.png", "alpha.png")
_COLOUR = {"all": "k", "LOS": "C0", "NLOS": "C1"}


def _save(fig: Any, path: Path) -> Path:
    """Save and close ``fig`` atomically: shards that finish together may both write it."""
    import matplotlib.pyplot as plt

    atomic_write_bytes(path, lambda f: fig.savefig(f, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)
    return path


def _legend(ax: Any) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)


def _data_efficiency(report: dict[str, Any], path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    total = len(report["target_regions"])  # means over partial region sets would mislead
    for k, rec in report["methods"].items():
        pts = sorted(
            (e["n"], e["mean_nmse_db"])
            for e in rec["by_n"].values()
            if e.get("regions_done", total) >= total
        )
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", label=k)
    ax.set(
        xscale="log",
        xlabel="target training samples n",
        ylabel="mean test NMSE (dB)",
        title="Data efficiency (sizes done in every target region)",
    )
    ax.grid(alpha=0.3)
    _legend(ax)
    return _save(fig, path)


def _convergence(report: dict[str, Any], path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    n = headline(report)
    for k, rec in report["methods"].items():
        curves = list(rec["by_n"].get(n, {}).get("val_curve", {}).values())
        if curves:
            length = max(len(c) for c in curves)
            padded = np.array([c + [c[-1]] * (length - len(c)) for c in curves])
            ax.plot(padded.mean(0), label=k)
    ax.set(
        xlabel="epoch",
        ylabel="validation NMSE (dB), mean over regions",
        title=f"Convergence at n = {size(n)}",
    )
    ax.grid(alpha=0.3)
    _legend(ax)
    return _save(fig, path)


def _learned_alpha(report: dict[str, Any], ax: Any) -> None:
    from matplotlib.patches import Patch

    alpha = report["e_lasco_alpha"]
    los, _ = los_nlos(list(alpha), report)
    ax.bar(
        list(alpha),
        list(alpha.values()),
        color=[_COLOUR["LOS" if r in los else "NLOS"] for r in alpha],
    )
    ax.axhline(1.0, color="grey", ls=":", lw=1)
    name = label(report, role(report, "learned_alpha"))
    ax.set(title=f"{name}'s learned alpha per region", xlabel="region", ylabel="alpha")
    if alpha:
        ax.legend(
            handles=[Patch(color=_COLOUR[k], label=k) for k in ("LOS", "NLOS")],
            fontsize=8,
            loc="upper right",
            ncol=2,
        )
        ax.set_ylim(0, max(1.0, *alpha.values()) * 1.2)


def _fixed_alpha(report: dict[str, Any], ax: Any) -> None:
    """Gains over the base alone put LOS and NLOS (7 dB apart in NMSE) on one scale."""
    alpha = report["e_lasco_alpha"]
    by_alpha = report.get("alpha_sweep_nmse_db", {})
    regions = report["target_regions"]
    n_key = str(report["alpha_sweep_n"])
    learned, base = role(report, "learned_alpha"), role(report, "base")
    alone = report["methods"].get(base, {}).get("by_n", {}).get(n_key, {}).get("nmse_db", {})
    nmse = report["methods"].get(learned, {}).get("by_n", {}).get(n_key, {}).get("nmse_db", {})
    los, nlos = los_nlos(regions, report)
    for name, group in (("all", regions), ("LOS", los), ("NLOS", nlos)):
        if not all(r in alone for r in group):
            continue
        pts = [
            (float(a), avg(alone, group) - avg(v, group))
            for a, v in by_alpha.items()
            if all(r in v for r in group)
        ]
        if pts:
            ax.plot(
                *zip(*pts, strict=True),
                "-" if name == "all" else "--",
                color=_COLOUR[name],
                marker="o",
                label=f"fixed alpha, {name}",
            )
        if pts and all(r in alpha and r in nmse for r in group):
            ax.plot(
                [avg(alpha, group)],
                [avg(alone, group) - avg(nmse, group)],
                "*",
                color=_COLOUR[name],
                ms=13,
                label=f"{label(report, learned)} (mean learned alpha), {name}",
            )
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    else:
        ax.text(
            0.5,
            0.5,
            "sweep not finished in every region yet",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="grey",
        )
    ax.set(
        title=f"{label(report, role(report, 'fixed_alpha'))} with a fixed alpha (n = {n_key})",
        xlabel="alpha",
        ylabel=f"mean NMSE gain over {label(report, base)} (dB)",
    )
    ax.grid(alpha=0.3)


def plot_study(report: dict[str, Any], folder: Path, prefix: str = "") -> list[Path]:
    """Write the figures (``prefix`` + each of ``FIGURES``) into ``folder``; returns their
    paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    efficiency, convergence, alpha = (folder / f"{prefix}{name}" for name in FIGURES)
    paths = [_data_efficiency(report, efficiency), _convergence(report, convergence)]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    _learned_alpha(report, a1)
    _fixed_alpha(report, a2)
    paths.append(_save(fig, alpha))
    return paths
