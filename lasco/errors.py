"""Typed errors raised by the core library. Each message names what was wrong."""


class LascoError(Exception):
    """Base class of every error the library raises on purpose."""


class ConfigError(LascoError, ValueError):
    """An unknown preset, scenario, method or an invalid setting."""


class CatalogueError(LascoError, ValueError):
    """An environment catalogue or spec that cannot be used (unknown region, bad field)."""


class ShapeError(LascoError, ValueError):
    """An array whose shape or dtype does not match what the operation needs."""


class DataError(LascoError, ValueError):
    """A data set that is empty, holds NaN/Inf, or is otherwise unusable."""
