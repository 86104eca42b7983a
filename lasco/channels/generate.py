"""Channel generation with Sionna's TR 38.901 models (torch; training side only).

One region = one environment. Sionna's default draws every UE's clusters
independently, which makes NLOS regions statistically alike; here each region is
drawn with TR 38.901 spatial consistency (section 7.6.3): all UEs of a snapshot
in one topology, ``enable_spatial_consistency=True`` and one
``spatial_consistency_track_ids`` value, so nearby UEs share cluster signs and
ray couplings and their small-scale parameters are correlated fields over
position. A snapshot holds at most ``spec.snapshot_ues`` UEs (default 1,000): the
correlation matrices grow as N^2 and their Cholesky as N^3, so a 10,000-UE
snapshot takes 11 GB and runs at 140 samples/s against about 600 samples/s at
1,000 here. A region with more samples than that is drawn in several snapshots,
each with its own large-scale draw (the per-snapshot seed is derived from the
region's seed).

Output: ``H [N, n_ant, n_sc] complex64`` (BS antenna, subcarrier), downlink from
the 32-element half-wavelength ULA (TR 38.901 element pattern, boresight +x) to
a single omni UE antenna, 32 subcarriers evenly spaced over the bandwidth.
Normalisation: every sample is scaled to unit mean power, mean |h|^2 = 1 over its
1,024 entries (path loss and shadowing removed; in a real system that gain is
reported separately, like a CQI). Deterministic given the spec.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from lasco.channels.spec import EnvSpec
from lasco.errors import DataError

__all__ = ["generate_region", "ue_positions"]

ProgressFn = Callable[[int], None]


def ue_positions(spec: EnvSpec, n: int, block: int) -> np.ndarray:
    """UE positions ``[n, 3]`` [m], uniform over the region's disc, for snapshot ``block``."""
    rng = np.random.default_rng([spec.seed, block])
    r = spec.radius * np.sqrt(rng.uniform(size=n))
    phi = rng.uniform(0, 2 * np.pi, size=n)
    x = spec.centre[0] + r * np.cos(phi)
    y = spec.centre[1] + r * np.sin(phi)
    return np.stack([x, y, np.full(n, spec.ut_h)], axis=-1)


def _arrays(spec: EnvSpec):
    from sionna.phy.channel.tr38901 import PanelArray

    bs = PanelArray(
        num_rows_per_panel=1,
        num_cols_per_panel=spec.n_ant,
        polarization="single",
        polarization_type="V",
        antenna_pattern="38.901",
        carrier_frequency=spec.carrier_hz,
    )
    ut = PanelArray(
        num_rows_per_panel=1,
        num_cols_per_panel=1,
        polarization="single",
        polarization_type="V",
        antenna_pattern="omni",
        carrier_frequency=spec.carrier_hz,
    )
    return bs, ut


def _system_level_model(spec: EnvSpec, spatial_consistency: bool = True):
    from sionna.phy.channel import tr38901

    bs, ut = _arrays(spec)
    common = dict(
        carrier_frequency=spec.carrier_hz,
        ut_array=ut,
        bs_array=bs,
        direction="downlink",
        enable_spatial_consistency=spatial_consistency,
    )
    if spec.scenario == "UMi":
        return tr38901.UMi(o2i_model="low", **common)
    if spec.scenario == "UMa":
        return tr38901.UMa(o2i_model="low", **common)
    if spec.scenario == "RMa":
        return tr38901.RMa(**common)
    return tr38901.InH(**common)


def _snapshot_system_level(model, spec: EnvSpec, pos: np.ndarray) -> tuple:
    n = pos.shape[0]
    ut_loc = torch.tensor(pos[None], dtype=torch.float32)
    bs_loc = torch.tensor([[[0.0, 0.0, spec.bs_h]]], dtype=torch.float32)
    zeros_ut = torch.zeros(1, n, 3)
    los = "random" if spec.los is None else bool(spec.los)
    model.reset_topology()  # every snapshot is a new topology (its size may differ)
    model.set_topology(
        ut_loc,
        bs_loc,
        zeros_ut,
        torch.zeros(1, 1, 3),
        zeros_ut,
        torch.full((1, n), spec.scenario == "InH", dtype=torch.bool),  # InH: all indoor
        los=los,
        spatial_consistency_track_ids=torch.zeros(n, dtype=torch.int64),
    )
    return model(num_time_samples=1, sampling_frequency=1.0)


def _snapshot_cdl(spec: EnvSpec, n: int):
    from sionna.phy.channel.tr38901 import CDL

    bs, ut = _arrays(spec)
    model = CDL(
        spec.scenario.split("-")[1],
        spec.delay_spread_s,
        spec.carrier_hz,
        ut_array=ut,
        bs_array=bs,
        direction="downlink",
    )
    return model(batch_size=n, num_time_steps=1, sampling_frequency=1.0)


def generate_region(
    spec: EnvSpec,
    n: int,
    *,
    snapshot_ues: int | None = None,
    progress: ProgressFn | None = None,
    spatial_consistency: bool = True,
) -> np.ndarray:
    """Draw ``n`` channels of region ``spec``: ``[n, n_ant, n_sc] complex64``, unit mean power.

    ``spatial_consistency=False`` gives Sionna's default independent draws (for
    comparison only). Raises DataError when n < 1 or the generator produced NaN/Inf.
    """
    import sionna.phy
    from sionna.phy.channel import cir_to_ofdm_channel, subcarrier_frequencies

    if n < 1:
        raise DataError(f"region {spec.env_id!r}: number of samples must be >= 1, got {n}")
    snapshot_ues = snapshot_ues or spec.snapshot_ues
    freqs = subcarrier_frequencies(spec.n_sc, spec.bandwidth_hz / spec.n_sc)
    model = None if spec.is_cdl else _system_level_model(spec, spatial_consistency)
    out = np.empty((n, spec.n_ant, spec.n_sc), dtype=np.complex64)
    done, block = 0, 0
    with torch.no_grad():
        while done < n:
            m = min(snapshot_ues, n - done)
            sionna.phy.config.seed = int(spec.seed * 7919 + block) % (2**31)
            if model is None:
                a, tau = _snapshot_cdl(spec, m)
            else:
                a, tau = _snapshot_system_level(model, spec, ue_positions(spec, m, block))
            h = cir_to_ofdm_channel(freqs, a, tau)  # [B, rx, 1, tx, n_ant, 1, n_sc]
            h = h.reshape(-1, spec.n_ant, spec.n_sc) if model is None else h[0, :, 0, 0, :, 0, :]
            out[done : done + m] = h.numpy().astype(np.complex64)
            done += m
            block += 1
            if progress is not None:
                progress(m)
    if not np.isfinite(out).all():
        raise DataError(f"region {spec.env_id!r}: the generator produced NaN/Inf channels")
    power = np.mean(np.abs(out) ** 2, axis=(1, 2), keepdims=True)
    if (power <= 0).any():
        raise DataError(f"region {spec.env_id!r}: the generator produced an all-zero channel")
    return (out / np.sqrt(power)).astype(np.complex64)
