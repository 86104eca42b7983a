"""``python -m benchmarks runtime``: LascoRuntime throughput, latency, efficiency and memory.

For every (batch, K environments) it times ``reconstruct`` with K proxies installed
(the rows spread over the K environments) and the same rows with no proxy (the LAM
alone), and reports reconstructions per second, p50/p99 batch latency, their time
ratio, achieved GFLOP/s against the machine's fp32 matrix-product GFLOP/s measured
in the same run, and torch eager time over ONNX Runtime time for the same
computation. Memory: one LAM + K proxies against K fine-tuned LAM copies, as
weight bytes and as the resident memory their ORT sessions add. Every figure is a
ratio inside one run or a measurement of this run; machines are noisy, so nothing
here is asserted by the tests.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.text import table
from lasco.codec import Projection
from serving import LascoRuntime

__all__ = ["matmul_gflops", "run_runtime_bench"]


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def matmul_gflops(n: int = 1024, seconds: float = 1.0) -> float:
    """The fp32 matrix-product rate numpy reaches here (n x n x n, best of a few runs)."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    b = a.T.copy()
    a @ b
    best, t_end = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def _time(fn, min_runs: int, min_seconds: float) -> np.ndarray:
    fn()  # warm-up
    times, t_end = [], time.perf_counter() + min_seconds
    while len(times) < min_runs or time.perf_counter() < t_end:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return np.array(times)


def _torch_time(
    models: dict[str, Any], x: np.ndarray, env: np.ndarray, k: int, runs: int, seconds: float
) -> float:
    """Median seconds of the same LASCO computation in torch eager (CPU, no_grad)."""
    import torch

    xt = torch.from_numpy(x)
    idx = [torch.from_numpy(np.flatnonzero(env == f"env{i}")) for i in range(k)]

    def run() -> None:
        with torch.no_grad():
            base, ref = models["lam"](xt), models["ref"](xt)
            for i in idx:
                if len(i):
                    _ = base[i] + models["ref"](xt[i]) - ref[i]

    return float(np.median(_time(run, runs, seconds)))


def run_runtime_bench(
    lam_onnx: bytes,
    ref_onnx: bytes,
    projection: Projection,
    flops: dict[str, int],
    *,
    torch_models: dict[str, Any] | None = None,
    batches: tuple[int, ...] = (1, 16, 64, 256),
    ks: tuple[int, ...] = (1, 4, 10),
    min_runs: int = 20,
    min_seconds: float = 1.0,
    threads: int | None = None,
    log=print,
) -> dict[str, Any]:
    """Run the benchmark; ``flops`` holds forward FLOPs per sample of ``lam`` and ``sam``."""
    peak = matmul_gflops()
    rt = LascoRuntime(lam_onnx, ref_onnx, projection, threads=threads)
    rng = np.random.default_rng(0)
    records = []
    for k in ks:
        for e in list(rt.proxies):
            rt.remove_proxy(e)
        rt.set_proxies(
            {
                f"env{i}": {
                    "onnx": ref_onnx,
                    "lam_sha256": rt.lam_sha256,
                    "projection_id": projection.id,
                    "mode": "lasco",
                }
                for i in range(k)
            }
        )
        for b in batches:
            s = rng.standard_normal((b, projection.m)).astype(np.float32)
            env = np.array([f"env{i % k}" for i in range(b)], dtype=object)
            none = np.array(["no-proxy"] * b, dtype=object)
            t_lasco = _time(lambda s=s, env=env: rt.reconstruct(s, env), min_runs, min_seconds)
            t_lam = _time(  # the same runtime, rows of environments without a proxy
                lambda s=s, none=none: rt.reconstruct(s, none), min_runs, min_seconds
            )
            p50 = float(np.median(t_lasco))
            work = b * (flops["lam"] + 2 * flops["sam"])  # LAM + reference + proxies
            rec = {
                "batch": b,
                "k_envs": k,
                "recon_per_s": round(b / p50, 1),
                "p50_ms": round(1e3 * p50, 3),
                "p99_ms": round(1e3 * float(np.percentile(t_lasco, 99)), 3),
                "lam_only_p50_ms": round(1e3 * float(np.median(t_lam)), 3),
                "lasco_over_lam": round(p50 / float(np.median(t_lam)), 3),
                "flop_ratio": round((flops["lam"] + 2 * flops["sam"]) / flops["lam"], 3),
                "gflops": round(work / p50 / 1e9, 2),
                "matmul_gflops": round(peak, 2),
                "runs": len(t_lasco),
            }
            if torch_models is not None:
                x = rt.decode(s)
                rec["torch_over_ort"] = round(
                    _torch_time(torch_models, x, env, k, min_runs, min_seconds) / p50, 3
                )
            records.append(rec)
            log(
                f"batch {b:4d} K {k:2d}: {rec['recon_per_s']:9.1f} recon/s, p50 "
                f"{rec['p50_ms']:8.3f} ms, LASCO/LAM {rec['lasco_over_lam']:.3f}, "
                f"{rec['gflops']:.1f} GFLOP/s"
            )
    memory = _memory(lam_onnx, ref_onnx, max(ks))
    return {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "threads": threads or os.cpu_count(),
            "providers": rt._providers,
        },
        "flops_per_sample": flops,
        "matmul_gflops": round(peak, 2),
        "records": records,
        "memory": memory,
    }


def _session_rss(blobs: list[bytes], queue: Any) -> None:
    """In a fresh (spawned) interpreter: the RSS that ORT sessions of ``blobs`` add."""
    import onnxruntime as ort

    from serving import session_options

    before = _rss()
    sessions = [
        ort.InferenceSession(b, sess_options=session_options(1), providers=["CPUExecutionProvider"])
        for b in blobs
    ]
    queue.put(_rss() - before)
    del sessions


def _memory(lam_onnx: bytes, ref_onnx: bytes, k: int) -> dict[str, Any]:
    """Weight bytes and the RSS that sessions add: one LAM + K proxies vs K LAM copies.

    Each RSS is measured in a freshly spawned interpreter (a forked child inherits this
    process's heap, whose resident free pages would absorb the sessions' allocations);
    it includes ONNX Runtime's one-time set-up, the same in both."""

    def rss_of(blobs: list[bytes]) -> int:
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        proc = ctx.Process(target=_session_rss, args=(blobs, queue))
        proc.start()
        value = queue.get(timeout=300)
        proc.join()
        return int(value)

    lasco_blobs = [lam_onnx, ref_onnx] + [ref_onnx] * k
    return {
        "k_envs": k,
        "lasco_weight_bytes": sum(map(len, lasco_blobs)),
        "lam_copies_weight_bytes": k * len(lam_onnx),
        "lasco_session_rss_bytes": rss_of(lasco_blobs),
        "lam_copies_session_rss_bytes": rss_of([lam_onnx] * k),
    }


def format_bench(result: dict[str, Any]) -> str:
    head = (
        "batch",
        "K",
        "recon/s",
        "p50 ms",
        "p99 ms",
        "LASCO/LAM",
        "FLOP ratio",
        "GFLOP/s",
        "% matmul",
        "torch/ORT",
    )
    rows = [head]
    for r in result["records"]:
        rows.append(
            (
                str(r["batch"]),
                str(r["k_envs"]),
                f"{r['recon_per_s']:.1f}",
                f"{r['p50_ms']:.3f}",
                f"{r['p99_ms']:.3f}",
                f"{r['lasco_over_lam']:.3f}",
                f"{r['flop_ratio']:.3f}",
                f"{r['gflops']:.1f}",
                f"{100 * r['gflops'] / r['matmul_gflops']:.0f}",
                f"{r['torch_over_ort']:.2f}" if "torch_over_ort" in r else "-",
            )
        )
    lines = table(rows)
    m = result["memory"]
    lines.append(
        f"memory, K = {m['k_envs']}: LASCO weights {m['lasco_weight_bytes'] / 2**20:.1f} MiB vs "
        f"{m['lam_copies_weight_bytes'] / 2**20:.1f} MiB for LAM copies; session RSS "
        f"{m['lasco_session_rss_bytes'] / 2**20:.1f} MiB vs "
        f"{m['lam_copies_session_rss_bytes'] / 2**20:.1f} MiB"
    )
    lines.append(f"numpy fp32 matmul: {result['matmul_gflops']:.1f} GFLOP/s")
    return "\n".join(lines)


def write_bench(result: dict[str, Any], path: str | Path) -> list[Path]:
    """The JSON (machine, records and memory figures) and a latency PNG beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for k in sorted({r["k_envs"] for r in result["records"]}):
        rs = [r for r in result["records"] if r["k_envs"] == k]
        a1.plot([r["batch"] for r in rs], [r["p50_ms"] for r in rs], marker="o", label=f"K={k}")
        a2.plot(
            [r["batch"] for r in rs], [r["recon_per_s"] for r in rs], marker="o", label=f"K={k}"
        )
    a1.set(xscale="log", yscale="log", xlabel="batch", ylabel="p50 batch latency (ms)")
    a2.set(xscale="log", xlabel="batch", ylabel="reconstructions / s")
    for a in (a1, a2):
        a.grid(alpha=0.3)
        a.legend()
    fig.suptitle("LascoRuntime (ONNX Runtime)")
    png = path.with_suffix(".png")
    fig.savefig(png, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return [path, png]
