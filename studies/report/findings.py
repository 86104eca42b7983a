"""The study's findings, one paragraph each: the comparisons at the headline size
(studies.report.comparisons), then the seed noise, the runs' convergence, the data
efficiency, the alpha sweep and the goals not met."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np

from studies.report.comparisons import headline_findings, scope
from studies.report.goals import goals
from studies.report.measures import avg, headline, label, los_nlos, paired, role, sizes
from studies.text import plural, size

__all__ = ["findings"]


def _seed_noise(report: dict[str, Any]) -> list[str]:
    seeds = report.get("seed_runs", {})
    shared = [r for r in report["target_regions"] if all(r in v["nmse_db"] for v in seeds.values())]
    if len(seeds) < 2 or not shared:
        return []
    mean = {k: avg({r: float(np.mean(v["nmse_db"][r])) for r in shared}) for k, v in seeds.items()}
    order = sorted(mean, key=mean.__getitem__)
    noise = max(
        float(np.mean([np.std(v["nmse_db"][r], ddof=1) for r in shared])) for v in seeds.values()
    )
    n_seeds = len(next(iter(seeds.values()))["seeds"])
    gaps = [
        f"{label(report, a)} against {label(report, b)} {mean[b] - mean[a]:.3f} dB"
        for a, b in pairwise(order)
    ]
    one = noise / np.sqrt(len(shared))  # a single-seed mean over the regions
    text = (
        f"- **Seed noise** ({scope(shared, report, 'every seed')}). Rerun with "
        f"{n_seeds} seeds, a region's NMSE has a standard deviation over seeds of up to "
        f"{noise:.3f} dB (mean over regions, the noisiest method), so a one-seed mean over "
        f"{len(shared)} regions carries about {one:.3f} dB of seed noise and a gap between "
        f"two such means about {np.sqrt(2) * one:.3f} dB. Averaged over the seeds, the "
        "order is "
        + "; ".join(f"{label(report, k)} {mean[k]:.2f}" for k in order)
        + " dB; neighbours differ by "
        + "; ".join(gaps)
        + "."
    )
    smallest = min((mean[b] - mean[a] for a, b in pairwise(order)), default=0.0)
    if one > 0:
        ratio = smallest / (np.sqrt(2) * one)
        text += (
            f" The smallest gap is {ratio:.0f} times the seed noise of a gap, so the order "
            "is not an artefact of the seed (the test set is the same for every method)."
            if ratio >= 3
            else f" The smallest gap is within {max(ratio, 0):.1f} times the seed noise of "
            "a gap: the seed alone could reorder these methods."
        )
    return [text]


def _curves(report: dict[str, Any]) -> dict[str, dict[str, list[float]]]:
    """Each method's validation curves per region at the headline n."""
    n = headline(report)
    return {k: rec["by_n"].get(n, {}).get("val_curve", {}) for k, rec in report["methods"].items()}


def _epoch_cap(report: dict[str, Any]) -> list[str]:
    cap = report["config"]["adapt"]["max_epochs"]
    capped = []
    for k, curves in _curves(report).items():
        hit = [r for r, c in curves.items() if len(c) - 1 >= cap and int(np.argmin(c)) >= cap - 5]
        if hit:
            capped.append(f"{label(report, k)} in {len(hit)} of {len(curves)}")
    if not capped:
        return []
    return [
        f"- **Still improving at the epoch cap.** At n = {size(headline(report))} these runs "
        f"used all {cap} epochs with their best validation NMSE in the last five: "
        + "; ".join(capped)
        + ". Their figures are what the paper's budget gives, not converged values."
    ]


def _first_epoch(report: dict[str, Any]) -> list[str]:
    jumps = []
    for k, per_region in _curves(report).items():
        curves = [c for c in per_region.values() if len(c) > 1]
        if curves:
            d = float(np.mean([c[1] - c[0] for c in curves]))
            if d > 0.1:
                jumps.append(f"{label(report, k)} {d:+.2f} dB")
    if not jumps:
        return []
    return [
        f"- **The first epoch.** At n = {size(headline(report))} the first epoch makes the "
        "mean validation NMSE worse before training improves it: "
        + "; ".join(jumps)
        + " (epoch 1 against the starting point, lr "
        f"{report['config']['adapt'].get('lr')}). The final figures recover from it; see "
        "the convergence figure below."
    ]


def _data_efficiency(report: dict[str, Any]) -> list[str]:
    p, base, ft = role(report, "proposed"), role(report, "base"), role(report, "full_finetune")
    none = role(report, "reference_ablation")
    rows = []
    for n in sizes(report):
        sh, nmn = paired(report, n)
        if not (sh and {p, ft, base} <= set(nmn)):
            continue
        means = {k: avg(v) for k, v in nmn.items()}
        rank = sorted(means, key=means.__getitem__).index(p) + 1
        bits = [f"{label(report, p)} {means[base] - means[p]:+.2f} (rank {rank} of {len(means)})"]
        if none in means and none != p:
            ahead = sum(nmn[none][r] < nmn[p][r] for r in sh)
            bits.append(
                f"{label(report, none)} {means[base] - means[none]:+.2f} "
                f"(ahead of {label(report, p)} in {ahead} of {len(sh)})"
            )
        bits.append(f"{label(report, ft)} {means[base] - means[ft]:+.2f}")
        name = f"n = {n}" + (f" ({report['n_all']:,})" if n == "all" else "")
        rows.append(f"{name}: " + ", ".join(bits) + f" dB ({plural(len(sh), 'region')})")
    if len(rows) < 2:
        return []
    return [
        f"- **Data efficiency.** Gains over {label(report, base)}, by target samples: "
        + "; ".join(rows)
        + "."
    ]


def _alpha_sweep(report: dict[str, Any]) -> list[str]:
    by_alpha = report.get("alpha_sweep_nmse_db", {})
    shared = [r for r in report["target_regions"] if all(r in v for v in by_alpha.values())]
    if not (by_alpha and shared):
        return []
    mean = {a: avg(v, shared) for a, v in by_alpha.items()}
    best = min(mean, key=mean.__getitem__)
    text = (
        f"- **Alpha sweep** ({scope(shared, report, 'every alpha')}). A fixed alpha is "
        f"best at {best} ({mean[best]:.2f} dB) and spans "
        f"{max(mean.values()) - mean[best]:.2f} dB over alpha = {', '.join(by_alpha)}"
    )
    los, nlos = los_nlos(shared, report)
    per_group = [
        f"{name} {min(by_alpha, key=lambda a, g=group: avg(by_alpha[a], g))}"
        for name, group in (("LOS", los), ("NLOS", nlos))
        if group
    ]
    if per_group:
        text += "; the best alpha is " + ", ".join(per_group)
    learned = report.get("e_lasco_alpha", {})
    method = role(report, "learned_alpha")
    nmse = report["methods"].get(method, {}).get("by_n", {})
    nmse = nmse.get(str(report["alpha_sweep_n"]), {}).get("nmse_db", {})
    if all(r in learned and r in nmse for r in shared):
        reached = avg(nmse, shared)
        text += (
            f". {label(report, method)}, learning alpha per region (mean "
            f"{avg(learned, shared):.2f}), reaches {reached:.2f} dB, "
            f"{abs(mean[best] - reached):.2f} dB "
            f"{'better' if reached < mean[best] else 'worse'} than the best fixed alpha"
        )
    return [text + "."]


def findings(report: dict[str, Any]) -> list[str]:
    """One paragraph per finding, stated from the numbers (including where baselines win).

    Comparisons at one n use only the regions every method has finished (paired)."""
    return [
        *headline_findings(report),
        *_seed_noise(report),
        *_epoch_cap(report),
        *_first_epoch(report),
        *_data_efficiency(report),
        *_alpha_sweep(report),
        *(f"- **Goal not met:** {g} ({ev})." for g, ok, ev in goals(report) if ok is False),
    ]
