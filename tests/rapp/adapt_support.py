"""What the adaptation tests share: the tiny settings, synthetic labelled samples of one
environment, the store they publish to, and the NMSE the serving runtime gets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datastore import LabelledSamples
from lasco import metrics
from lasco.codec import Projection
from lasco.train import AdaptConfig
from model_store import LocalBackend, ModelStore, TrustedKeys
from rapp.adaptation import AdaptationSettings, proxy_name
from serving import LascoRuntime

PROJ = Projection.from_ratio("1/4", seed=0)
ENV = "102"
NAME = proxy_name(ENV)
N = 300
FAST = AdaptConfig(max_epochs=4, patience=4, batch_size=32)


def settings(**over) -> AdaptationSettings:
    """Small settings: at least 100 samples, 4 epochs, one ORT thread; E-LASCO without
    views (the test stores' LAMs have no taps), unless ``over`` says otherwise."""
    small = {"min_samples": 100, "adapt": FAST, "ort_threads": 1}
    return AdaptationSettings(**{**small, "method": "e-lasco", "phase_views": 1, **over})


def channels(n: int, seed: int = 0, paths: int = 3) -> np.ndarray:
    """``[n, 2, 32, 32] float32`` few-path channels around one angle (an environment a
    refiner can learn), each of unit mean power."""
    rng = np.random.default_rng(seed)
    a = np.arange(32)
    theta = 0.4 + 0.3 * rng.standard_normal((n, paths))
    tau = rng.uniform(0, 4, (n, paths))
    g = (rng.standard_normal((n, paths)) + 1j * rng.standard_normal((n, paths))) / np.sqrt(2)
    steer = np.exp(-1j * np.pi * a * np.sin(theta)[..., None])  # [n, paths, 32]
    delay = np.exp(-2j * np.pi * a * tau[..., None] / 32)
    h = np.einsum("np,npa,npk->nak", g, steer, delay)
    h /= np.sqrt((np.abs(h) ** 2).mean(axis=(1, 2), keepdims=True))
    return np.stack([h.real, h.imag], 1).astype(np.float32)


def labelled(n: int = N, *, proj: Projection = PROJ, env: str = ENV) -> LabelledSamples:
    """``n`` samples of ``env`` in shuffled time order (report times 0..n-1 s)."""
    y = channels(n)
    t_ns = np.random.default_rng(1).permutation(n).astype(np.int64) * 1_000_000_000
    cells = np.array(["cell-1"] * n, dtype=object)
    return LabelledSamples(env, proj.id, y, proj.encode(y), cells, t_ns)


@dataclass
class World:
    root: Path
    store: ModelStore
    key: object
    trusted: TrustedKeys

    def reopen(self, backend: LocalBackend) -> ModelStore:
        return ModelStore(backend, self.trusted)


def served_nmse_db(store: ModelStore, samples: LabelledSamples, proxy: tuple | None) -> float:
    """NMSE (dB) of ``serving.LascoRuntime`` on ``samples``, with the proxy ``(name,
    version)`` installed for ENV, or the LAM alone."""
    rt = LascoRuntime.from_store(store, threads=1, providers=["CPUExecutionProvider"])
    try:
        if proxy is not None:
            rt.set_proxy_from_artifact(ENV, store.fetch(*proxy))
        h_hat = rt.reconstruct(samples.codewords, [ENV] * len(samples)).h_hat
    finally:
        rt.close()
    return metrics.nmse_db(h_hat, samples.labels)
