"""``python -m benchmarks runtime-side``: what serving a side network costs against a LASCO
proxy SAM, in one LascoRuntime, in one run.

The LAM is exported with taps (its graph also outputs the hidden states side networks read),
so the three kinds of rows run on the same LAM session: rows of K environments with a LASCO
proxy (LAM + reference SAM + proxy), rows of K environments with a side network (LAM, then
the side network on its output and hidden states) and rows with neither (the LAM alone).
Each (batch, K) times all three back to back and reports their p50 latencies and ratios,
with the weight bytes of K side networks against K proxies. Ratios inside one run only:
machines are noisy, and nothing here is asserted by the tests.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.runtime import _time
from benchmarks.text import table
from lasco.codec import Projection
from lasco.collab import build_method, side_taps
from lasco.export import export_onnx
from lasco.export_side import export_side_onnx
from lasco.models import CsiRefiner
from serving import LascoRuntime

__all__ = ["format_side_bench", "run_side_bench", "write_side_bench"]


def run_side_bench(
    lam: CsiRefiner,
    ref: CsiRefiner,
    projection: Projection,
    *,
    batches: tuple[int, ...] = (1, 16, 64, 256),
    ks: tuple[int, ...] = (1, 10),
    min_runs: int = 20,
    min_seconds: float = 1.0,
    threads: int | None = None,
    log=print,
) -> dict[str, Any]:
    """Time LASCO, side-network and LAM-only rows on one runtime (see the module doc)."""
    side = build_method("side", lam, ref)
    with tempfile.TemporaryDirectory() as tmp:
        lam_onnx = export_onnx(lam, Path(tmp) / "lam.onnx", taps=side_taps(lam.cfg.n_layers))
        ref_onnx = export_onnx(ref, Path(tmp) / "ref.onnx").read_bytes()
        side_onnx = export_side_onnx(side, Path(tmp) / "side.onnx").read_bytes()
        lam_bytes = lam_onnx.read_bytes()
    rt = LascoRuntime(lam_bytes, ref_onnx, projection, threads=threads)
    rng = np.random.default_rng(0)
    records = []
    try:
        for k in ks:
            for e in list(rt.proxies):
                rt.remove_proxy(e)
            common = {"lam_sha256": rt.lam_sha256, "projection_id": projection.id}
            specs = {f"p{i}": {"onnx": ref_onnx, "mode": "lasco", **common} for i in range(k)}
            specs |= {f"s{i}": {"onnx": side_onnx, "mode": "side", **common} for i in range(k)}
            rt.set_proxies(specs)
            for b in batches:
                s = rng.standard_normal((b, projection.m)).astype(np.float32)
                p50 = {}
                for kind, prefix in (("lasco", "p"), ("side", "s"), ("lam", None)):
                    env = np.array(
                        [f"{prefix}{i % k}" if prefix else "none" for i in range(b)], object
                    )
                    t = _time(lambda s=s, env=env: rt.reconstruct(s, env), min_runs, min_seconds)
                    p50[kind] = float(np.median(t))
                rec = {
                    "batch": b,
                    "k_envs": k,
                    "lasco_p50_ms": round(1e3 * p50["lasco"], 3),
                    "side_p50_ms": round(1e3 * p50["side"], 3),
                    "lam_only_p50_ms": round(1e3 * p50["lam"], 3),
                    "side_over_lasco": round(p50["side"] / p50["lasco"], 3),
                    "side_over_lam": round(p50["side"] / p50["lam"], 3),
                    "lasco_over_lam": round(p50["lasco"] / p50["lam"], 3),
                }
                records.append(rec)
                log(
                    f"batch {b:4d} K {k:2d}: side {rec['side_p50_ms']:8.3f} ms, LASCO "
                    f"{rec['lasco_p50_ms']:8.3f} ms, LAM {rec['lam_only_p50_ms']:8.3f} ms, "
                    f"side/LASCO {rec['side_over_lasco']:.3f}"
                )
    finally:
        rt.close()
    k = max(ks)
    return {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "threads": threads or os.cpu_count(),
        },
        "records": records,
        "weights": {
            "k_envs": k,
            "lam_bytes": len(lam_bytes),
            "side_bytes": k * len(side_onnx),
            "lasco_bytes": (k + 1) * len(ref_onnx),  # K proxies and the reference SAM
        },
    }


def format_side_bench(result: dict[str, Any]) -> str:
    head = ("batch", "K", "side ms", "LASCO ms", "LAM ms", "side/LASCO", "side/LAM", "LASCO/LAM")
    keys = ("side_p50_ms", "lasco_p50_ms", "lam_only_p50_ms")
    ratios = ("side_over_lasco", "side_over_lam", "lasco_over_lam")
    rows = [head]
    for r in result["records"]:
        rows.append(
            (
                str(r["batch"]),
                str(r["k_envs"]),
                *(f"{r[k]:.3f}" for k in keys),
                *(f"{r[k]:.3f}" for k in ratios),
            )
        )
    lines = table(rows)
    w = result["weights"]
    lines.append(
        f"weights, K = {w['k_envs']}: side networks {w['side_bytes'] / 2**20:.2f} MiB, LASCO "
        f"proxies and reference {w['lasco_bytes'] / 2**20:.2f} MiB, LAM with taps "
        f"{w['lam_bytes'] / 2**20:.2f} MiB"
    )
    return "\n".join(lines)


def write_side_bench(result: dict[str, Any], path: str | Path) -> list[Path]:
    """The JSON and a PNG of the three p50 latencies against the batch, per K."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    ks = sorted({r["k_envs"] for r in result["records"]})
    fig, axes = plt.subplots(1, len(ks), figsize=(5 * len(ks), 4), squeeze=False)
    for ax, k in zip(axes[0], ks, strict=True):
        rs = [r for r in result["records"] if r["k_envs"] == k]
        for key, label in (("side", "side network"), ("lasco", "LASCO proxy"), ("lam_only", "LAM")):
            ax.plot([r["batch"] for r in rs], [r[f"{key}_p50_ms"] for r in rs], "o-", label=label)
        ax.set(
            xscale="log", yscale="log", xlabel="batch", ylabel="p50 latency (ms)", title=f"K={k}"
        )
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Serving a side network against a LASCO proxy (one LascoRuntime)")
    png = path.with_suffix(".png")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return [path, png]
