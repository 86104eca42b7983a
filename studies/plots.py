"""PNG figures of experiment results (matplotlib, headless)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["plot_experiment", "save_figure", "write_report"]


def plot_experiment(result: dict[str, Any], path: str | Path) -> list[Path]:
    """Validation NMSE per adaptation epoch for each target region and method, plus the
    test NMSE per method and region as bars. Returns the written paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regions = result["target_regions"]
    methods = result["methods"]
    fig, axes = plt.subplots(1, len(regions) + 1, figsize=(5 * (len(regions) + 1), 4))
    for ax, region in zip(axes[:-1], regions, strict=True):
        for key, rec in methods.items():
            curve = rec["val_curve"].get(region)
            if curve:
                ax.plot(range(len(curve)), curve, label=key)
            else:
                ax.axhline(rec["nmse_db"][region], ls=":", lw=1, label=f"{key} (test)")
        ax.set(title=f"region {region}", xlabel="epoch", ylabel="validation NMSE (dB)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    ax = axes[-1]
    width = 0.8 / max(1, len(regions))
    keys = list(methods)
    for i, region in enumerate(regions):
        ax.bar(
            [k + i * width for k in range(len(keys))],
            [methods[m]["nmse_db"][region] for m in keys],
            width,
            label=f"region {region}",
        )
    ax.set_xticks(
        [k + width * (len(regions) - 1) / 2 for k in range(len(keys))],
        keys,
        rotation=60,
        ha="right",
        fontsize=8,
    )
    ax.set(title="test NMSE (dB)", ylabel="NMSE (dB)")
    ax.legend(fontsize=7)
    fig.suptitle(
        f"LASCO adaptation, preset {result['preset']}, LAM {result['lam_params']:,} params"
    )
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


def write_report(
    summary: dict[str, Any],
    out: str | Path,
    plot: Callable[[dict[str, Any], Path], Path],
    markdown: Callable[[dict[str, Any], str], str],
) -> list[Path]:
    """Write a summary as ``out`` (JSON), its figure (``plot`` to the PNG beside it) and its
    Markdown (``markdown(summary, png_name)``) beside it, each atomically; returns the
    three paths."""
    from lasco.channels.store import atomic_write_bytes

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(summary, indent=1) + "\n"
    atomic_write_bytes(out, lambda f: f.write(text.encode()))
    png = plot(summary, out.with_suffix(".png"))
    md = out.with_suffix(".md")
    atomic_write_bytes(md, lambda f: f.write(markdown(summary, png.name).encode()))
    return [out, md, png]


def save_figure(fig: Any, ax: Any, path: Path) -> Path:
    """Finish a one-axes report figure (a legend when something is labelled), save it to
    ``path`` as a PNG atomically and close it; returns ``path``."""
    import matplotlib.pyplot as plt

    from lasco.channels.store import atomic_write_bytes

    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_write_bytes(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
    return path
