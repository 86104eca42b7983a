"""Channel data: environment specs, the paper's layout, Sionna generation, the cache.

``lasco.channels.generate`` imports Sionna and torch; everything else here is
numpy only. Use :func:`load_region` to get a region's channels, drawing and
caching them on first use.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lasco.channels.layout import paper_catalogue, place_regions
from lasco.channels.spec import (
    CDL_PROFILES,
    SCENARIOS,
    Catalogue,
    CatalogueEntry,
    EnvSpec,
    parse_region_list,
)
from lasco.channels.store import ChannelCache, Split, default_cache_dir, split_region, to_real

__all__ = [
    "CDL_PROFILES",
    "SCENARIOS",
    "Catalogue",
    "CatalogueEntry",
    "ChannelCache",
    "EnvSpec",
    "Split",
    "default_cache_dir",
    "load_region",
    "paper_catalogue",
    "parse_region_list",
    "place_regions",
    "split_region",
    "to_real",
]


def load_region(
    spec: EnvSpec,
    n: int,
    cache: ChannelCache | None = None,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """``[n, 32, 32] complex64`` channels of ``spec``, from the cache or freshly drawn."""
    cache = cache or ChannelCache()

    def draw(s: EnvSpec, k: int) -> np.ndarray:
        from lasco.channels.generate import generate_region

        return generate_region(s, k, progress=progress)

    if cache.has(spec, n) and progress is not None:
        h = cache.load(spec, n)
        progress(n)
        return h
    return cache.get(spec, n, draw)
