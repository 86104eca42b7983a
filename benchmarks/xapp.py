"""``python -m benchmarks xapp``: ``csi-xapp bench`` (xapp/bench.py) on the shipped models,
written as JSON and a PNG of latency against UEs per indication."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from xapp.app import build_core
from xapp.bench import SyntheticNode, run_bench
from xapp.settings import Settings

__all__ = ["main", "run_bench"]


def main(args: argparse.Namespace) -> int:
    core = build_core(Settings(), require_subscription=False)  # no RIC: no subscriptions
    node = SyntheticNode(core.runtime.projection)
    records = run_bench(
        core, node, (1, 64) if args.quick else (1, 16, 64), 50 if args.quick else 300
    )
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "records": records,
                    "sdl": "in-memory",
                    "lam_version": getattr(core.runtime, "lam_version", None),
                },
                indent=1,
            )
            + "\n"
        )
        _plot(records, path.with_suffix(".png"))
        print(f"wrote {path} and {path.with_suffix('.png')}")
    return 0


def _plot(records: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    k = [r["ues_per_indication"] for r in records]
    ax.plot(k, [r["p50_ms"] for r in records], marker="o", label="xApp, PDU in to SDL (p50)")
    ax.plot(k, [r["p99_ms"] for r in records], marker="o", ls="--", label="xApp p99")
    ax.plot(k, [r["runtime_p50_ms"] for r in records], marker="s", label="LascoRuntime alone")
    ax.set(xscale="log", yscale="log", xlabel="UEs per indication", ylabel="latency (ms)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
