"""The capacity sweep's table: each plug-in's gain over the LAM alone with a reference SAM of
each size, as a share of LAM fine-tuning's gain, against its trainable parameters.

Each capacity report (``--preset capacity --json reports/capacity-PRESET.json``) holds the
LAM alone and the plug-ins adapted with one reference SAM size; full fine-tuning does not
depend on the reference, so its per-region NMSE comes from the comparison's report (the same
LAM, target regions, splits and headline n: a check refuses reports that differ). Writes
JSON, Markdown and a PNG of the share against the trainable parameters.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lasco.errors import ConfigError, DataError
from studies.plots import save_figure, write_report
from studies.summary import share_of_finetune

__all__ = [
    "capacity_findings",
    "capacity_markdown",
    "capacity_summary",
    "check_pairs",
    "check_report",
    "headline_nmse",
    "pct",
    "read_json",
    "write_capacity",
]

_SAME = ("target_regions", "headline_n", "n_all", "target_los")
_KEYS = ("methods", "roles", "meta", "target_regions", "target_los", "headline_n", "lam_params")
_LAM_AGREES_DB = 1e-3  # the same LAM on the same split gives the same test NMSE


def headline_nmse(report: dict[str, Any], method: str) -> dict[str, float]:
    """A method's test NMSE (dB) per region at the report's headline n."""
    n = str(report["headline_n"])
    return report["methods"].get(method, {}).get("by_n", {}).get(n, {}).get("nmse_db", {})


def check_report(report: Any, name: str) -> None:
    """DataError naming ``name`` unless ``report`` is a study report's JSON."""
    if not isinstance(report, dict) or (missing := [k for k in _KEYS if k not in report]):
        what = "not a JSON object" if not isinstance(report, dict) else f"no {missing}"
        raise DataError(f"{name}: not a study report ({what})")


def check_pairs(report: dict[str, Any], comparison: dict[str, Any], name: str) -> None:
    """A report paired with the comparison must share its LAM, regions, splits and n."""
    for key in _SAME:
        if report.get(key) != comparison.get(key):
            raise ConfigError(
                f"{name}: {key} {report.get(key)!r} differs from the comparison's "
                f"{comparison.get(key)!r}; its gains cannot be paired with that fine-tuning"
            )
    mine, theirs = report["meta"].get("lam_sha256"), comparison["meta"].get("lam_sha256")
    if mine and theirs and mine != theirs:
        raise ConfigError(f"{name}: another LAM than the comparison's (ONNX sha256 differs)")
    lam, their_lam = (
        headline_nmse(report, report["roles"]["base"]),
        headline_nmse(comparison, "lam-only"),
    )
    for r in sorted(set(lam) & set(their_lam)):
        if abs(lam[r] - their_lam[r]) > _LAM_AGREES_DB:
            raise ConfigError(
                f"{name}: the LAM alone scores {lam[r]:.4f} dB on region {r}, the "
                f"comparison's {their_lam[r]:.4f} dB: another LAM, projection or split"
            )


def capacity_summary(
    reports: dict[str, dict[str, Any]], comparison: dict[str, Any]
) -> dict[str, Any]:
    """``reports``: capacity report JSONs by name (e.g. their paths); ``comparison``: the
    comparison's report JSON. Returns one row per (method, reference size), ordered by
    method then reference size, each with the gain, the share of fine-tuning's gain (all,
    LOS, NLOS), the trainable parameters and the regions it covers."""
    check_report(comparison, "the comparison")
    full_key = comparison["roles"]["full_finetune"]
    full = headline_nmse(comparison, full_key)
    if not full:
        raise DataError(
            f"the comparison has no {full_key} at n = {comparison['headline_n']} yet: "
            "there is no gain to share"
        )
    rows: list[dict[str, Any]] = []
    for name, report in reports.items():
        check_report(report, name)
        check_pairs(report, comparison, name)
        base = report["roles"]["base"]
        lam = headline_nmse(report, base)
        for key, rec in report["methods"].items():
            if key == base or not rec.get("trainable_params"):
                continue
            own = headline_nmse(report, key)
            share = share_of_finetune(
                own, lam, full, report["target_regions"], report["target_los"]
            )
            if share is None:
                continue
            rows.append(
                {
                    "method": key,
                    "label": rec.get("label", key),
                    "reference": report["meta"].get("sam_preset"),
                    "reference_params": report.get("sam_params", 0),
                    "trainable_params": rec["trainable_params"],
                    "lam_params": report["lam_params"],
                    "report": name,
                    "nmse_db": own,
                    "lam_nmse_db": lam,
                    **share,
                }
            )
    rows.sort(key=lambda r: (r["method"], r["reference_params"]))
    summary = {
        "n": comparison["headline_n"],
        "regions": comparison["target_regions"],
        "full_finetune": full_key,
        "rows": rows,
    }
    summary["findings"] = capacity_findings(summary, full, comparison["target_los"])
    return summary


# A share that moves less than this from the smallest reference to the largest says the
# plug-in is not short of capacity.
CAPACITY_MATTERS = 0.10


def capacity_findings(
    summary: dict[str, Any], full: dict[str, float], los: dict[str, bool]
) -> list[str]:
    """What the sweep says, in sentences: per method run with two or more reference
    sizes, its share with the smallest and the largest on the regions both cover."""
    out = []
    for method in dict.fromkeys(r["method"] for r in summary["rows"]):
        rows = [r for r in summary["rows"] if r["method"] == method]
        if len(rows) < 2:
            continue
        small, large = rows[0], rows[-1]
        common = [r for r in summary["regions"] if r in small["nmse_db"] and r in large["nmse_db"]]
        shares = [
            share_of_finetune(row["nmse_db"], row["lam_nmse_db"], full, common, los)
            for row in (small, large)
        ]
        if any(s is None or s["all"]["fraction"] is None for s in shares):
            continue
        a, b = (s["all"]["fraction"] for s in shares)
        ratio = large["trainable_params"] / small["trainable_params"]
        if b - a >= CAPACITY_MATTERS:
            verdict = "short of capacity"
        elif a - b >= CAPACITY_MATTERS:
            verdict = "the larger reference does worse"
        else:
            verdict = f"not short of capacity (under {100 * CAPACITY_MATTERS:.0f} points)"
        out.append(
            f"{small['label']}: {100 * a:.0f} % of {summary['full_finetune']}'s gain with "
            f"reference {small['reference']} ({small['trainable_params']:,} trainable), "
            f"{100 * b:.0f} % with {large['reference']} ({large['trainable_params']:,}, "
            f"{ratio:.1f}x), on the {len(common)} regions both cover: {verdict}."
        )
    return out


def pct(part: dict[str, Any] | None) -> str:
    """A share's fraction as a percentage, "-" without one."""
    if not part or part.get("fraction") is None:
        return "-"
    return f"{100 * part['fraction']:.0f} %"


def capacity_markdown(summary: dict[str, Any], figure: str = "capacity.png") -> str:
    """The table as Markdown, with how to read it (``figure``: the PNG beside it)."""
    lines = [
        "# Capacity sweep",
        "",
        f"Each plug-in adapted at n = {summary['n']:,} with a reference SAM of each size "
        f"(`make capacity`); gain: mean test NMSE improvement over the LAM alone (dB) on the "
        f"regions done; share: that gain over {summary['full_finetune']}'s on the same "
        "regions (from the comparison), over all regions and LOS / NLOS apart. A share that "
        "grows with the reference's size says the plug-in was short of capacity; a flat one "
        "says it was short of input. The feature readout sees the LAM's hidden states only: "
        "what it cannot reach, the frozen LAM's features do not carry.",
        "",
        "| method | reference | trainable (% LAM) | gain (dB) | share | LOS | NLOS | regions |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in summary["rows"]:
        of_lam = 100 * r["trainable_params"] / r["lam_params"]
        lines.append(
            f"| {r['method']} | {r['reference']} ({r['reference_params']:,}) "
            f"| {r['trainable_params']:,} ({of_lam:.1f} %) | {r['all']['gain_db']:+.2f} "
            f"| {pct(r.get('all'))} | {pct(r.get('los'))} | {pct(r.get('nlos'))} "
            f"| {r['regions']}/{len(summary['regions'])} |"
        )
    if not summary["rows"]:
        lines.append("| (no plug-in has finished a region yet) | | | | | | | |")
    if summary.get("findings"):
        lines += ["", *(f"- {f}" for f in summary["findings"])]
    lines += ["", f"![share of fine-tuning's gain against trainable parameters]({figure})", ""]
    return "\n".join(lines)


def _plot(summary: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for method in dict.fromkeys(r["method"] for r in summary["rows"]):
        rows = [
            r for r in summary["rows"] if r["method"] == method and r["all"]["fraction"] is not None
        ]
        if rows:
            x = [r["trainable_params"] for r in rows]
            y = [100 * r["all"]["fraction"] for r in rows]
            ax.plot(x, y, "o-", label=method)
            for r, xi, yi in zip(rows, x, y, strict=True):
                ax.annotate(
                    r["reference"], (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points"
                )
    ax.axhline(50, ls=":", color="grey", lw=1)
    ax.set(
        xscale="log",
        xlabel="trainable parameters",
        ylabel=f"share of {summary['full_finetune']}'s gain (%)",
        title=f"Plug-in capacity sweep, n = {summary['n']:,}",
    )
    ax.grid(alpha=0.3)
    return save_figure(fig, ax, path)


def read_json(path: Path, what: str) -> Any:
    """A JSON report; DataError naming the file when it is missing or unreadable."""
    if not path.is_file():
        raise DataError(f"{path}: no {what}")
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable JSON {what}: {exc}") from None


def write_capacity(
    report_paths: list[str | Path], comparison_path: str | Path, out: str | Path
) -> list[Path]:
    """Read the capacity reports and the comparison's, write ``out`` (JSON) and the
    Markdown and PNG beside it; returns the written paths."""
    reports = {
        str(p): read_json(p, "capacity report (make capacity writes one)")
        for p in map(Path, report_paths)
    }
    comparison = read_json(Path(comparison_path), "comparison report (make study writes it)")
    summary = capacity_summary(reports, comparison)
    return write_report(summary, out, _plot, capacity_markdown)
