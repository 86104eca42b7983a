"""Pre-training runs side by side on one axis of training time: which LAM size to ship.

``python -m studies pretrain-curves A.pt B.pt --json reports/pretrain_curves.json`` reads each
checkpoint's metadata (``lasco pretrain`` keeps the validation and training curves, the
seconds and the held-out test NMSE) and writes them as JSON with a PNG of validation NMSE
against cumulative training seconds. A run started from another checkpoint (``--init``) is
drawn after the run it continued when that checkpoint is found, so a second schedule is placed
where its first ended. Seconds are per epoch, spread evenly over the run's total (the
checkpoints do not time each epoch), as measured on the machine that trained it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lasco.errors import DataError
from lasco.train import load_checkpoint

__all__ = ["pretrain_curves", "write_pretrain_curves"]


def _run(path: Path, *, follow: bool = True) -> dict[str, Any]:
    _, kind, meta = load_checkpoint(path)
    if not meta.get("complete", True):
        raise DataError(f"{path}: the run has not finished (its meta says complete: false)")
    run: dict[str, Any] = {
        "checkpoint": _shown(path),
        "kind": kind,
        "preset": meta.get("preset"),
        "params": meta.get("params"),
        "bf16": bool(meta.get("bf16")),
        "epochs": meta.get("epochs_run", meta.get("epochs")),
        "best_epoch": meta.get("best_epoch"),
        "train_seconds": float(meta.get("train_seconds") or 0.0),
        "source_test_nmse_db": meta.get("source_test_nmse_db"),
        "val_curve": list(meta.get("val_curve") or []),
        "train_curve": list(meta.get("train_curve") or []),
        "offset_seconds": 0.0,
        "continues": None,
    }
    init = meta.get("init")
    if follow and init and Path(init["checkpoint"]).is_file():
        before = _run(Path(init["checkpoint"]), follow=True)
        run["continues"] = before
        run["offset_seconds"] = before["offset_seconds"] + before["train_seconds"]
    return run


def _shown(path: Path) -> str:
    """``path`` relative to the working folder when it lies inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def pretrain_curves(paths: list[str | Path]) -> dict[str, Any]:
    """Each checkpoint's run (and the runs it continued), with the best held-out NMSE."""
    runs = [_run(Path(p)) for p in paths]
    if not runs:
        raise DataError("no checkpoint given")
    best = min(runs, key=lambda r: r["source_test_nmse_db"])
    return {"runs": runs, "best": best["checkpoint"]}


def _points(run: dict[str, Any]) -> tuple[list[float], list[float]]:
    n = len(run["val_curve"])
    step = run["train_seconds"] / n if n else 0.0
    xs = [run["offset_seconds"] + step * (i + 1) for i in range(n)]
    return xs, run["val_curve"]


def plot_pretrain_curves(result: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for run in result["runs"]:
        label = f"{run['preset']} ({run['params'] / 1e6:.2f} M)"
        xs, ys = _points(run)
        line = ax.plot([x / 3600 for x in xs], ys, marker=".", label=label)[0]
        prev = run["continues"]
        while prev is not None:
            pxs, pys = _points(prev)
            if pys:
                ax.plot([x / 3600 for x in pxs], pys, color=line.get_color(), ls="--")
            end = (prev["offset_seconds"] + prev["train_seconds"]) / 3600
            ax.plot([end], [prev["source_test_nmse_db"]], "o", color=line.get_color(), mfc="none")
            prev = prev["continues"]
        ax.plot([xs[-1] / 3600], [run["source_test_nmse_db"]], "o", color=line.get_color())
    ax.set(
        xlabel="training hours (the machine that trained each run)",
        ylabel="NMSE on held-out source channels (dB)",
        title="Pre-training: validation per epoch, test at each run's end (dots)",
    )
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_pretrain_curves(paths: list[str | Path], out: str | Path) -> list[Path]:
    """Write the JSON and its PNG beside it; returns both paths."""
    result = pretrain_curves(paths)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    return [out, plot_pretrain_curves(result, out.with_suffix(".png"))]
