"""Writes the adaptation study: JSON, a readable Markdown report and PNG figures."""

from __future__ import annotations

import json
from itertools import pairwise
from math import comb
from pathlib import Path
from typing import Any

import numpy as np

from lasco.channels.store import atomic_write_bytes

__all__ = ["goals", "quiet_seconds", "write_study"]


def _mean(report: dict, method: str, n: str) -> float | None:
    """The method's mean NMSE at ``n``, only when every target region is done (means over
    different sets of regions are not comparable); None otherwise."""
    entry = report["methods"].get(method, {}).get("by_n", {}).get(n)
    if not entry or entry.get("regions_done", 0) < len(report["target_regions"]):
        return None
    return entry["mean_nmse_db"]


def _partial_mean(report: dict, method: str, n: str) -> float | None:
    """The mean over the regions done so far (shown in tables with their count)."""
    entry = report["methods"].get(method, {}).get("by_n", {}).get(n)
    return entry["mean_nmse_db"] if entry else None


def _cell(report: dict, method: str, n: str) -> str:
    """A table cell: the mean NMSE, with ``(k/10 regions)`` while regions are missing."""
    entry = report["methods"].get(method, {}).get("by_n", {}).get(n)
    if not entry:
        return "-"
    done, total = entry.get("regions_done", 0), len(report["target_regions"])
    return f"{entry['mean_nmse_db']:.2f}" + ("" if done == total else f" ({done}/{total})")


def quiet_seconds(
    report: dict, method: str, n: str = "1000", regions: list[str] | None = None
) -> float | None:
    """Mean adaptation seconds at ``n`` as a quiet machine would take them: the epochs the
    study's runs needed times the seconds per epoch `python -m benchmarks adapt` measured for the
    method in one back-to-back run (``report["adapt_timing"]``, at that same n).

    With ``regions``, the mean is over those regions only (epochs from their curves)."""
    timing = report.get("adapt_timing") or {}
    spe = timing.get("methods", {}).get(method, {}).get("seconds_per_epoch")
    entry = report["methods"].get(method, {}).get("by_n", {}).get(n)
    if spe is None or not entry or str(timing.get("n")) != str(entry.get("n")):
        return None
    if regions is None:
        return float(entry["epochs"]) * float(spe)
    curves = entry.get("val_curve", {})
    if not all(r in curves for r in regions):
        return None
    return float(spe) * float(np.mean([len(curves[r]) - 1 for r in regions]))


def goals(report: dict[str, Any]) -> list[tuple[str, bool | None, str]]:
    """The issue's goals as (goal, met, evidence); met is None while cells are missing."""
    out: list[tuple[str, bool | None, str]] = []
    m = report["methods"]
    e1000 = _mean(report, "e-lasco", "1000")
    others = {k: _mean(report, k, "1000") for k in m if k != "e-lasco"}
    if e1000 is not None and all(v is not None for v in others.values()):
        best_other = min(others, key=lambda k: others[k])
        out.append(
            (
                "E-LASCO with 1,000 samples beats every other method with 1,000 samples",
                e1000 < others[best_other],
                f"E-LASCO {e1000:.2f} dB; best other {best_other} {others[best_other]:.2f} dB",
            )
        )
    else:
        out.append(("E-LASCO with 1,000 samples beats every other method", None, "incomplete"))
    ft_all = _mean(report, "lam-finetune", "all")
    if e1000 is not None and ft_all is not None:
        out.append(
            (
                "E-LASCO (1,000) within 0.5 dB of the LAM fine-tuned on all samples",
                e1000 <= ft_all + 0.5,
                f"{e1000:.2f} dB against {ft_all:.2f} dB",
            )
        )
    lasco_t = m.get("e-lasco", {}).get("by_n", {}).get("1000", {}).get("train_seconds")
    ft_t = m.get("lam-finetune", {}).get("by_n", {}).get("1000", {}).get("train_seconds")
    lasco_q, ft_q = quiet_seconds(report, "e-lasco"), quiet_seconds(report, "lam-finetune")
    if lasco_q and ft_q:  # the study's own seconds were measured beside other work
        out.append(
            (
                "adaptation at most 1/10 of full LAM fine-tuning in wall time",
                lasco_q <= ft_q / 10,
                f"quiet-machine estimate {lasco_q:.1f} s against {ft_q:.1f} s (ratio "
                f"{ft_q / lasco_q:.1f}x; epochs x `python -m benchmarks adapt` s/epoch); measured in the "
                f"study {lasco_t or 0:.1f} s against {ft_t or 0:.1f} s",
            )
        )
    elif lasco_t and ft_t:
        out.append(
            (
                "adaptation at most 1/10 of full LAM fine-tuning in wall time",
                lasco_t <= ft_t / 10,
                f"{lasco_t:.1f} s against {ft_t:.1f} s (ratio {ft_t / lasco_t:.1f}x)",
            )
        )
    tp = m.get("e-lasco", {}).get("trainable_params")
    if tp:
        share = tp / report["lam_params"]
        out.append(
            (
                "at most 2 % of the LAM's parameters trainable",
                share <= 0.02,
                f"{tp:,} of {report['lam_params']:,} ({100 * share:.1f} %)",
            )
        )
    for key in ("lasco", "e-lasco"):
        per = m.get(key, {}).get("by_n", {}).get("1000", {}).get("nmse_db", {})
        lam = m.get("lam-only", {}).get("by_n", {}).get("1000", {}).get("nmse_db", {})
        shared = sorted(set(per) & set(lam), key=int)
        if shared:
            losses = [r for r in shared if per[r] >= lam[r]]
            full = len(shared) == len(report["target_regions"])
            out.append(
                (
                    f"{key} beats the LAM alone in every target region (n = 1,000)",
                    (not losses) if full else (None if not losses else False),
                    f"{len(shared) - len(losses)} of {len(shared)} regions"
                    + (f"; not in {', '.join(losses)}" if losses else ""),
                )
            )
    return out


# The paper's figures (arXiv:2512.12170, as quoted in summaries of it): its LAM's
# size, and E-LASCO's learned alpha (low, high, mean) over its target regions.
PAPER_LAM_PARAMS = 63_000_000
PAPER_ALPHA = (0.3, 0.9, 0.7)


def _table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def plural(count: int, noun: str) -> str:
    """``1 cell``, ``2 cells``."""
    return f"{count} {noun}{'s' * (count != 1)}"


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def _sizes(report: dict[str, Any]) -> list[str]:
    """The study's n as report keys, smallest first ("all" as the samples it stands for)."""
    return sorted(
        (str(n) for n in report["config"]["ns"]),
        key=lambda n: report.get("n_all", 0) if n == "all" else int(n),
    )


def markdown(report: dict[str, Any], meta: dict[str, Any]) -> str:
    m, ns = report["methods"], _sizes(report)
    lam_p = report["lam_params"]
    parts = [
        "# Adaptation study",
        "",
        f"Written by `python -m studies experiment --preset study`. LAM: `{meta.get('lam_preset')}` "
        f"({lam_p:,} parameters), reference SAM `{meta.get('sam_preset')}` "
        f"({report['sam_params']:,}); projection `{meta.get('projection_id')}`. Targets: "
        f"regions {', '.join(report['target_regions'])} of the paper layout (odd NLOS, even LOS), "
        f"{report['config']['samples_per_target']} channels each, split 8:1:1; 'all' is "
        f"n = {report['n_all']}. Adaptation: lr {report['config']['adapt']['lr']} "
        f"(LAM weights {report['config']['adapt']['lam_lr']}), at most "
        f"{report['config']['adapt']['max_epochs']} epochs, early stop after "
        f"{report['config']['adapt']['patience']} without validation gain; one run per "
        f"cell (seed {report['config']['adapt'].get('seed', 0)}), so region counts carry a "
        "sign test rather than error bars"
        + (
            " (the Seeds section reruns some methods with more seeds to size the seed noise)"
            if report.get("seed_runs")
            else ""
        )
        + ". Mean NMSE is the "
        f"mean over regions of each region's test NMSE in dB. Cells done: "
        f"{report['cells_done']} of {report['cells_total']}.",
        "",
        "## Headline",
        "",
    ]
    rows = []
    for k, rec in m.items():
        b1000 = rec["by_n"].get("1000", {})
        tp = rec["trainable_params"]
        rows.append(
            [
                k,
                _cell(report, k, "1000"),
                _fmt(b1000.get("mean_gcs"), ".3f"),
                _cell(report, k, "all"),
                "-" if tp is None else f"{tp:,}",
                "-" if tp is None else f"{100 * tp / lam_p:.2f}",
                *(
                    ["-"] * 4  # nothing is trained: no time, epochs or FLOPs to report
                    if not tp
                    else [
                        _fmt(b1000.get("train_seconds"), ".1f"),
                        _fmt(quiet_seconds(report, k), ".1f"),
                        _fmt(b1000.get("epochs_to_95"), ".1f"),
                        _fmt(b1000["train_flops"] / 1e12 if b1000 else None, ".3f"),
                    ]
                ),
                f"{b1000.get('regions_done', 0)}/{len(report['target_regions'])}",
            ]
        )
    parts.append(
        _table(
            [
                "method",
                "NMSE n=1000",
                "GCS n=1000",
                "NMSE all",
                "trainable",
                "% LAM",
                "s/adapt (1000)",
                "s/adapt, quiet est.",
                "epochs to 95 %",
                "train TFLOP (1000)",
                "regions (1000)",
            ],
            rows,
        )
    )
    timing = report.get("adapt_timing")
    parts += [
        "",
        "`s/adapt (1000)` is the mean wall time the study's runs took; they ran for hours "
        "beside other work on a 2-core machine, so they are noisy. "
        + (
            f"`s/adapt, quiet est.` is the study's mean epochs times the seconds per epoch that "
            f"`python -m benchmarks adapt` measured for each method back to back in one run (region "
            f"{timing['region']}, n = {timing['n']}, {timing['epochs']} epochs each, commit "
            f"`{str(timing.get('commit', '?'))[:8]}`); the plug-in methods' one-off LAM and "
            "reference outputs (one forward pass over the data) are in neither."
            if timing
            else "Run `python -m benchmarks adapt --json reports/bench_adapt.json` on a quiet machine "
            "for a per-epoch time of each method measured back to back."
        ),
    ]
    parts += ["", "## Goals", ""]
    parts.append(
        _table(
            ["goal", "met", "evidence"],
            [
                [g, {True: "yes", False: "no", None: "pending"}[ok], ev]
                for g, ok, ev in goals(report)
            ],
        )
    )
    parts += ["", "## Data efficiency (mean NMSE, dB)", ""]
    parts.append(
        _table(
            ["method", *[f"n={n}" for n in ns]],
            [[k, *[_cell(report, k, n) for n in ns]] for k in m],
        )
    )
    regions = report["target_regions"]
    parts += ["", "## Per region at n = 1,000 (NMSE, dB)", ""]
    parts.append(
        _table(
            ["method", *regions],
            [
                [k, *[_fmt(rec["by_n"].get("1000", {}).get("nmse_db", {}).get(r)) for r in regions]]
                for k, rec in m.items()
            ],
        )
    )
    parts += ["", f"## Alpha (n = {report['alpha_sweep_n']})", ""]
    by_alpha = report.get("alpha_sweep_nmse_db", {})
    if by_alpha:
        los, nlos = _los_nlos(report["target_regions"])
        rows = []
        for name, group in (("mean", report["target_regions"]), ("LOS", los), ("NLOS", nlos)):
            row = [name]
            for v in by_alpha.values():
                done = [r for r in group if r in v]
                part = f" ({len(done)}/{len(group)})" if 0 < len(done) < len(group) else ""
                row.append(f"{_avg(v, done):.2f}{part}" if done else "-")
            rows.append(row)
        parts.append(_table(["NMSE (dB)", *[f"alpha = {a}" for a in by_alpha]], rows))
    if report["e_lasco_alpha"]:
        parts += [
            "",
            "E-LASCO's learned alpha per region: "
            + ", ".join(f"{r}: {a:.2f}" for r, a in report["e_lasco_alpha"].items())
            + f" (mean {np.mean(list(report['e_lasco_alpha'].values())):.2f}).",
        ]
    seeds = report.get("seed_runs", {})
    if seeds:
        first = next(iter(seeds.values()))
        parts += [
            "",
            f"## Seeds (n = {first['n']})",
            "",
            f"Every cell above is one run with seed {first['seeds'][0]}. These methods were "
            f"rerun with seeds {', '.join(map(str, first['seeds'][1:]))}; only the order of "
            "the training batches changes.",
            "",
            _table(
                [
                    "method",
                    "regions",
                    f"mean NMSE, seed {first['seeds'][0]}",
                    "mean NMSE, mean of seeds",
                    "per-region std over seeds",
                    "largest range",
                ],
                [
                    [
                        k,
                        str(len(v["nmse_db"])),
                        f"{np.mean([x[0] for x in v['nmse_db'].values()]):.2f}",
                        f"{v['mean_nmse_db']:.2f}",
                        f"{v['seed_std_db']:.3f}",
                        f"{v['max_range_db']:.3f}",
                    ]
                    for k, v in seeds.items()
                ],
            ),
        ]
    mem = report["serving_memory_bytes"]
    parts += [
        "",
        "## Serving memory",
        "",
        f"K = {mem['k_envs']} environments: one LAM + reference + {mem['k_envs']} proxy SAMs "
        f"take {mem['lasco'] / 2**20:.1f} MiB of fp32 weights; {mem['k_envs']} fine-tuned LAM "
        f"copies take {mem['fine_tuned_lam_copies'] / 2**20:.1f} MiB "
        f"({mem['fine_tuned_lam_copies'] / mem['lasco']:.1f}x).",
        "",
        "## Findings",
        "",
        *findings(report),
        "",
        "## Figures",
        "",
        "![Mean test NMSE against the target training samples, per method](nmse_vs_n.png)",
        "",
        "![Validation NMSE per epoch at n = 1,000, mean over regions](convergence.png)",
        "",
        "![The alpha E-LASCO learns per region; LASCO's gain over the LAM alone against a "
        "fixed alpha](alpha.png)",
    ]
    return "\n".join(parts) + "\n"


def _paired(report: dict, n: str) -> tuple[list[str], dict[str, dict[str, float]]]:
    """The regions every method has finished at ``n`` and each method's NMSE on them, so
    that comparisons are paired even while the study is incomplete."""
    per = {k: rec["by_n"].get(n, {}).get("nmse_db", {}) for k, rec in report["methods"].items()}
    shared = [r for r in report["target_regions"] if all(r in v for v in per.values())]
    return shared, {k: {r: v[r] for r in shared} for k, v in per.items()}


def _avg(d: dict[str, float], regions: list[str] | None = None) -> float:
    vals = [d[r] for r in (regions if regions is not None else d)]
    return float(np.mean(vals)) if vals else float("nan")


def sign_test(wins: int, n: int) -> float:
    """Two-sided sign test: the chance of a split at least as uneven as ``wins`` of ``n``
    paired regions if neither method were better (each region a fair coin)."""
    k = min(wins, n - wins)
    return min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0


def _los_nlos(regions: list[str]) -> tuple[list[str], list[str]]:
    """The paper layout's target regions: even numbers are LOS, odd NLOS."""
    return [r for r in regions if int(r) % 2 == 0], [r for r in regions if int(r) % 2 == 1]


def _scope(shared: list[str], report: dict, who: str = "every method") -> str:
    total = len(report["target_regions"])
    return (
        f"all {total} target regions"
        if len(shared) == total
        else (
            f"the {len(shared)} of {total} regions {who} has finished so far ({', '.join(shared)})"
        )
    )


def findings(report: dict[str, Any]) -> list[str]:
    """One paragraph per finding, stated from the numbers (including where baselines win).

    Comparisons at one n use only the regions every method has finished (paired)."""
    out: list[str] = []
    m = report["methods"]
    shared, nm = _paired(report, "1000")
    if shared and "e-lasco" in nm and "lam-only" in nm:
        means = {k: _avg(v) for k, v in nm.items()}
        order = sorted(means, key=means.get)
        rank = order.index("e-lasco") + 1
        gain = means["lam-only"] - means["e-lasco"]
        out.append(
            f"- **Ranking at n = 1,000** over {_scope(shared, report)}: "
            + ", ".join(f"{k} {means[k]:.2f}" for k in order)
            + f" dB. E-LASCO ranks {rank} of {len(order)} and gains {gain:.2f} dB over the LAM "
            "alone."
        )
        wins = [k for k in order[: rank - 1] if means["e-lasco"] - means[k] >= 0.005]
        if wins:
            e_tp = m["e-lasco"].get("trainable_params") or 1
            lines = []
            for k in wins:
                beat = sum(nm[k][r] < nm["e-lasco"][r] for r in shared)
                tp = m[k].get("trainable_params") or 0
                q_k = quiet_seconds(report, k, regions=shared)
                q_e = quiet_seconds(report, "e-lasco", regions=shared)
                cost = f", {q_k / q_e:.1f}x its adaptation time" if q_k and q_e else ""
                lines.append(
                    f"{k} by {means['e-lasco'] - means[k]:.2f} dB (in {beat} of {len(shared)} "
                    f"regions, sign test p = {sign_test(beat, len(shared)):.3f}; {tp:,} "
                    f"trainable parameters, {tp / e_tp:.1f}x E-LASCO's{cost})"
                )
            out.append(
                "- **Where baselines win.** Better than E-LASCO at n = 1,000: "
                + "; ".join(lines)
                + "."
            )
        los, nlos = _los_nlos(shared)
        if los and nlos and "lam-finetune" in nm:

            def gains(k: str, regions: list[str]) -> float:
                return _avg(nm["lam-only"], regions) - _avg(nm[k], regions)

            out.append(
                f"- **LOS against NLOS.** Over the LAM alone, E-LASCO gains "
                f"{gains('e-lasco', los):.2f} dB in LOS regions ({', '.join(los)}) and "
                f"{gains('e-lasco', nlos):.2f} dB in NLOS regions ({', '.join(nlos)}); LAM "
                f"fine-tuning gains {gains('lam-finetune', los):.2f} and "
                f"{gains('lam-finetune', nlos):.2f} dB. NLOS at CR 1/4 is hard for every method: "
                f"the LAM alone reaches {_avg(nm['lam-only'], nlos):.2f} dB there against "
                f"{_avg(nm['lam-only'], los):.2f} dB in LOS."
            )
        if "lasco" in nm and "no-reference" in nm:
            d = means["no-reference"] - means["lasco"]
            better = sum(nm["lasco"][r] < nm["no-reference"][r] for r in shared)
            out.append(
                "- **The reference SAM.** LASCO "
                + (
                    f"beats the no-reference ablation by {d:.2f} dB"
                    if d > 0
                    else f"trails the no-reference ablation by {-d:.2f} dB"
                )
                + f" (better in {better} of {len(shared)} regions, sign test p = "
                f"{sign_test(better, len(shared)):.3f}): "
                + (
                    "subtracting f_ref helps here."
                    if d > 0
                    else "here the proxy learns the residual H - f_base as well without it."
                )
            )
        if "lasco" in nm:
            d = means["lasco"] - means["e-lasco"]
            alphas = report.get("e_lasco_alpha", {})
            out.append(
                f"- **Learned alpha.** E-LASCO is {d:+.2f} dB against LASCO (positive: E-LASCO "
                f"better) with alpha learned per region"
                + (
                    f" between {min(alphas.values()):.2f} and {max(alphas.values()):.2f} "
                    f"(mean {np.mean(list(alphas.values())):.2f}; the paper reports about "
                    f"{PAPER_ALPHA[0]} to {PAPER_ALPHA[1]}, {PAPER_ALPHA[2]} on average)"
                    if alphas
                    else ""
                )
                + "."
            )
        sam = m.get("lasco", {}).get("trainable_params")
        if sam and "sam-only" in nm and report.get("lam_params"):
            lam_p = report["lam_params"]
            out.append(
                f"- **Scale.** This LAM has {lam_p:,} parameters, so the proxy SAM ({sam:,}) is "
                f"{100 * sam / lam_p:.1f} % of it; the paper's LAM has about "
                f"{PAPER_LAM_PARAMS / 1e6:.0f} M, where the same SAM is "
                f"{100 * sam / PAPER_LAM_PARAMS:.2f} %. Here the LAM alone beats the SAM alone by "
                f"{means['sam-only'] - means['lam-only']:.2f} dB"
                + (
                    f", and fine-tuning it takes {q_ft / q_e:.1f}x E-LASCO's adaptation time"
                    if (q_ft := quiet_seconds(report, "lam-finetune", regions=shared))
                    and (q_e := quiet_seconds(report, "e-lasco", regions=shared))
                    else ""
                )
                + ". The parameter and time goals assume a LAM far larger than its plug-ins."
            )
    seeds = report.get("seed_runs", {})
    shared = [r for r in report["target_regions"] if all(r in v["nmse_db"] for v in seeds.values())]
    if len(seeds) > 1 and shared:
        mean = {
            k: _avg({r: float(np.mean(v["nmse_db"][r])) for r in shared}) for k, v in seeds.items()
        }
        order = sorted(mean, key=mean.__getitem__)
        noise = max(
            float(np.mean([np.std(v["nmse_db"][r], ddof=1) for r in shared]))
            for v in seeds.values()
        )
        n_seeds = len(next(iter(seeds.values()))["seeds"])
        gaps = [f"{a} against {b} {mean[b] - mean[a]:.3f} dB" for a, b in pairwise(order)]
        one = noise / np.sqrt(len(shared))  # a single-seed mean over the regions
        out.append(
            f"- **Seed noise** ({_scope(shared, report, 'every seed')}). Rerun with "
            f"{n_seeds} seeds, a region's NMSE has a standard deviation over seeds of up to "
            f"{noise:.3f} dB (mean over regions, the noisiest method), so a one-seed mean over "
            f"{len(shared)} regions carries about {one:.3f} dB of seed noise and a gap between "
            f"two such means about {np.sqrt(2) * one:.3f} dB. Averaged over the seeds, the "
            "order is "
            + ", ".join(f"{k} {mean[k]:.2f}" for k in order)
            + " dB; neighbours differ by "
            + "; ".join(gaps)
            + "."
        )
        smallest = min((mean[b] - mean[a] for a, b in pairwise(order)), default=0.0)
        if one > 0:
            ratio = smallest / (np.sqrt(2) * one)
            out[-1] += (
                f" The smallest gap is {ratio:.0f} times the seed noise of a gap, so the order "
                "is not an artefact of the seed (the test set is the same for every method)."
                if ratio >= 3
                else f" The smallest gap is within {max(ratio, 0):.1f} times the seed noise of "
                "a gap: the seed alone could reorder these methods."
            )
    cap = report["config"]["adapt"]["max_epochs"]
    capped = []
    for k, rec in m.items():
        curves = rec["by_n"].get("1000", {}).get("val_curve", {})
        hit = [r for r, c in curves.items() if len(c) - 1 >= cap and int(np.argmin(c)) >= cap - 5]
        if hit:
            capped.append(f"{k} in {len(hit)} of {len(curves)}")
    if capped:
        out.append(
            f"- **Still improving at the epoch cap.** At n = 1,000 these runs used all {cap} "
            f"epochs with their best validation NMSE in the last five: "
            + "; ".join(capped)
            + ". Their figures are what the paper's budget gives, not converged values."
        )
    jumps = []
    for k, rec in m.items():
        curves = [
            c for c in rec["by_n"].get("1000", {}).get("val_curve", {}).values() if len(c) > 1
        ]
        if curves:
            d = float(np.mean([c[1] - c[0] for c in curves]))
            if d > 0.1:
                jumps.append(f"{k} {d:+.2f} dB")
    if jumps:
        out.append(
            "- **The first epoch.** At n = 1,000 the first epoch makes the mean validation NMSE "
            "worse before training improves it: " + "; ".join(jumps) + " (epoch 1 against the "
            f"starting point, lr {report['config']['adapt'].get('lr')}). The final figures recover "
            "from it; see `convergence.png`."
        )
    rows = []
    for n in _sizes(report):
        sh, nmn = _paired(report, n)
        if sh and {"e-lasco", "lam-finetune", "lam-only"} <= set(nmn):
            means = {k: _avg(v) for k, v in nmn.items()}
            rank = sorted(means, key=means.__getitem__).index("e-lasco") + 1
            bits = [
                f"E-LASCO {means['lam-only'] - means['e-lasco']:+.2f} (rank {rank} of {len(means)})"
            ]
            if "no-reference" in means:
                ahead = sum(nmn["no-reference"][r] < nmn["e-lasco"][r] for r in sh)
                bits.append(
                    f"no-reference {means['lam-only'] - means['no-reference']:+.2f} "
                    f"(ahead of E-LASCO in {ahead} of {len(sh)})"
                )
            bits.append(f"LAM fine-tuning {means['lam-only'] - means['lam-finetune']:+.2f}")
            label = f"n = {n}" + (f" ({report['n_all']:,})" if n == "all" else "")
            rows.append(f"{label}: " + ", ".join(bits) + f" dB ({plural(len(sh), 'region')})")
    if len(rows) > 1:
        out.append(
            "- **Data efficiency.** Gains over the LAM alone, by target samples: "
            + "; ".join(rows)
            + "."
        )
    by_alpha = report.get("alpha_sweep_nmse_db", {})
    shared = [r for r in report["target_regions"] if all(r in v for v in by_alpha.values())]
    if by_alpha and shared:
        mean = {a: _avg(v, shared) for a, v in by_alpha.items()}
        best = min(mean, key=mean.__getitem__)
        text = (
            f"- **Alpha sweep** ({_scope(shared, report, 'every alpha')}). A fixed alpha is "
            f"best at {best} ({mean[best]:.2f} dB) and spans "
            f"{max(mean.values()) - mean[best]:.2f} dB over alpha = {', '.join(by_alpha)}"
        )
        los, nlos = _los_nlos(shared)
        per_group = [
            f"{name} {min(by_alpha, key=lambda a, g=group: _avg(by_alpha[a], g))}"
            for name, group in (("LOS", los), ("NLOS", nlos))
            if group
        ]
        if per_group:
            text += "; the best alpha is " + ", ".join(per_group)
        learned = report.get("e_lasco_alpha", {})
        e_nmse = report["methods"].get("e-lasco", {}).get("by_n", {})
        e_nmse = e_nmse.get(str(report["alpha_sweep_n"]), {}).get("nmse_db", {})
        if all(r in learned and r in e_nmse for r in shared):
            text += (
                f". E-LASCO, learning alpha per region (mean {_avg(learned, shared):.2f}), "
                f"reaches {_avg(e_nmse, shared):.2f} dB, "
                f"{abs(mean[best] - _avg(e_nmse, shared)):.2f} dB "
                f"{'better' if _avg(e_nmse, shared) < mean[best] else 'worse'} than the best "
                "fixed alpha"
            )
        out.append(text + ".")
    for g, ok, ev in goals(report):
        if ok is False:
            out.append(f"- **Goal not met:** {g} ({ev}).")
    return out


def _save(fig, path: Path) -> None:
    """Save and close ``fig`` atomically: shards that finish together may both write it."""
    import matplotlib.pyplot as plt

    atomic_write_bytes(path, lambda f: fig.savefig(f, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)


def _plots(report: dict[str, Any], folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    paths = []
    m = report["methods"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    total = len(report["target_regions"])  # means over partial region sets would mislead
    for k, rec in m.items():
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
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    paths.append(folder / "nmse_vs_n.png")
    _save(fig, paths[-1])

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k, rec in m.items():
        curves = list(rec["by_n"].get("1000", {}).get("val_curve", {}).values())
        if curves:
            length = max(len(c) for c in curves)
            padded = np.array([c + [c[-1]] * (length - len(c)) for c in curves])
            ax.plot(padded.mean(0), label=k)
    ax.set(
        xlabel="epoch",
        ylabel="validation NMSE (dB), mean over regions",
        title="Convergence at n = 1,000",
    )
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    paths.append(folder / "convergence.png")
    _save(fig, paths[-1])

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    colour = {"all": "k", "LOS": "C0", "NLOS": "C1"}
    alpha = report["e_lasco_alpha"]
    los, nlos = _los_nlos(list(alpha))
    a1.bar(
        list(alpha),
        list(alpha.values()),
        color=[colour["LOS" if r in los else "NLOS"] for r in alpha],
    )
    a1.axhline(1.0, color="grey", ls=":", lw=1)
    a1.set(title="E-LASCO's learned alpha per region", xlabel="region", ylabel="alpha")
    if alpha:
        a1.legend(
            handles=[Patch(color=colour[k], label=k) for k in ("LOS", "NLOS")],
            fontsize=8,
            loc="upper right",
            ncol=2,
        )
        a1.set_ylim(0, max(1.0, *alpha.values()) * 1.2)
    # Gains over the LAM alone put LOS and NLOS (7 dB apart in NMSE) on one scale.
    by_alpha = report.get("alpha_sweep_nmse_db", {})
    regions = report["target_regions"]
    n_key = str(report["alpha_sweep_n"])
    lam = m.get("lam-only", {}).get("by_n", {}).get(n_key, {}).get("nmse_db", {})
    e_nmse = m.get("e-lasco", {}).get("by_n", {}).get(n_key, {}).get("nmse_db", {})
    los, nlos = _los_nlos(regions)
    for name, group in (("all", regions), ("LOS", los), ("NLOS", nlos)):
        if not all(r in lam for r in group):
            continue
        pts = [
            (float(a), _avg(lam, group) - _avg(v, group))
            for a, v in by_alpha.items()
            if all(r in v for r in group)
        ]
        if pts:
            a2.plot(
                *zip(*pts, strict=True),
                "-" if name == "all" else "--",
                color=colour[name],
                marker="o",
                label=f"fixed alpha, {name}",
            )
        if pts and all(r in alpha and r in e_nmse for r in group):
            a2.plot(
                [_avg(alpha, group)],
                [_avg(lam, group) - _avg(e_nmse, group)],
                "*",
                color=colour[name],
                ms=13,
                label=f"E-LASCO (mean learned alpha), {name}",
            )
    if a2.get_legend_handles_labels()[0]:
        a2.legend(fontsize=7)
    else:
        a2.text(
            0.5,
            0.5,
            "sweep not finished in every region yet",
            ha="center",
            va="center",
            transform=a2.transAxes,
            color="grey",
        )
    a2.set(
        title=f"LASCO with a fixed alpha (n = {n_key})",
        xlabel="alpha",
        ylabel="mean NMSE gain over the LAM alone (dB)",
    )
    a2.grid(alpha=0.3)
    paths.append(folder / "alpha.png")
    _save(fig, paths[-1])
    return paths


def write_study(report: dict[str, Any], json_path: str | Path, meta: dict[str, Any]) -> list[Path]:
    """Write ``report`` (plus ``meta``) as JSON, the Markdown report and the figures."""
    json_path = Path(json_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(dict(report, meta=meta), indent=1) + "\n"
    atomic_write_bytes(json_path, lambda f: f.write(text.encode()))
    md = json_path.with_suffix(".md")
    atomic_write_bytes(md, lambda f: f.write(markdown(report, meta).encode()))
    return [json_path, md, *_plots(report, json_path.parent)]
