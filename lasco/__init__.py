"""LASCO-RIC core library: large and small model collaboration for CSI feedback.

Importing :mod:`lasco` is light (numpy only). Channel generation (Sionna), models,
collaboration and training (torch) live in their own modules and are imported
only when used, so the xApp side can use the codec and metrics without torch.
"""

from lasco.errors import (
    CatalogueError,
    ConfigError,
    DataError,
    LascoError,
    ShapeError,
)

__version__ = "0.1.0"

__all__ = [
    "CatalogueError",
    "ConfigError",
    "DataError",
    "LascoError",
    "ShapeError",
    "__version__",
]
