"""Writes the adaptation study: JSON, the Markdown report and the PNG figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lasco.channels.store import atomic_write_bytes
from studies.report.figures import plot_study
from studies.report.markdown import markdown

__all__ = ["write_study"]


def write_study(report: dict[str, Any], json_path: str | Path, meta: dict[str, Any]) -> list[Path]:
    """Write ``report`` (plus ``meta``) as JSON, the Markdown report beside it (same name,
    ``.md``) and the figures in the same folder, named after it (``NAME-nmse_vs_n.png``...,
    so two studies' reports can share a folder); returns the written paths."""
    json_path = Path(json_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(dict(report, meta=meta), indent=1) + "\n"
    atomic_write_bytes(json_path, lambda f: f.write(text.encode()))
    md = json_path.with_suffix(".md")
    prefix = f"{json_path.stem}-"
    atomic_write_bytes(md, lambda f: f.write(markdown(report, meta, prefix).encode()))
    return [json_path, md, *plot_study(report, json_path.parent, prefix)]
