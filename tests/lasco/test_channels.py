"""Channel generation with Sionna: shapes, normalisation, determinism, the cache,
and the spatial consistency that makes one region one environment."""

import numpy as np
import pytest

from lasco.channels import (
    ChannelCache,
    EnvSpec,
    load_region,
    paper_catalogue,
    phase_views,
    split_region,
    to_real,
)
from lasco.channels.generate import generate_region, ue_positions
from lasco.errors import ConfigError, DataError, ShapeError


@pytest.fixture(scope="module")
def cat():
    return paper_catalogue()


def test_shape_dtype_and_unit_power(cat):
    h = generate_region(cat.get("101"), 40)
    assert h.shape == (40, 32, 32) and h.dtype == np.complex64
    assert np.allclose(np.mean(np.abs(h) ** 2, axis=(1, 2)), 1.0, atol=1e-4)
    real = to_real(h)
    assert real.shape == (40, 2, 32, 32) and real.dtype == np.float32
    assert np.array_equal(real[:, 0], h.real) and np.array_equal(real[:, 1], h.imag)


def test_deterministic_given_the_seed(cat):
    a = generate_region(cat.get("3"), 30)
    b = generate_region(cat.get("3"), 30)
    c = generate_region(cat.get("5"), 30)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_several_snapshots_fill_the_region(cat):
    h = generate_region(cat.get("4"), 25, snapshot_ues=10)
    assert h.shape == (25, 32, 32) and np.isfinite(h).all()


def test_ue_positions_lie_in_the_disc(cat):
    spec = cat.get("17")
    pos = ue_positions(spec, 500, 0)
    r = np.hypot(pos[:, 0] - spec.centre[0], pos[:, 1] - spec.centre[1])
    assert r.max() <= spec.radius and pos[:, 2].tolist() == [1.5] * 500


@pytest.mark.parametrize(
    "scenario,centre",
    [("UMa", (120.0, 10.0)), ("RMa", (300.0, 0.0)), ("InH", (10.0, 5.0)), ("CDL-B", (0.0, 0.0))],
)
def test_other_scenarios_generate(scenario, centre):
    h = generate_region(EnvSpec("x", scenario, centre, seed=4), 12)
    assert h.shape == (12, 32, 32) and np.isfinite(h).all()


def test_zero_samples_is_refused(cat):
    with pytest.raises(DataError, match="must be >= 1"):
        generate_region(cat.get("1"), 0)


def _angular_delay(h):
    f = np.abs(np.fft.fft(np.fft.ifft(h, axis=2), axis=1)).reshape(len(h), -1)
    return f / np.linalg.norm(f, axis=1, keepdims=True)


def _similarity_stats(cat, regions, n, spatial_consistency):
    near, far, within = [], [], []
    feats = {}
    iu = np.triu_indices(n, 1)
    for r in regions:
        spec = cat.get(r)
        f = _angular_delay(generate_region(spec, n, spatial_consistency=spatial_consistency))
        feats[r] = f
        pos = ue_positions(spec, n, 0)[:, :2]
        d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)[iu]
        s = (f @ f.T)[iu]
        near.append(s[d < 1.0].mean())
        far.append(s[d > 8.0].mean())
        within.append(s.mean())
    across = np.mean([(feats[a] @ feats[b].T).mean() for a in regions for b in regions if a < b])
    return np.mean(near), np.mean(far), np.mean(within), across


@pytest.mark.slow
def test_spatial_consistency_makes_a_region_one_environment(cat):
    """NLOS UMi, angular-delay magnitude as the feature (docs/data.md): with
    spatial consistency, UE pairs under 1 m apart are clearly more alike than pairs
    over 8 m apart, and UEs of one region are more alike than UEs of two regions;
    both effects are stronger than with Sionna's independent default."""
    regions = ["1", "3", "5", "7"]
    near, far, within, across = _similarity_stats(cat, regions, 250, True)
    near0, far0, within0, across0 = _similarity_stats(cat, regions, 250, False)
    assert near - far > 0.10, (near, far)
    assert within - across > 0.05, (within, across)
    assert near - far > 1.5 * (near0 - far0), ((near, far), (near0, far0))
    assert within - across > within0 - across0, ((within, across), (within0, across0))


def test_cache_reuses_and_writes_atomically(tmp_path, cat):
    cache = ChannelCache(tmp_path)
    spec = cat.get("102")
    calls = []

    def gen(s, n):
        calls.append(n)
        return generate_region(s, n)

    a = cache.get(spec, 12, gen)
    b = cache.get(spec, 12, gen)
    assert calls == [12] and np.array_equal(a, b)
    shard = cache.path(spec, 12)
    assert shard.is_file() and (shard.parent / "spec.json").is_file()
    assert not list(shard.parent.glob("*.tmp"))


def test_failed_generation_leaves_no_shard(tmp_path, cat):
    cache = ChannelCache(tmp_path)
    spec = cat.get("102")

    def broken(s, n):
        raise DataError("generator broke")

    with pytest.raises(DataError):
        cache.get(spec, 5, broken)
    assert not cache.path(spec, 5).exists()


def test_corrupt_shard_is_named(tmp_path, cat):
    cache = ChannelCache(tmp_path)
    spec = cat.get("102")
    path = cache.path(spec, 4)
    path.parent.mkdir(parents=True)
    np.save(path, np.full((4, 32, 32), np.nan, np.complex64))
    with pytest.raises(DataError, match="NaN"):
        load_region(spec, 4, cache)


def test_split_is_8_1_1_and_refuses_bad_data():
    h = np.random.default_rng(0).standard_normal((100, 2, 32, 32)).astype(np.float32)
    sp = split_region(h, seed=1)
    assert (len(sp.train), len(sp.val), len(sp.test)) == (80, 10, 10)
    assert len({x.tobytes() for x in np.concatenate([sp.train, sp.val, sp.test])}) == 100
    h[3, 0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        split_region(h, seed=1)
    with pytest.raises(DataError, match="at least 3"):
        split_region(h[:2], seed=1)
    with pytest.raises(ShapeError):
        to_real(np.zeros((3, 32, 32), np.float32))


def test_phase_views_rotate_each_channel_by_common_phases():
    rng = np.random.default_rng(0)
    h = rng.standard_normal((5, 3, 4)) + 1j * rng.standard_normal((5, 3, 4))
    v = phase_views(to_real(h), 4)
    assert v.shape == (20, 2, 3, 4) and v.dtype == np.float32
    back = v[:, 0] + 1j * v[:, 1]
    for k in range(4):  # view k of channel i is row k * 5 + i, times e^{j pi k / 2}
        np.testing.assert_allclose(back[5 * k : 5 * k + 5], h * 1j**k, atol=1e-5)
    np.testing.assert_array_equal(phase_views(to_real(h), 1), to_real(h))


def test_phase_views_refuse_bad_input():
    with pytest.raises(ShapeError, match="real CSI"):
        phase_views(np.zeros((2, 3, 4), np.float32), 2)
    with pytest.raises(ConfigError, match="phase views"):
        phase_views(np.zeros((2, 2, 3, 4), np.float32), 0)
