"""``python -m benchmarks pretrain``: is bfloat16 autocast and/or ``torch.compile`` faster for
pre-training on this CPU, and at what cost in accuracy?

Throughput: for every preset, four variants of the training step ``lasco.pretrain.pretrain``
runs (forward under ``torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)``, the
output cast to fp32, MSE loss, AdamW step, schedule step, the running training NMSE):
eager fp32, eager bf16, compiled fp32 and compiled bf16, each on its own copy of the same
initial weights and the same fixed random batch. Each variant first takes one step (for a
compiled one, the compile: its seconds are reported apart) and a few warm-up steps; then
the variants are timed in rounds, round-robin with the starting variant rotated, so that a
change in the machine's load during the run hits all of them alike; a variant's samples/s
is the median over rounds, and its ratio to eager fp32 of the same preset is the figure to
read. Machines are noisy: the ratios inside one run hold, the absolute rates much less.

Accuracy at equal steps: for every preset, the same initial weights trained by
``lasco.pretrain.pretrain`` itself for the same number of steps over the same batches, once in
fp32 and once in bf16 (both compiled, or both eager: whichever bf16 variant was faster),
then the test NMSE in dB, computed in fp32 on held-out data. The data are cached channels
of source regions when the channel cache already holds them (nothing is generated), else a
synthetic multipath task of the same shape; both go through the UE projection's round trip
as in pre-training.

This module measures and returns the result as a dict; its tables, JSON and plot are
benchmarks.pretrain_report.
"""

from __future__ import annotations

import copy
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from lasco.channels import ChannelCache, paper_catalogue, split_region, to_real
from lasco.codec import Projection
from lasco.errors import DataError
from lasco.losses import nmse_db, nmse_per_sample
from lasco.models import build_model, count_params
from lasco.pretrain import PretrainConfig, pretrain
from lasco.progress import is_terminal, progress
from lasco.provenance import git_commit
from lasco.train import predict

__all__ = [
    "VARIANTS",
    "AccuracyData",
    "accuracy_data",
    "machine_info",
    "run_pretrain_bench",
    "synthetic_channels",
]

VARIANTS: dict[str, dict[str, bool]] = {
    "eager-fp32": {"compiled": False, "bf16": False},
    "eager-bf16": {"compiled": False, "bf16": True},
    "compiled-fp32": {"compiled": True, "bf16": False},
    "compiled-bf16": {"compiled": True, "bf16": True},
}
"""The variants of the training step; ``eager-fp32`` is what every ratio is taken against."""

BASELINE = "eager-fp32"

_CPU_FLAGS = (
    "avx2",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)


def machine_info() -> dict[str, Any]:
    """What the figures depend on: the CPU (model, the vector and matrix extensions that
    bf16 needs to be fast: AVX-512 BF16, AMX), cores, torch and its threads."""
    model, flags = None, set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = (t.strip() for t in line.partition(":"))
                if key == "model name" and model is None:
                    model = value
                elif key == "flags" and not flags:
                    flags = set(value.split())
    except OSError:  # not Linux: the flags stay unknown (all False)
        pass
    model = model or platform.processor() or "unknown"
    mkldnn_bf16 = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return {
        "cpu_model": model,
        "cpu_flags": {f: f in flags for f in _CPU_FLAGS},
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkldnn_bf16": bool(mkldnn_bf16()) if mkldnn_bf16 is not None else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


class _Step:
    """One variant's training step on its own model copy and optimiser: the body of
    ``lasco.pretrain.pretrain``'s inner loop (less the batch gather, equal for all variants)."""

    def __init__(self, model: torch.nn.Module, compiled: bool, bf16: bool) -> None:
        cfg = PretrainConfig()
        self.model, self.bf16 = model.train(), bf16
        self.opt = torch.optim.AdamW(
            model.parameters(), lr=cfg.lr_peak, weight_decay=cfg.weight_decay
        )
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda step: 1.0)
        self.fn = torch.compile(model) if compiled else model
        self.err = torch.zeros(())

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            out = self.fn(x)
        loss = torch.mean((out.float() - y) ** 2)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()
        self.err += nmse_per_sample(out.detach().float(), y).sum()


def _throughput(
    preset: str,
    variants: list[str],
    *,
    batch: int,
    warmup: int,
    rounds: int,
    round_steps: int,
    seed: int,
    tick: Callable[[], None],
) -> list[dict[str, Any]]:
    """Samples/s of every variant of ``preset``'s training step, interleaved in rounds."""
    torch.compiler.reset()  # a fresh compile per preset, as in a pre-training process
    torch.manual_seed(seed)
    init = build_model(preset)
    x, y = torch.randn(batch, 2, 32, 32), torch.randn(batch, 2, 32, 32)
    steps: dict[str, _Step] = {}
    first: dict[str, float] = {}
    for v in variants:
        steps[v] = _Step(copy.deepcopy(init), **VARIANTS[v])
        t = time.perf_counter()
        steps[v](x, y)  # a compiled variant compiles here
        first[v] = time.perf_counter() - t
        tick()
        for _ in range(warmup):
            steps[v](x, y)
            tick()
    per_round: dict[str, list[float]] = {v: [] for v in variants}
    for r in range(rounds):
        for v in variants[r % len(variants) :] + variants[: r % len(variants)]:
            t = time.perf_counter()
            for _ in range(round_steps):
                steps[v](x, y)
                tick()
            per_round[v].append(round_steps * batch / (time.perf_counter() - t))
    sps = {v: statistics.median(per_round[v]) for v in variants}
    records = []
    for v in variants:
        step_s = batch / sps[v]
        records.append(
            {
                "preset": preset,
                "params": count_params(init),
                "variant": v,
                **VARIANTS[v],
                "samples_per_s": sps[v],
                "x_eager_fp32": sps[v] / sps[BASELINE] if BASELINE in sps else None,
                "step_s": step_s,
                "first_step_s": first[v],
                # what the first step costs beyond a timed one: the compile, for a compiled
                # variant (faster on a repeat run, from inductor's on-disk cache)
                "compile_s": max(0.0, first[v] - step_s) if VARIANTS[v]["compiled"] else None,
                "rounds_samples_per_s": per_round[v],
            }
        )
    return records


@dataclass
class AccuracyData:
    """Pairs ``(H_in, H)``, each ``[N, 2, 32, 32] float32``, to train, validate and test on,
    and where they came from."""

    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    source: dict[str, Any] = field(default_factory=dict)


def synthetic_channels(n: int, seed: int, paths: int = 3) -> np.ndarray:
    """``[n, 2, 32, 32] float32`` multipath channels of unit mean power: per sample a few
    paths, each a uniform-array steering vector over the 32 antennas times a delay phase
    ramp over the 32 subcarriers, with complex Gaussian gains of decaying power. Low-rank
    and smooth like real CSI, so a refiner learns it within a few hundred steps."""
    rng = np.random.default_rng(seed)
    a, s = np.arange(32), np.arange(32)
    sin_theta = rng.uniform(-1, 1, (n, paths, 1))
    tau = rng.uniform(0, 0.25, (n, paths, 1))
    steer = np.exp(1j * np.pi * a * sin_theta)  # [n, P, 32] antennas
    delay = np.exp(-2j * np.pi * s * tau)  # [n, P, 32] subcarriers
    power = np.exp(-np.arange(paths))[None, :]
    gain = (rng.standard_normal((n, paths)) + 1j * rng.standard_normal((n, paths))) * np.sqrt(
        power / 2
    )
    h = np.einsum("np,npa,nps->nas", gain, steer, delay)
    h /= np.sqrt((np.abs(h) ** 2).mean(axis=(1, 2), keepdims=True))
    return to_real(h.astype(np.complex64))


def accuracy_data(
    steps: int,
    batch: int,
    *,
    cache: ChannelCache | None = None,
    regions: tuple[str, ...] = tuple(str(i) for i in range(1, 9)),
    samples: int = 1000,
    ratio: str = "1/4",
    n_eval: int = 1024,
    seed: int = 0,
) -> AccuracyData:
    """Cached channels of the paper catalogue's ``regions`` (``samples`` each, split 8:1:1
    per region as pre-training does) when the cache holds every one of them; else
    ``steps * batch`` synthetic training samples and ``n_eval`` each to validate and test.
    Reading the cache never generates channels. Inputs are the projection's round trip."""
    proj = Projection.from_ratio(ratio)
    cache = cache or ChannelCache()
    cat = paper_catalogue()
    specs = [cat.get(r) for r in regions]
    if specs and all(cache.has(s, samples) for s in specs):
        splits = [split_region(to_real(cache.load(s, samples)), s.seed) for s in specs]
        pool = {
            p: np.concatenate([getattr(s, p) for s in splits]) for p in ("train", "val", "test")
        }
        source = {
            "kind": "cached channels",
            "catalogue": cat.name,
            "regions": list(regions),
            "samples_per_region": samples,
        }
    else:
        pool = {
            "train": synthetic_channels(steps * batch, seed),
            "val": synthetic_channels(n_eval, seed + 1),
            "test": synthetic_channels(n_eval, seed + 2),
        }
        source = {"kind": "synthetic multipath", "paths": 3}
    source.update(
        projection_id=proj.id, **{f"n_{p}": len(pool[p]) for p in ("train", "val", "test")}
    )
    return AccuracyData(
        *((proj.roundtrip(pool[p]), pool[p]) for p in ("train", "val", "test")), source=source
    )


def _accuracy(
    preset: str, data: AccuracyData, *, steps: int, batch: int, compiled: bool, seed: int
) -> dict[str, Any]:
    """fp32 against bf16 after the same ``pretrain`` run: same initial weights, same steps
    over the same batches (the seed fixes the shuffles); test NMSE in fp32."""
    x, y = data.train
    n_batches = min(len(x) // batch, steps)  # whole batches only: no odd last batch
    if n_batches < 1:
        raise DataError(f"the accuracy runs need at least {batch} training samples, got {len(x)}")
    epochs = math.ceil(steps / n_batches)
    train = (x[: n_batches * batch], y[: n_batches * batch])
    torch.manual_seed(seed)
    init = build_model(preset)
    out: dict[str, Any] = {
        "preset": preset,
        "compiled": compiled,
        "batch_size": batch,
        "epochs": epochs,
        "steps": epochs * n_batches,
    }
    for name, bf16 in (("fp32", False), ("bf16", True)):
        model = copy.deepcopy(init)
        torch.compiler.reset()
        fit = pretrain(
            model,
            train,
            data.val,
            PretrainConfig(epochs=epochs, batch_size=batch, seed=seed, bf16=bf16),
            desc=f"{preset} {name}",
            progress=is_terminal(sys.stderr),
            compile=compiled,
        )
        tx, ty = data.test
        out[f"{name}_nmse_db"] = nmse_db(predict(model, tx), torch.as_tensor(ty))
        out[f"{name}_best_epoch"] = fit.best_epoch
        out[f"{name}_train_s"] = fit.seconds
    out["bf16_minus_fp32_db"] = out["bf16_nmse_db"] - out["fp32_nmse_db"]
    return out


def run_pretrain_bench(
    presets: tuple[str, ...] = ("lam-small", "lam-base", "sam"),
    *,
    batch: int = 256,
    warmup: int = 3,
    rounds: int = 5,
    round_steps: int = 4,
    steps: int = 100,
    compile: bool = True,
    data: AccuracyData | None = None,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Throughput of every variant and accuracy at ``steps`` steps, for every preset.

    ``compile=False`` leaves out the compiled variants (a machine without a C++ compiler,
    or a quick check); ``data`` defaults to :func:`accuracy_data`. Progress shows on a
    terminal only."""
    variants = [v for v in VARIANTS if compile or not VARIANTS[v]["compiled"]]
    data = data if data is not None else accuracy_data(steps, batch, seed=seed)
    load_start = _loadavg()
    throughput: list[dict[str, Any]] = []
    accuracy: list[dict[str, Any]] = []
    per_preset = len(variants) * (1 + warmup + rounds * round_steps)
    with progress(
        len(presets) * per_preset, "pretrain bench", unit="step", enabled=is_terminal(sys.stderr)
    ) as bar:
        for preset in presets:
            bar.set_postfix(preset=preset, stage="throughput")
            recs = _throughput(
                preset,
                variants,
                batch=batch,
                warmup=warmup,
                rounds=rounds,
                round_steps=round_steps,
                seed=seed,
                tick=bar.update,
            )
            throughput += recs
            sps = {r["variant"]: r["samples_per_s"] for r in recs}
            log(
                f"{preset}: "
                + ", ".join(f"{v} {s:.0f}/s (x{s / sps[BASELINE]:.2f})" for v, s in sps.items())
            )
            compiled = compile and sps["compiled-bf16"] > sps["eager-bf16"]
            bar.set_postfix(preset=preset, stage="accuracy")
            acc = _accuracy(preset, data, steps=steps, batch=batch, compiled=compiled, seed=seed)
            accuracy.append(acc)
            log(
                f"{preset}: {acc['steps']} steps ({'compiled' if compiled else 'eager'}): "
                f"fp32 {acc['fp32_nmse_db']:.2f} dB, bf16 {acc['bf16_nmse_db']:.2f} dB "
                f"({acc['bf16_minus_fp32_db']:+.2f} dB)"
            )
    return {
        "benchmark": "pretrain",
        "commit": git_commit(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": dict(machine_info(), loadavg_start=load_start, loadavg_end=_loadavg()),
        "settings": {
            "presets": list(presets),
            "variants": variants,
            "batch_size": batch,
            "warmup_steps": warmup,
            "rounds": rounds,
            "round_steps": round_steps,
            "accuracy_steps": steps,
            "seed": seed,
        },
        "data": data.source,
        "throughput": throughput,
        "accuracy": accuracy,
    }
