"""The xApp benchmark runs on the xApp tests' world: a store with a tiny LAM, reference SAM
and proxies, a core over it, and a ransim E2 node."""

from tests.xapp.conftest import core, make_core, node, world

__all__ = ["core", "make_core", "node", "world"]
