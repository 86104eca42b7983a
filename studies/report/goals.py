"""The study's goals, judged from the report's numbers.

Each goal is about the report's proposed method (``roles.proposed``) at its headline
size, against the methods the roles name; none is met or missed while a cell it needs
is missing.
"""

from __future__ import annotations

from typing import Any

from studies.report.measures import by_n, headline, label, mean, quiet_seconds, role
from studies.text import size

__all__ = [
    "MARGIN_DB",
    "PARAM_SHARE",
    "PLUGIN_PARAM_SHARE",
    "PLUGIN_TIME_SHARE",
    "RECOVERY",
    "TIME_SHARE",
    "Goal",
    "best_plugin",
    "goals",
]

Goal = tuple[str, bool | None, str]  # (goal, met: None while cells are missing, evidence)

MARGIN_DB = 0.5  # the proposed method at most this far above full fine-tuning on all samples
TIME_SHARE = 10  # its adaptation at most 1/TIME_SHARE of full fine-tuning's wall time
PARAM_SHARE = 0.02  # its trainable parameters at most this share of the LAM's
# The plug-ins against full fine-tuning at the headline n: the best one recovers at least
# RECOVERY of its gain over the LAM alone, training at most PLUGIN_PARAM_SHARE of the
# LAM's parameters in at most PLUGIN_TIME_SHARE of its adaptation time.
RECOVERY = 0.5
PLUGIN_PARAM_SHARE = 0.15
PLUGIN_TIME_SHARE = 0.25


def _beats_every_other(report: dict[str, Any]) -> Goal:
    p, n = role(report, "proposed"), headline(report)
    name, samples = label(report, p), size(n)
    own = mean(report, p, n)
    others = {k: mean(report, k, n) for k in report["methods"] if k != p}
    if own is None or any(v is None for v in others.values()):
        return (f"{name} with {samples} samples beats every other method", None, "incomplete")
    best = min(others, key=lambda k: others[k])
    return (
        f"{name} with {samples} samples beats every other method with {samples} samples",
        own < others[best],
        f"{name} {own:.2f} dB; best other {label(report, best)} {others[best]:.2f} dB",
    )


def _near_full_finetuning(report: dict[str, Any]) -> list[Goal]:
    p, ft, n = role(report, "proposed"), role(report, "full_finetune"), headline(report)
    own, full = mean(report, p, n), mean(report, ft, "all")
    if own is None or full is None:
        return []
    return [
        (
            f"{label(report, p)} ({size(n)}) within {MARGIN_DB} dB of "
            f"{label(report, ft)} on all samples",
            own <= full + MARGIN_DB,
            f"{own:.2f} dB against {full:.2f} dB",
        )
    ]


def _time(report: dict[str, Any]) -> list[Goal]:
    p, ft, n = role(report, "proposed"), role(report, "full_finetune"), headline(report)
    goal = (
        f"{label(report, p)} adapts in at most 1/{TIME_SHARE} of the wall time of "
        f"{label(report, ft)}"
    )
    own_t, ft_t = by_n(report, p, n).get("train_seconds"), by_n(report, ft, n).get("train_seconds")
    own_q, ft_q = quiet_seconds(report, p), quiet_seconds(report, ft)
    if own_q and ft_q:  # the study's own seconds were measured beside other work
        return [
            (
                goal,
                own_q <= ft_q / TIME_SHARE,
                f"quiet-machine estimate {own_q:.1f} s against {ft_q:.1f} s (ratio "
                f"{ft_q / own_q:.1f}x; epochs x `python -m benchmarks adapt` s/epoch); "
                f"measured in the study {own_t or 0:.1f} s against {ft_t or 0:.1f} s",
            )
        ]
    if own_t and ft_t:
        return [
            (
                goal,
                own_t <= ft_t / TIME_SHARE,
                f"{own_t:.1f} s against {ft_t:.1f} s (ratio {ft_t / own_t:.1f}x)",
            )
        ]
    return []


def _parameters(report: dict[str, Any]) -> list[Goal]:
    p = role(report, "proposed")
    tp = report["methods"].get(p, {}).get("trainable_params")
    if not tp:
        return []
    share = tp / report["lam_params"]
    return [
        (
            f"{label(report, p)} trains at most {100 * PARAM_SHARE:g} % of the LAM's parameters",
            share <= PARAM_SHARE,
            f"{tp:,} of {report['lam_params']:,} ({100 * share:.1f} %)",
        )
    ]


def _every_region(report: dict[str, Any]) -> list[Goal]:
    """The plug-ins (alpha fixed, then the proposed method) against the base alone."""
    base, n = role(report, "base"), headline(report)
    out: list[Goal] = []
    for key in dict.fromkeys((role(report, "fixed_alpha"), role(report, "proposed"))):
        per = by_n(report, key, n).get("nmse_db", {})
        alone = by_n(report, base, n).get("nmse_db", {})
        shared = [r for r in report["target_regions"] if r in per and r in alone]
        if not shared:
            continue
        losses = [r for r in shared if per[r] >= alone[r]]
        full = len(shared) == len(report["target_regions"])
        out.append(
            (
                f"{label(report, key)} beats {label(report, base)} in every target region "
                f"(n = {size(n)})",
                (not losses) if full else (None if not losses else False),
                f"{len(shared) - len(losses)} of {len(shared)} regions"
                + (f"; not in {', '.join(losses)}" if losses else ""),
            )
        )
    return out


def _plugins(report: dict[str, Any]) -> list[str]:
    """The proposed method and the plug-ins beyond the paper that the report holds."""
    keys = [role(report, "proposed"), *report["roles"].get("new_plugins", [])]
    return [k for k in dict.fromkeys(keys) if k in report["methods"]]


def best_plugin(report: dict[str, Any]) -> str | None:
    """The plug-in recovering the largest share of full fine-tuning's gain at the
    headline n, among those with every region done; None before any is."""
    rec = report.get("recovery", {}).get(headline(report), {})
    total = len(report["target_regions"])
    done = [k for k in _plugins(report) if rec.get(k, {}).get("regions") == total]
    fraction = {k: rec[k]["all"]["fraction"] for k in done if rec[k]["all"]["fraction"] is not None}
    return max(fraction, key=lambda k: fraction[k]) if fraction else None


def _recovery(report: dict[str, Any]) -> list[Goal]:
    """Judged when the report has recovery figures and a plug-in beyond the paper."""
    new = [k for k in report["roles"].get("new_plugins", []) if k in report["methods"]]
    if "recovery" not in report or not new:
        return []
    ft, n = role(report, "full_finetune"), headline(report)
    goal = (
        f"a plug-in recovers at least {RECOVERY:.0%} of {label(report, ft)}'s gain at "
        f"n = {size(n)}, training at most {PLUGIN_PARAM_SHARE:.0%} of the LAM's parameters "
        f"in at most {PLUGIN_TIME_SHARE:.0%} of its adaptation time"
    )
    best = best_plugin(report)
    if best is None:
        return [(goal, None, "incomplete")]
    rec = report["recovery"][n][best]["all"]
    tp = report["methods"][best].get("trainable_params") or 0
    share = tp / report["lam_params"]
    # both quiet-machine estimates, or else both as measured in the study: never one of each
    own_t, ft_t = quiet_seconds(report, best), quiet_seconds(report, ft)
    if not (own_t and ft_t):
        own_t = by_n(report, best, n).get("train_seconds")
        ft_t = by_n(report, ft, n).get("train_seconds")
    time_share = own_t / ft_t if own_t and ft_t else None
    met = (
        rec["fraction"] >= RECOVERY
        and share <= PLUGIN_PARAM_SHARE
        and time_share is not None
        and time_share <= PLUGIN_TIME_SHARE
    )
    timing = "time unknown" if time_share is None else f"{time_share:.0%} of its time"
    return [
        (
            goal,
            met,
            f"best: {label(report, best)}, {rec['fraction']:.0%} of the gain "
            f"({rec['gain_db']:.2f} of {rec['finetune_gain_db']:.2f} dB), "
            f"{100 * share:.1f} % of the parameters, {timing}",
        )
    ]


def goals(report: dict[str, Any]) -> list[Goal]:
    """The goals as (goal, met, evidence); met is None while cells are missing."""
    return [
        _beats_every_other(report),
        *_near_full_finetuning(report),
        *_time(report),
        *_parameters(report),
        *_every_region(report),
        *_recovery(report),
    ]
