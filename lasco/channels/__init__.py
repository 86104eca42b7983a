"""Channel data: environment specs, the built-in layouts, Sionna generation, the cache.

``lasco.channels.generate`` imports Sionna and torch; everything else here is
numpy only. Use :func:`load_region` to get a region's channels, drawing and
caching them on first use.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lasco.channels.layout import paper_catalogue, place_regions, scenario_catalogue
from lasco.channels.spec import (
    CDL_PROFILES,
    SCENARIOS,
    Catalogue,
    CatalogueEntry,
    EnvSpec,
    parse_region_list,
)
from lasco.channels.store import (
    ChannelCache,
    Split,
    default_cache_dir,
    phase_views,
    split_region,
    to_real,
)
from lasco.errors import ConfigError

__all__ = [
    "BUILTIN_CATALOGUES",
    "CDL_PROFILES",
    "SCENARIOS",
    "Catalogue",
    "CatalogueEntry",
    "ChannelCache",
    "EnvSpec",
    "Split",
    "builtin_catalogue",
    "default_cache_dir",
    "load_region",
    "paper_catalogue",
    "parse_region_list",
    "phase_views",
    "place_regions",
    "scenario_catalogue",
    "split_region",
    "to_real",
]

BUILTIN_CATALOGUES: dict[str, Callable[[], Catalogue]] = {
    "paper": paper_catalogue,
    "scenarios": scenario_catalogue,
}


def builtin_catalogue(name: str) -> Catalogue:
    """A catalogue shipped with the library, by name: ``paper`` or ``scenarios``.

    Raises ConfigError naming the known catalogues when ``name`` is none of them.
    """
    try:
        factory = BUILTIN_CATALOGUES[name]
    except KeyError:
        raise ConfigError(
            f"unknown built-in catalogue {name!r}; known: {', '.join(BUILTIN_CATALOGUES)}"
        ) from None
    return factory()


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
