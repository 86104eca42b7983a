"""Report JSONs built by hand for the report's tests: the layout studies.summary writes,
holding only what a test sets."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from lasco.collab import METHODS
from studies.config import Roles


def entry(nmse: dict[str, float], n: int = 1000, **fields: Any) -> dict[str, Any]:
    """One method's entry at one n: per-region NMSE, its mean and the regions done."""
    return {
        "n": n,
        "nmse_db": nmse,
        "mean_nmse_db": sum(nmse.values()) / len(nmse),
        "regions_done": len(nmse),
        **fields,
    }


def method(by_n: dict[str, dict[str, Any]], trainable: int | None = 10, key: str = "") -> dict:
    """A method's record: its label (lasco.collab's, when ``key`` is one) and entries."""
    label = METHODS[key].label if key in METHODS else key
    return {"label": label, "trainable_params": trainable, "by_n": by_n}


def report(
    methods: dict[str, dict[str, Any]],
    regions: list[str],
    *,
    headline_n: int = 1000,
    roles: Roles | None = None,
    ns: list[int | str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A report of ``methods`` (key -> record from ``method``) over ``regions``."""
    for key, rec in methods.items():
        rec.setdefault("label", METHODS[key].label if key in METHODS else key)
    return {
        "target_regions": regions,
        "headline_n": headline_n,
        "roles": asdict(roles or Roles()),
        "config": {"ns": ns or [headline_n], "adapt": {"max_epochs": 100, "lr": 0.001}},
        "lam_params": 1000,
        "alpha_sweep": {},
        "alpha_sweep_n": headline_n,
        "e_lasco_alpha": {},
        "methods": methods,
        **fields,
    }


def by_region(
    nmse: dict[str, dict[str, float]], n: int = 1000, trainable: dict[str, int] | None = None
) -> dict[str, dict[str, Any]]:
    """Methods from their NMSE per region at one n (``trainable`` parameters each, 10 by
    default)."""
    trainable = trainable or {}
    return {k: method({str(n): entry(v, n)}, trainable.get(k, 10), key=k) for k, v in nmse.items()}
