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
"""

from __future__ import annotations

import numpy as np

from lasco.channels.spec import Catalogue, CatalogueEntry, EnvSpec
from lasco.errors import CatalogueError

__all__ = ["paper_catalogue", "place_regions"]


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
