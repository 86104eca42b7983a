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
    return (
        "Written by `python -m studies experiment --preset study`. LAM: "
        f"`{meta.get('lam_preset')}` ({report['lam_params']:,} parameters), reference SAM "
        f"`{meta.get('sam_preset')}` ({report['sam_params']:,}); projection "
        f"`{meta.get('projection_id')}`{ratio}. Targets: regions "
        f"{', '.join(report['target_regions'])} of the paper layout (odd NLOS, even LOS), "
        f"{cfg['samples_per_target']} channels each, split 8:1:1; 'all' is "
        f"n = {report['n_all']}. Adaptation: lr {adapt['lr']} (LAM weights "
        f"{adapt['lam_lr']}), at most {adapt['max_epochs']} epochs, early stop after "
        f"{adapt['patience']} without validation gain; one run per cell (seed "
        f"{adapt.get('seed', 0)}), so region counts carry a sign test rather than error "
        f"bars{seeds}. Mean NMSE is the mean over regions of each region's test NMSE in dB. "
        f"Cells done: {report['cells_done']} of {report['cells_total']}. The proposed method "
        f"is {label(report, role(report, 'proposed'))}."
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


def _timing_note(report: dict[str, Any]) -> str:
    n, timing = headline(report), report.get("adapt_timing")
    note = (
        f"`s/adapt ({n})` is the mean wall time the study's runs took; they ran for hours "
        "beside other work on a 2-core machine, so they are noisy. "
    )
    if not timing:
        return note + (
            "Run `python -m benchmarks adapt --json reports/bench_adapt.json` on a quiet "
            "machine for a per-epoch time of each method measured back to back."
        )
    return note + (
        "`s/adapt, quiet est.` is the study's mean epochs times the seconds per epoch that "
        "`python -m benchmarks adapt` measured for each method back to back in one run "
        f"(region {timing['region']}, n = {timing['n']}, {timing['epochs']} epochs each, "
        f"commit `{str(timing.get('commit', '?'))[:8]}`); the plug-in methods' one-off LAM "
        "and reference outputs (one forward pass over the data) are in neither."
    )


def _alpha(report: dict[str, Any]) -> list[str]:
    parts = ["", f"## Alpha (n = {report['alpha_sweep_n']})", ""]
    by_alpha = report.get("alpha_sweep_nmse_db", {})
    if by_alpha:
        regions = report["target_regions"]
        los, nlos = los_nlos(regions)
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


def _figures(report: dict[str, Any]) -> list[str]:
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
        out += ["", f"![{caption}]({name})"]
    return out


def markdown(report: dict[str, Any], meta: dict[str, Any]) -> str:
    """The report as Markdown; ``meta`` names the models (presets, projection)."""
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
        *_figures(report),
    ]
    return "\n".join(parts) + "\n"
