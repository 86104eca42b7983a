"""The study's readable report: setup, tables, goals, findings and figures, in Markdown."""

from __future__ import annotations

from typing import Any

import numpy as np

from studies.report.figures import FIGURES
from studies.report.findings import findings
from studies.report.goals import goals
from studies.report.measures import avg, by_n, headline, label, los_nlos, quiet_seconds, role
from studies.report.measures import sizes as report_sizes
from studies.text import or_dash, size

__all__ = ["markdown", "table"]


def table(head: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _cell(report: dict[str, Any], method: str, n: str) -> str:
    """A table cell: the mean NMSE, with ``(k/10)`` while regions are missing."""
    entry = by_n(report, method, n)
    if not entry:
        return "-"
    done, total = entry.get("regions_done", 0), len(report["target_regions"])
    return f"{entry['mean_nmse_db']:.2f}" + ("" if done == total else f" ({done}/{total})")


def _setup(report: dict[str, Any], meta: dict[str, Any]) -> str:
    cfg, adapt = report["config"], report["config"]["adapt"]
    ratio = f" (compression ratio {meta['ratio']})" if meta.get("ratio") else ""
    seeds = (
        " (the Seeds section reruns some methods with more seeds to size the seed noise)"
        if report.get("seed_runs")
        else ""
    )
    grid = cfg.get("lr_grid") or []
    if len(grid) > 1:
        tuning = (
            report.get("tuning_regions") or cfg.get("tune_targets") or report["target_regions"][:2]
        )
        rates = (
            f"the learning rate of each method (all its parameters at one rate) chosen from "
            f"{', '.join(f'{g:g}' for g in grid)} by the mean validation NMSE of trials at "
            f"n = {size(headline(report))} on regions {', '.join(tuning)}"
        )
    elif grid:
        rates = f"learning rate {grid[0]:g} for every parameter"
    else:
        rates = f"lr {adapt['lr']} (LAM weights {adapt['lam_lr']})"
    warm = adapt.get("warmup_epochs", 0)
    warmup = f", a {warm}-epoch linear warm-up" if warm else ""
    return (
        f"Written by `python -m studies experiment --preset {meta.get('preset', 'study')}`. "
        f"LAM: `{meta.get('lam_preset')}` ({report['lam_params']:,} parameters), reference SAM "
        f"`{meta.get('sam_preset')}` ({report['sam_params']:,}); projection "
        f"`{meta.get('projection_id')}`{ratio}. Targets: {_targets(report)}, "
        f"{cfg['samples_per_target']} channels each, split 8:1:1; 'all' is "
        f"n = {report['n_all']}. Adaptation: {rates}, at most {adapt['max_epochs']} "
        f"epochs{warmup}, early stop after {adapt['patience']} without validation gain; one "
        f"run per cell (seed {adapt.get('seed', 0)}), so region counts carry a sign test "
        f"rather than error bars{seeds}. Mean NMSE is the mean over regions of each region's "
        f"test NMSE in dB. Cells done: {report['cells_done']} of {report['cells_total']}. "
        f"The proposed method is {label(report, role(report, 'proposed'))}."
    )


def _targets(report: dict[str, Any]) -> str:
    regions = ", ".join(report["target_regions"])
    if report.get("catalogue", "paper") == "paper":
        return f"regions {regions} of the paper layout (odd NLOS, even LOS)"
    los, nlos = los_nlos(report["target_regions"], report)
    return (
        f"{regions} of the `{report['catalogue']}` catalogue (LOS: {', '.join(los)}; "
        f"NLOS: {', '.join(nlos)})"
    )


def _headline_table(report: dict[str, Any]) -> str:
    n, lam_p = headline(report), report["lam_params"]
    rows = []
    for k, rec in report["methods"].items():
        entry, tp = by_n(report, k, n), rec["trainable_params"]
        costs = (
            ["-"] * 4  # nothing is trained: no time, epochs or FLOPs to report
            if not tp
            else [
                or_dash(entry.get("train_seconds"), ".1f"),
                or_dash(quiet_seconds(report, k), ".1f"),
                or_dash(entry.get("epochs_to_95"), ".1f"),
                or_dash(entry["train_flops"] / 1e12 if entry else None, ".3f"),
            ]
        )
        rows.append(
            [
                k,
                _cell(report, k, n),
                or_dash(entry.get("mean_gcs"), ".3f"),
                _cell(report, k, "all"),
                "-" if tp is None else f"{tp:,}",
                "-" if tp is None else f"{100 * tp / lam_p:.2f}",
                *costs,
                f"{entry.get('regions_done', 0)}/{len(report['target_regions'])}",
            ]
        )
    head = [f"NMSE n={n}", f"GCS n={n}", "NMSE all", "trainable", "% LAM", f"s/adapt ({n})"]
    head += ["s/adapt, quiet est.", "epochs to 95 %", f"train TFLOP ({n})", f"regions ({n})"]
    return table(["method", *head], rows)


def _share(part: dict[str, Any] | None) -> str:
    if not part or part.get("fraction") is None:
        return "-"
    return f"{100 * part['fraction']:.0f} %"


def _recovery(report: dict[str, Any]) -> list[str]:
    """Each method's gain over the base role as a share of the full-fine-tuning role's,
    with the rate validation chose and the runs the epoch cap ended."""
    rec = report.get("recovery", {})
    if not rec:
        return []
    n, lam_p = headline(report), report["lam_params"]
    ft = role(report, "full_finetune")
    ft_t = quiet_seconds(report, ft) or by_n(report, ft, n).get("train_seconds")
    rows = []
    for k, info in report["methods"].items():
        at_n = rec.get(n, {}).get(k)
        if at_n is None:
            continue
        at_all = rec.get("all", {}).get(k, {})
        entry, tp = by_n(report, k, n), info.get("trainable_params") or 0
        own_t = quiet_seconds(report, k) or entry.get("train_seconds")
        rows.append(
            [
                k,
                f"{at_n['all']['gain_db']:+.2f}",
                f"{at_all['all']['gain_db']:+.2f}" if at_all.get("all") else "-",
                _share(at_n.get("all")),
                _share(at_n.get("los")),
                _share(at_n.get("nlos")),
                f"{tp:,} ({100 * tp / lam_p:.1f} %)" if tp else "-",
                or_dash(own_t, ".1f") if tp else "-",
                f"{100 * own_t / ft_t:.0f} %" if tp and own_t and ft_t else "-",
                "-" if info.get("lr") is None else f"{info['lr']:g}",
                str(entry.get("at_cap", "-")),
            ]
        )
    head = [
        "method",
        f"gain n={n} (dB)",
        "gain all (dB)",
        "share of FT gain",
        "LOS",
        "NLOS",
        "trainable (% LAM)",
        "s/adapt",
        "% of FT time",
        "lr",
        f"runs at the cap (n={n})",
    ]
    return [
        "",
        f"## Share of {label(report, ft)}'s gain (n = {size(n)})",
        "",
        f"Gain: mean test NMSE improvement over {label(report, role(report, 'base'))} in dB, "
        f"on the regions done for both; share: that gain over {label(report, ft)}'s at the "
        "same n, over all target regions and LOS / NLOS apart."
        + (
            " `lr`: the rate validation chose from the common grid."
            if len(report["config"].get("lr_grid") or []) > 1
            else ""
        )
        + " Runs at the cap ended at the epoch cap, not by patience (- where not recorded).",
        "",
        table(head, rows),
    ]


def _timing_note(report: dict[str, Any]) -> str:
    n, timing = headline(report), report.get("adapt_timing")
    note = (
        f"`s/adapt ({n})` is the mean wall time the study's runs took; they ran for hours "
        "beside other work on a 2-core machine, so they are noisy. "
    )
    if not timing:
        return note + (
            "Run `python -m benchmarks adapt --json reports/NAME-bench_adapt.json` (NAME: "
            "this report's, or `bench_adapt.json` for every report) on a quiet machine for a "
            "per-epoch time of each method measured back to back."
        )
    return note + (
        "`s/adapt, quiet est.` is the study's mean epochs times the seconds per epoch that "
        "`python -m benchmarks adapt` measured for each method back to back in one run "
        f"(region {timing['region']}, n = {timing['n']}, {timing['epochs']} epochs each, "
        f"commit `{str(timing.get('commit', '?'))[:8]}`); the plug-in methods' one-off LAM "
        "and reference outputs (one forward pass over the data) are in neither."
    )


def _alpha(report: dict[str, Any]) -> list[str]:
    if not report.get("alpha_sweep_nmse_db") and not report["e_lasco_alpha"]:
        return []
    parts = ["", f"## Alpha (n = {report['alpha_sweep_n']})", ""]
    by_alpha = report.get("alpha_sweep_nmse_db", {})
    if by_alpha:
        regions = report["target_regions"]
        los, nlos = los_nlos(regions, report)
        rows = []
        for name, group in (("mean", regions), ("LOS", los), ("NLOS", nlos)):
            row = [name]
            for v in by_alpha.values():
                done = [r for r in group if r in v]
                part = f" ({len(done)}/{len(group)})" if 0 < len(done) < len(group) else ""
                row.append(f"{avg(v, done):.2f}{part}" if done else "-")
            rows.append(row)
        parts.append(table(["NMSE (dB)", *[f"alpha = {a}" for a in by_alpha]], rows))
    learned = report["e_lasco_alpha"]
    if learned:
        parts += [
            "",
            f"{label(report, role(report, 'learned_alpha'))}'s learned alpha per region: "
            + ", ".join(f"{r}: {a:.2f}" for r, a in learned.items())
            + f" (mean {np.mean(list(learned.values())):.2f}).",
        ]
    return parts


def _seeds(report: dict[str, Any]) -> list[str]:
    seeds = report.get("seed_runs", {})
    if not seeds:
        return []
    first = next(iter(seeds.values()))
    s0 = first["seeds"][0]
    rows = [
        [
            k,
            str(len(v["nmse_db"])),
            f"{np.mean([x[0] for x in v['nmse_db'].values()]):.2f}",
            f"{v['mean_nmse_db']:.2f}",
            f"{v['seed_std_db']:.3f}",
            f"{v['max_range_db']:.3f}",
        ]
        for k, v in seeds.items()
    ]
    head = ["method", "regions", f"mean NMSE, seed {s0}", "mean NMSE, mean of seeds"]
    head += ["per-region std over seeds", "largest range"]
    return [
        "",
        f"## Seeds (n = {first['n']})",
        "",
        f"Every cell above is one run with seed {s0}. These methods were rerun with seeds "
        f"{', '.join(map(str, first['seeds'][1:]))}; only the order of the training batches "
        "changes.",
        "",
        table(head, rows),
    ]


def _memory(report: dict[str, Any]) -> str:
    mem = report["serving_memory_bytes"]
    k = mem["k_envs"]
    return (
        f"K = {k} environments: one LAM + reference + {k} proxy SAMs take "
        f"{mem['lasco'] / 2**20:.1f} MiB of fp32 weights; {k} fine-tuned LAM copies take "
        f"{mem['fine_tuned_lam_copies'] / 2**20:.1f} MiB "
        f"({mem['fine_tuned_lam_copies'] / mem['lasco']:.1f}x)."
    )


def _figures(report: dict[str, Any], prefix: str) -> list[str]:
    learned = label(report, role(report, "learned_alpha"))
    fixed = label(report, role(report, "fixed_alpha"))
    base = label(report, role(report, "base"))
    captions = (
        "Mean test NMSE against the target training samples, per method",
        f"Validation NMSE per epoch at n = {size(headline(report))}, mean over regions",
        f"The alpha {learned} learns per region; {fixed}'s gain over {base} against a fixed alpha",
    )
    out: list[str] = []
    for caption, name in zip(captions, FIGURES, strict=True):
        out += ["", f"![{caption}]({prefix}{name})"]
    return out


def markdown(report: dict[str, Any], meta: dict[str, Any], prefix: str = "") -> str:
    """The report as Markdown; ``meta`` names the models (presets, projection), ``prefix``
    starts the figures' file names."""
    methods, ns, n = report["methods"], report_sizes(report), headline(report)
    regions = report["target_regions"]
    goal_rows = [
        [g, {True: "yes", False: "no", None: "pending"}[ok], ev] for g, ok, ev in goals(report)
    ]
    efficiency = [[k, *[_cell(report, k, s) for s in ns]] for k in methods]
    per_region = [
        [k, *[or_dash(by_n(report, k, n).get("nmse_db", {}).get(r)) for r in regions]]
        for k in methods
    ]
    parts = [
        "# Adaptation study",
        "",
        _setup(report, meta),
        "",
        "## Headline",
        "",
        _headline_table(report),
        "",
        _timing_note(report),
        *_recovery(report),
        "",
        "## Goals",
        "",
        table(["goal", "met", "evidence"], goal_rows),
        "",
        "## Data efficiency (mean NMSE, dB)",
        "",
        table(["method", *[f"n={s}" for s in ns]], efficiency),
        "",
        f"## Per region at n = {size(n)} (NMSE, dB)",
        "",
        table(["method", *regions], per_region),
        *_alpha(report),
        *_seeds(report),
        "",
        "## Serving memory",
        "",
        _memory(report),
        "",
        "## Findings",
        "",
        *findings(report),
        "",
        "## Figures",
        *_figures(report, prefix),
    ]
    return "\n".join(parts) + "\n"
