"""The augmentation table: each method adapted with and without phase-rotation views, as a
share of LAM fine-tuning's gain without them and with them.

The augmented report (``--preset augmented``) holds the LAM alone, the plug-ins and LAM
fine-tuning adapted on the same 1,000 samples per region as the comparison, each in
``phase_views`` common-phase rotations (lasco.channels.phase_views). The comparison's
report gives the same methods without views (the same LAM, regions, splits and n: the
capacity table's checks refuse reports that differ). Two shares per method: of plain
fine-tuning's gain (what augmentation buys a plug-in) and of augmented fine-tuning's
(the fair one: both sides saw the same data). Writes JSON, Markdown and a PNG.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lasco.errors import DataError
from studies.capacity import check_pairs, check_report, headline_nmse, pct, read_json
from studies.plots import save_figure, write_report
from studies.report.comparisons import sign_test
from studies.report.measures import by_n, headline, quiet_seconds
from studies.summary import share_of_finetune

__all__ = ["augment_markdown", "augment_summary", "write_augment"]

HALF = 0.5  # the goal: a plug-in that recovers half of fine-tuning's gain


def _seconds(report: dict[str, Any], method: str) -> float | None:
    return by_n(report, method, headline(report)).get("train_seconds")


def _at_cap(report: dict[str, Any], method: str) -> int:
    return int(by_n(report, method, headline(report)).get("at_cap") or 0)


def _views(report: dict[str, Any]) -> int:
    return int(report.get("config", {}).get("phase_views", 1))


def augment_summary(
    augmented: dict[str, Any], comparison: dict[str, Any], ceiling: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One row per trained method of ``augmented`` (an augmented study's report JSON), with
    its share of plain and of augmented fine-tuning's gain; ``comparison``: the comparison's
    report JSON (the plain runs); ``ceiling``: another augmented report (same regions and
    views) whose fine-tuning runs are the ceiling, for a report that has none of its own."""
    check_report(comparison, "the comparison")
    check_report(augmented, "the augmented report")
    check_pairs(augmented, comparison, "the augmented report")
    views = _views(augmented)
    if views < 2:
        raise DataError("the augmented report has no phase views: run --preset augmented")
    if _views(comparison) > 1:
        raise DataError("the comparison has phase views: give the report of the runs without")
    top = ceiling or augmented
    if ceiling is not None:
        check_report(ceiling, "the ceiling")
        check_pairs(augmented, ceiling, "the augmented report (against the ceiling)")
        if _views(ceiling) != views:
            raise DataError(f"the ceiling has {_views(ceiling)} phase views, not {views}")
    roles = augmented["roles"]
    ft, base = roles["full_finetune"], roles["base"]
    regions, los = augmented["target_regions"], augmented["target_los"]
    lam, ft_plain, ft_aug = (
        headline_nmse(augmented, base),
        headline_nmse(comparison, ft),
        headline_nmse(top, ft),
    )
    if not ft_plain:
        raise DataError(f"the comparison has no {ft} at n = {comparison['headline_n']} yet")
    if ceiling is None and ft not in augmented["methods"]:
        raise DataError(f"no {ft} with views: give --ceiling, an augmented report that has it")
    if ceiling is not None and ft in augmented["methods"]:
        raise DataError(f"the augmented report has its own {ft}: leave out --ceiling")
    ft_seconds, ft_quiet = _seconds(top, ft), quiet_seconds(top, ft)
    methods = [(k, augmented) for k in augmented["methods"] if k != base]
    if ceiling is not None:  # the report has no fine-tuning of its own (checked above)
        methods.append((ft, ceiling))
    rows = []
    for key, source in methods:
        rec = source["methods"][key]
        if not rec.get("trainable_params"):
            continue
        aug, plain = headline_nmse(source, key), headline_nmse(comparison, key)
        seconds, quiet = _seconds(source, key), quiet_seconds(source, key)
        rows.append(
            {
                "method": key,
                "label": rec.get("label", key),
                "trainable_params": rec["trainable_params"],
                "lam_params": augmented["lam_params"],
                # without views on the regions it has with them: the two compare directly
                "plain": share_of_finetune(
                    plain, lam, ft_plain, [g for g in regions if g in aug], los
                ),
                "augmented_of_plain": share_of_finetune(aug, lam, ft_plain, regions, los),
                "augmented": share_of_finetune(aug, lam, ft_aug, regions, los),
                "train_seconds": seconds,
                "seconds_of_finetune": (
                    round(seconds / ft_seconds, 4) if seconds and ft_seconds else None
                ),
                # epochs times the back-to-back benchmark's seconds per epoch
                "quiet_of_finetune": round(quiet / ft_quiet, 4) if quiet and ft_quiet else None,
                "at_cap": _at_cap(source, key),
                "max_epochs": source.get("config", {}).get("adapt", {}).get("max_epochs"),
                "nmse_db": aug,
                "plain_nmse_db": plain,
            }
        )
    summary = {
        "n": augmented["headline_n"],
        "phase_views": views,
        "regions": regions,
        "full_finetune": ft,
        "proposed": roles["proposed"],
        "new_plugins": roles.get("new_plugins", []),
        "ceiling": ceiling is not None,
        "rows": rows,
    }
    summary["findings"] = augment_findings(summary)
    return summary


def _fraction(part: dict[str, Any] | None) -> float | None:
    return None if not part or "all" not in part else part["all"]["fraction"]


def augment_findings(summary: dict[str, Any]) -> list[str]:
    """What the table says, in sentences: what the views buy each method, which plug-in
    reaches half of augmented fine-tuning's gain, and the new plug-ins against the
    proposed one on the regions both have (sign test)."""
    out, rows = [], {r["method"]: r for r in summary["rows"]}
    views, ft = summary["phase_views"], summary["full_finetune"]
    for r in summary["rows"]:
        before, after = _fraction(r["plain"]), _fraction(r["augmented_of_plain"])
        if before is None or after is None:
            continue
        fair = _fraction(r["augmented"])
        tail = ""
        if r["method"] != ft and fair is not None:
            tail = f"; {100 * fair:.0f} % of {ft}'s with views"
        done = r["augmented_of_plain"]["regions"]
        out.append(
            f"{r['label']}: {100 * before:.0f} % of plain {ft}'s gain without views, "
            f"{100 * after:.0f} % with {views} ({done} regions){tail}."
        )
    p = rows.get(summary["proposed"])
    for key in summary["new_plugins"]:
        if key not in rows or p is None:
            continue
        mine, theirs = rows[key]["nmse_db"], p["nmse_db"]
        shared = [g for g in summary["regions"] if g in mine and g in theirs]
        if not shared:
            continue
        wins = sum(mine[g] < theirs[g] for g in shared)
        diff = sum(theirs[g] - mine[g] for g in shared) / len(shared)
        out.append(
            f"With views, {rows[key]['label']} against {p['label']}: {diff:+.2f} dB, better "
            f"in {wins} of {len(shared)} regions, sign test p = {sign_test(wins, len(shared)):.3f}."
        )
    reach = [
        r["label"]
        for r in summary["rows"]
        if r["method"] != ft and (_fraction(r["augmented"]) or 0) >= HALF
    ]
    out.append(
        f"Plug-ins at or above {100 * HALF:.0f} % of augmented {ft}'s gain: "
        + (", ".join(reach) if reach else "none")
        + "."
    )
    return out


def augment_markdown(summary: dict[str, Any], figure: str = "augment.png") -> str:
    """The table as Markdown, with how to read it (``figure``: the PNG beside it)."""
    ft, views = summary["full_finetune"], summary["phase_views"]
    where = " (its runs from the ceiling report)" if summary.get("ceiling") else " in the same run"
    lines = [
        "# Phase-rotation augmentation",
        "",
        f"Each method adapted at n = {summary['n']:,} with every training sample in {views} "
        "common-phase views, one drawn per sample and epoch (the same optimiser steps as "
        f"without; `make augmented`), against the comparison's runs without "
        f"views. Shares are of {ft}'s mean gain over the LAM alone on the same regions: "
        f"plain (without views) and augmented (with them, the fair ceiling), each over the "
        f"regions in brackets. Seconds: mean adaptation time with views, and as a share of "
        f"augmented {ft}'s mean{where}; quiet: the same share as a quiet machine would take "
        "it (each run's epochs times the back-to-back benchmark's seconds per epoch). At cap: "
        "runs that ended at the epoch cap (the cap in brackets).",
        "",
        "| method | trainable (% LAM) | plain: share of plain FT | views: share of plain FT "
        "| views: share of FT with views | LOS | NLOS | seconds (% FT) | at cap |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def share(part: dict[str, Any] | None) -> str:
        return "-" if not part else f"{pct(part.get('all'))} ({part['regions']})"

    for r in summary["rows"]:
        aug = r["augmented"] or {}
        secs = "-" if r["train_seconds"] is None else f"{r['train_seconds']:.0f}"
        if r["seconds_of_finetune"] is not None:
            secs += f" ({100 * r['seconds_of_finetune']:.0f} %)"
        if r.get("quiet_of_finetune") is not None:
            secs += f"; quiet {100 * r['quiet_of_finetune']:.0f} %"
        lines.append(
            f"| {r['method']} | {r['trainable_params']:,} "
            f"({100 * r['trainable_params'] / r['lam_params']:.1f} %) "
            f"| {share(r['plain'])} | {share(r['augmented_of_plain'])} | {share(r['augmented'])} "
            f"| {pct(aug.get('los'))} | {pct(aug.get('nlos'))} | {secs} | {r['at_cap']}"
            + (f" ({r['max_epochs']})" if r.get("max_epochs") else "")
            + " |"
        )
    if not summary["rows"]:
        lines.append("| (no method has finished a region yet) | | | | | | | | |")
    lines += ["", *(f"- {f}" for f in summary["findings"])]
    lines += ["", f"![share of fine-tuning's gain with and without views]({figure})", ""]
    return "\n".join(lines)


def _plot(summary: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = summary["rows"]
    cols = (
        ("plain", "without views"),
        ("augmented_of_plain", f"{summary['phase_views']} views, of plain FT"),
        ("augmented", f"{summary['phase_views']} views, of FT with views"),
    )
    fig, ax = plt.subplots(figsize=(7, 4.2))
    x = np.arange(len(rows))
    for i, (key, name) in enumerate(cols):
        vals = [_fraction(r[key]) for r in rows]
        shown = [(xi, 100 * v) for xi, v in zip(x, vals, strict=True) if v is not None]
        if shown:  # a missing share is no bar, not a 0 % one
            xs, ys = zip(*shown, strict=True)
            ax.bar(np.array(xs) + (i - 1) * 0.27, ys, 0.27, label=name)
    ax.axhline(100 * HALF, ls=":", color="grey", lw=1)
    ax.set_xticks(x, [r["method"] for r in rows])
    ax.set(
        ylabel=f"share of {summary['full_finetune']}'s gain (%)",
        title=f"Phase-rotation augmentation, n = {summary['n']:,}",
    )
    ax.grid(alpha=0.3, axis="y")
    return save_figure(fig, ax, path)


def write_augment(
    augmented_path: str | Path,
    comparison_path: str | Path,
    out: str | Path,
    ceiling_path: str | Path | None = None,
) -> list[Path]:
    """Read the augmented and the comparison's reports (and the ceiling's, if given), write
    ``out`` (JSON) and the Markdown and PNG beside it; returns the written paths."""
    augmented = read_json(Path(augmented_path), "augmented report (--preset augmented)")
    comparison = read_json(Path(comparison_path), "comparison report (make study writes it)")
    ceiling = None if ceiling_path is None else read_json(Path(ceiling_path), "ceiling report")
    summary = augment_summary(augmented, comparison, ceiling)
    return write_report(summary, out, _plot, augment_markdown)
