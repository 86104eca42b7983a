"""The report of ``python -m benchmarks pretrain``: the machine, a throughput table and an
accuracy table as text, and the result as JSON with a PNG of both beside it.

It reads the result dict of ``benchmarks.pretrain.run_pretrain_bench`` (the measurements
and their settings) and imports nothing of the measurement's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.text import table

__all__ = ["format_bench", "write_bench"]


def format_bench(result: dict[str, Any]) -> str:
    """The machine, a throughput table and an accuracy table, as text."""
    m = result["machine"]
    flags = ", ".join(f for f, on in m["cpu_flags"].items() if on) or "none of note"
    lines = [
        f"{m['cpu_model']}, {m['cpus']} cores, torch {m['torch']} on {m['torch_threads']} "
        f"threads; {flags}; load {m['loadavg_start']} -> {m['loadavg_end']}",
        "",
    ]
    rows = [("preset", "variant", "samples/s", "x eager fp32", "compile s")]
    for r in result["throughput"]:
        rows.append(
            (
                r["preset"],
                r["variant"],
                f"{r['samples_per_s']:.1f}",
                f"{r['x_eager_fp32']:.2f}",
                f"{r['compile_s']:.1f}" if r["compile_s"] is not None else "-",
            )
        )
    lines += table(rows)
    d = result["data"]
    lines += ["", f"test NMSE at equal steps ({d['kind']}, {d['n_test']} test samples):"]
    rows = [("preset", "mode", "steps", "fp32 dB", "bf16 dB", "bf16-fp32 dB")]
    for a in result["accuracy"]:
        rows.append(
            (
                a["preset"],
                "compiled" if a["compiled"] else "eager",
                str(a["steps"]),
                f"{a['fp32_nmse_db']:.2f}",
                f"{a['bf16_nmse_db']:.2f}",
                f"{a['bf16_minus_fp32_db']:+.2f}",
            )
        )
    lines += table(rows)
    return "\n".join(lines)


def write_bench(result: dict[str, Any], path: str | Path) -> list[Path]:
    """The JSON and, beside it, a PNG: samples/s relative to eager fp32 per preset and
    variant, and the test NMSE of fp32 and bf16 per preset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    presets = result["settings"]["presets"]
    variants = result["settings"]["variants"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / len(variants)
    for i, v in enumerate(variants):
        ratio = {r["preset"]: r["x_eager_fp32"] for r in result["throughput"] if r["variant"] == v}
        a1.bar(
            [p + i * width for p in range(len(presets))],
            [ratio[p] for p in presets],
            width,
            label=v,
        )
    a1.axhline(1.0, color="k", lw=0.8)
    a1.set_xticks([p + width * (len(variants) - 1) / 2 for p in range(len(presets))], presets)
    a1.set(ylabel="training samples/s / eager fp32", title="throughput (median of rounds)")
    acc = {a["preset"]: a for a in result["accuracy"]}
    for i, name in enumerate(("fp32", "bf16")):
        a2.bar(
            [p + i * 0.4 for p in range(len(presets))],
            [acc[p][f"{name}_nmse_db"] for p in presets],
            0.4,
            label=name,
        )
    a2.set_xticks([p + 0.2 for p in range(len(presets))], presets)
    a2.set(ylabel="test NMSE (dB)", title=f"at equal steps ({result['data']['kind']})")
    for a in (a1, a2):
        a.grid(alpha=0.3, axis="y")
        a.legend()
    fig.suptitle(f"pre-training on {result['machine']['cpu_model']}")
    png = path.with_suffix(".png")
    fig.savefig(png, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return [path, png]
