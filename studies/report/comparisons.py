"""The study's findings at its headline size, stated from the numbers (including where
the baselines win). Methods are named through the report's roles and labels.

Comparisons at one n use only the regions every method has finished (paired).
"""

from __future__ import annotations

from math import comb
from typing import Any

import numpy as np

from studies.report.measures import (
    avg,
    headline,
    label,
    los_nlos,
    paired,
    quiet_seconds,
    role,
)
from studies.text import size

__all__ = ["PAPER_ALPHA", "PAPER_LAM_PARAMS", "headline_findings", "scope", "sign_test"]

# The paper's figures (as its summaries quote them): its LAM's size, and the learned
# alpha (low, high, mean) over its target regions.
PAPER_LAM_PARAMS = 63_000_000
PAPER_ALPHA = (0.3, 0.9, 0.7)

_Paired = tuple[list[str], dict[str, dict[str, float]], dict[str, float]]


def sign_test(wins: int, n: int) -> float:
    """Two-sided sign test: the chance of a split at least as uneven as ``wins`` of ``n``
    paired regions if neither method were better (each region a fair coin)."""
    k = min(wins, n - wins)
    return min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0


def scope(shared: list[str], report: dict[str, Any], who: str = "every method") -> str:
    """The regions a comparison covers, in words."""
    total = len(report["target_regions"])
    if len(shared) == total:
        return f"all {total} target regions"
    return f"the {len(shared)} of {total} regions {who} has finished so far ({', '.join(shared)})"


def _ranking(report: dict[str, Any], data: _Paired) -> list[str]:
    shared, nm, means = data
    p, base = role(report, "proposed"), role(report, "base")
    order = sorted(means, key=means.__getitem__)
    rank = order.index(p) + 1
    out = [
        f"- **Ranking at n = {size(headline(report))}** over {scope(shared, report)}: "
        + "; ".join(f"{label(report, k)} {means[k]:.2f}" for k in order)
        + f" dB. {label(report, p)} ranks {rank} of {len(order)} and gains "
        f"{means[base] - means[p]:.2f} dB over {label(report, base)}."
    ]
    wins = [k for k in order[: rank - 1] if means[p] - means[k] >= 0.005]
    if not wins:
        return out
    own_tp = report["methods"][p].get("trainable_params") or 1
    lines = []
    for k in wins:
        beat = sum(nm[k][r] < nm[p][r] for r in shared)
        tp = report["methods"][k].get("trainable_params") or 0
        q_k = quiet_seconds(report, k, regions=shared)
        q_p = quiet_seconds(report, p, regions=shared)
        cost = f", {q_k / q_p:.1f}x its adaptation time" if q_k and q_p else ""
        lines.append(
            f"{label(report, k)} by {means[p] - means[k]:.2f} dB (in {beat} of {len(shared)} "
            f"regions, sign test p = {sign_test(beat, len(shared)):.3f}; {tp:,} "
            f"trainable parameters, {tp / own_tp:.1f}x {label(report, p)}'s{cost})"
        )
    out.append(
        f"- **Where baselines win.** Better than {label(report, p)} at n = "
        f"{size(headline(report))}: " + "; ".join(lines) + "."
    )
    return out


def _los_against_nlos(report: dict[str, Any], data: _Paired) -> list[str]:
    shared, nm, _ = data
    p, base, ft = role(report, "proposed"), role(report, "base"), role(report, "full_finetune")
    los, nlos = los_nlos(shared, report)
    if not (los and nlos and ft in nm):
        return []

    def gain(k: str, regions: list[str]) -> float:
        return avg(nm[base], regions) - avg(nm[k], regions)

    return [
        f"- **LOS against NLOS.** Over {label(report, base)}, {label(report, p)} gains "
        f"{gain(p, los):.2f} dB in LOS regions ({', '.join(los)}) and "
        f"{gain(p, nlos):.2f} dB in NLOS regions ({', '.join(nlos)}); {label(report, ft)} "
        f"gains {gain(ft, los):.2f} and {gain(ft, nlos):.2f} dB. NLOS is hard for every "
        f"method: {label(report, base)} reaches {avg(nm[base], nlos):.2f} dB there against "
        f"{avg(nm[base], los):.2f} dB in LOS."
    ]


def _reference_sam(report: dict[str, Any], data: _Paired) -> list[str]:
    shared, nm, means = data
    fixed, none = role(report, "fixed_alpha"), role(report, "reference_ablation")
    if fixed not in nm or none not in nm:
        return []
    d = means[none] - means[fixed]
    better = sum(nm[fixed][r] < nm[none][r] for r in shared)
    verb = f"beats {label(report, none)} by {d:.2f} dB" if d > 0 else ""
    verb = verb or f"trails {label(report, none)} by {-d:.2f} dB"
    return [
        f"- **The reference SAM.** {label(report, fixed)} {verb} (better in {better} of "
        f"{len(shared)} regions, sign test p = {sign_test(better, len(shared)):.3f}): "
        + (
            "subtracting f_ref helps here."
            if d > 0
            else "here the proxy learns the residual H - f_base as well without it."
        )
    ]


def _learned_alpha(report: dict[str, Any], data: _Paired) -> list[str]:
    _, nm, means = data
    fixed, learned = role(report, "fixed_alpha"), role(report, "learned_alpha")
    if fixed not in nm or learned not in nm:
        return []
    alphas = report.get("e_lasco_alpha", {})
    spread = (
        f" between {min(alphas.values()):.2f} and {max(alphas.values()):.2f} "
        f"(mean {np.mean(list(alphas.values())):.2f}; the paper reports about "
        f"{PAPER_ALPHA[0]} to {PAPER_ALPHA[1]}, {PAPER_ALPHA[2]} on average)"
        if alphas
        else ""
    )
    return [
        f"- **Learned alpha.** {label(report, learned)} is "
        f"{means[fixed] - means[learned]:+.2f} dB against {label(report, fixed)} (positive: "
        f"{label(report, learned)} better) with alpha learned per region{spread}."
    ]


def _scale(report: dict[str, Any], data: _Paired) -> list[str]:
    shared, nm, means = data
    p, base, ft = role(report, "proposed"), role(report, "base"), role(report, "full_finetune")
    fixed, sam = role(report, "fixed_alpha"), role(report, "sam_alone")
    proxy = report["methods"].get(fixed, {}).get("trainable_params")
    lam_p = report.get("lam_params")
    if not (proxy and sam in nm and lam_p):
        return []
    q_ft = quiet_seconds(report, ft, regions=shared)
    q_p = quiet_seconds(report, p, regions=shared)
    time = (
        f", and {label(report, ft)} takes {q_ft / q_p:.1f}x {label(report, p)}'s adaptation time"
        if q_ft and q_p
        else ""
    )
    return [
        f"- **Scale.** This LAM has {lam_p:,} parameters, so the proxy SAM of "
        f"{label(report, fixed)} ({proxy:,}) is {100 * proxy / lam_p:.1f} % of it; the "
        f"paper's LAM has about {PAPER_LAM_PARAMS / 1e6:.0f} M, where the same SAM is "
        f"{100 * proxy / PAPER_LAM_PARAMS:.2f} %. Here {label(report, base)} beats "
        f"{label(report, sam)} by {means[sam] - means[base]:.2f} dB{time}. The parameter "
        "and time goals assume a LAM far larger than its plug-ins."
    ]


def headline_findings(report: dict[str, Any]) -> list[str]:
    """The findings at the headline n: the ranking, where baselines win, LOS against
    NLOS, the reference SAM, the learned alpha and the scale of the models."""
    shared, nm = paired(report, headline(report))
    if not (shared and role(report, "proposed") in nm and role(report, "base") in nm):
        return []
    data = (shared, nm, {k: avg(v) for k, v in nm.items()})
    return [
        line
        for part in (_ranking, _los_against_nlos, _reference_sam, _learned_alpha, _scale)
        for line in part(report, data)
    ]
