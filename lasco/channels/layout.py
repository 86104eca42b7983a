"""The paper's cell layout: 110 circular regions of 5 m radius in a 200 m UMi cell.

Placement rule (seeded, reproducible): region centres are drawn uniformly over the
area of the BS's 120-degree sector (azimuth -60..+60 degrees around the array
boresight +x) between 20 m and 195 m from the BS, so each whole disc lies inside
the 200 m cell; a draw is kept only when its disc lies at least ``gap`` metres
from every region kept before. Regions are numbered 1..110 in the order kept.
Odd-numbered regions are NLOS and even-numbered regions LOS (as in arXiv:2512.12170);
regions 1-100 are sources for pre-training, 101-110 adaptation targets. Each
region's seed is ``seed * 1000 + number``. Target regions are drawn in snapshots of
up to 5,000 UEs, so a target of up to 5,000 samples is one spatially consistent
environment (sources keep the 1,000-UE default; 100 of them make the pool).

The ``scenarios`` catalogue keeps those 100 UMi sources and replaces the targets by
eight environments of other TR 38.901 scenarios (UMa, RMa, InH, CDL), so a model
pre-trained on the paper's sources can be adapted to places it has never seen
anything like. Their geometry follows TR 38.901 (Tables 7.2-1, 7.4-1): BS heights
are the scenario defaults, distances suit the scenario's cell size, and every
centre lies in the sector in front of the array (boresight +x).
"""

from __future__ import annotations

import numpy as np

from lasco.channels.spec import Catalogue, CatalogueEntry, EnvSpec
from lasco.errors import CatalogueError

__all__ = ["paper_catalogue", "place_regions", "scenario_catalogue"]


def place_regions(
    n: int,
    *,
    seed: int = 2025,
    radius: float = 5.0,
    r_min: float = 20.0,
    r_max: float = 195.0,
    half_sector_deg: float = 60.0,
    gap: float = 1.0,
    max_draws: int = 200_000,
) -> np.ndarray:
    """Non-overlapping region centres ``[n, 2]`` float64 [m], by the rule above."""
    rng = np.random.default_rng(seed)
    half = np.deg2rad(half_sector_deg)
    centres: list[np.ndarray] = []
    min_dist = 2 * radius + gap
    for _ in range(max_draws):
        # Uniform over the annular sector's area: r^2 uniform, angle uniform.
        r = np.sqrt(rng.uniform(r_min**2, r_max**2))
        phi = rng.uniform(-half, half)
        c = np.array([r * np.cos(phi), r * np.sin(phi)])
        if all(np.hypot(*(c - o)) >= min_dist for o in centres):
            centres.append(c)
            if len(centres) == n:
                return np.stack(centres)
    raise CatalogueError(f"could not place {n} regions of radius {radius} m in the sector")


def paper_catalogue(seed: int = 2025, n_regions: int = 110, n_sources: int = 100) -> Catalogue:
    """The paper's 110-region UMi layout as a catalogue (sources 1-100, targets 101-110)."""
    centres = place_regions(n_regions, seed=seed)
    entries = []
    for i, (x, y) in enumerate(centres, start=1):
        spec = EnvSpec(
            env_id=str(i),
            scenario="UMi",
            centre=(round(float(x), 3), round(float(y), 3)),
            radius=5.0,
            los=(i % 2 == 0),
            seed=seed * 1000 + i,
            snapshot_ues=1000 if i <= n_sources else 5000,
        )
        entries.append(CatalogueEntry(spec, "source" if i <= n_sources else "target"))
    return Catalogue(name="paper", entries=entries)


# (id, scenario, centre [m], radius [m], LOS, RMS delay spread [s] or None).
# UMa (BS 25 m, ISD 500 m): LOS near the BS, NLOS towards the cell edge.
# RMa (BS 35 m, ISD 1732 m): LOS at a few hundred metres, NLOS near 1 km.
# InH office (BS 3 m on the ceiling, UT 1 m): a smaller region, 3 m radius.
# CDL: link-level profiles without positions, so centre and radius are nominal;
# A is NLOS with the 'long' 300 ns spread of TR 38.901 Table 7.7.3-1, D is LOS with
# the 'nominal' 100 ns.
_SCENARIO_TARGETS: tuple[tuple[str, str, tuple[float, float], float, bool, float | None], ...] = (
    ("uma-los", "UMa", (85.0, 20.0), 5.0, True, None),
    ("uma-nlos", "UMa", (240.0, -70.0), 5.0, False, None),
    ("rma-los", "RMa", (400.0, 60.0), 5.0, True, None),
    ("rma-nlos", "RMa", (900.0, -200.0), 5.0, False, None),
    ("inh-los", "InH", (12.0, 4.0), 3.0, True, None),
    ("inh-nlos", "InH", (30.0, -10.0), 3.0, False, None),
    ("cdl-a", "CDL-A", (100.0, 0.0), 5.0, False, 300e-9),
    ("cdl-d", "CDL-D", (100.0, 0.0), 5.0, True, 100e-9),
)


def scenario_catalogue(seed: int = 2025) -> Catalogue:
    """The paper's 100 UMi sources plus eight targets of other scenarios.

    The sources are exactly those of :func:`paper_catalogue` with the same ``seed``,
    so the pre-trained model is the paper's. The targets (UMa, RMa and InH, LOS and
    NLOS each, plus CDL-A and CDL-D) are drawn in 5,000-UE snapshots like the
    paper's targets, with seeds ``seed * 1000 + 201..208``, clear of the paper's.
    """
    sources = [e for e in paper_catalogue(seed).entries if e.role == "source"]
    targets = []
    for k, (env_id, scenario, centre, radius, los, delay_spread) in enumerate(
        _SCENARIO_TARGETS, start=201
    ):
        extra = {} if delay_spread is None else {"delay_spread_s": delay_spread}
        spec = EnvSpec(
            env_id=env_id,
            scenario=scenario,
            centre=centre,
            radius=radius,
            los=los,
            seed=seed * 1000 + k,
            snapshot_ues=5000,
            **extra,
        )
        targets.append(CatalogueEntry(spec, "target"))
    return Catalogue(name="scenarios", entries=sources + targets)
