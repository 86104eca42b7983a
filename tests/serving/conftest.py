"""The runtime under test, inline and over a pool, on each test module's ``models``
fixture (``(torch models, ONNX bytes)`` with ``"lam"`` and ``"ref"`` among the bytes)."""

import pytest

from lasco.codec import Projection
from serving import LascoRuntime

PROJ = Projection.from_ratio("1/4", seed=0)


@pytest.fixture(params=[1, 3], ids=["1-worker", "3-workers"])
def rt(models, request):
    """Inline (one worker) and spread over a pool (three: chunks, proxies in parallel)."""
    runtime = LascoRuntime(models[1]["lam"], models[1]["ref"], PROJ, threads=request.param)
    yield runtime
    runtime.close()


def add_proxy(rt, env, onnx, **kw):
    """Install a proxy trained against the runtime's own LAM and projection."""
    return rt.set_proxy(env, onnx, lam_sha256=rt.lam_sha256, projection_id=PROJ.id, **kw)
