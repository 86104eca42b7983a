import numpy as np
import pytest
import torch

from lasco import losses, metrics
from lasco.errors import ShapeError


def _unit(n=2):
    h = np.zeros((n, 2, 32, 32), np.float32)
    h[:, 0] = 1.0  # every entry 1 + 0j: ||H||^2 = 1024
    return h


def test_nmse_hand_computed():
    h = _unit(1)
    h_hat = h.copy()
    h_hat[0, 0, 0, :] = 0.0  # zero 32 of the 1024 entries: error 32 / 1024
    assert metrics.nmse(h_hat, h) == pytest.approx(32 / 1024)
    assert metrics.nmse_db(h_hat, h) == pytest.approx(10 * np.log10(32 / 1024))


def test_nmse_averages_per_sample_ratios_not_powers():
    h = _unit(2)
    h[1] *= 10.0  # sample 2 carries 100x the power
    h_hat = h.copy()
    h_hat[0] *= 0.5  # sample 1: NMSE 0.25; sample 2: 0
    assert metrics.nmse(h_hat, h) == pytest.approx(0.125)


def test_nmse_of_a_perfect_estimate_is_zero_and_of_zero_is_one():
    h = np.random.default_rng(0).standard_normal((4, 2, 32, 32))
    assert metrics.nmse(h, h) == 0.0
    assert metrics.nmse(np.zeros_like(h), h) == pytest.approx(1.0)


def test_gcs_hand_computed_phase_rotation_is_perfect():
    h = _unit(1)
    # h_hat = j * h on every subcarrier: |h_hat^H h| = ||h_hat|| ||h|| -> GCS 1.
    h_hat = np.zeros_like(h)
    h_hat[:, 1] = h[:, 0]
    assert metrics.gcs(h_hat, h) == pytest.approx(1.0)


def test_gcs_hand_computed_orthogonal_half():
    h = _unit(1)
    h_hat = h.copy()
    # On the first 16 subcarriers make h_hat orthogonal to h: + on 16 antennas, - on 16.
    h_hat[0, 0, 16:, :16] = -1.0
    assert metrics.gcs(h_hat, h) == pytest.approx(0.5)


def test_numpy_and_torch_agree():
    rng = np.random.default_rng(3)
    h = rng.standard_normal((8, 2, 32, 32)).astype(np.float32)
    h_hat = h + 0.3 * rng.standard_normal(h.shape).astype(np.float32)
    th, thh = torch.from_numpy(h), torch.from_numpy(h_hat)
    assert float(losses.nmse(thh, th)) == pytest.approx(metrics.nmse(h_hat, h), rel=1e-5)
    assert losses.nmse_db(thh, th) == pytest.approx(metrics.nmse_db(h_hat, h), abs=1e-4)
    assert float(losses.gcs(thh, th)) == pytest.approx(metrics.gcs(h_hat, h), rel=1e-6)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ShapeError):
        metrics.nmse(np.zeros((2, 2, 32, 32)), np.zeros((3, 2, 32, 32)))
    with pytest.raises(ShapeError, match="empty"):
        metrics.gcs(np.zeros((0, 2, 32, 32)), np.zeros((0, 2, 32, 32)))


def _plane_wave(n_paths: int, seed: int = 0) -> np.ndarray:
    """[1, 2, 32, 32]: the sum of ``n_paths`` plane waves on DFT beams, flat over subcarriers."""
    rng = np.random.default_rng(seed)
    ant = np.arange(32)
    h = sum(np.exp(2j * np.pi * b * ant / 32) for b in rng.choice(32, n_paths, replace=False))
    hc = np.repeat(np.asarray(h)[:, None], 32, axis=1)[None]
    return np.stack([hc.real, hc.imag], axis=1).astype(np.float32)


@pytest.mark.parametrize(
    ("paths", "share"), [(1, 1.0), (2, 0.5), (4, 0.25)], ids=["one-beam", "two", "four"]
)
def test_beam_share_is_the_strongest_beams_part_of_the_energy(paths, share):
    assert metrics.beam_share(_plane_wave(paths))[0] == pytest.approx(share, rel=1e-4)


def test_beam_share_of_rich_scattering_is_small_and_of_nothing_uniform():
    h = np.random.default_rng(1).standard_normal((64, 2, 32, 32)).astype(np.float32)
    assert metrics.beam_share(h).mean() < 0.2
    assert metrics.beam_share(np.zeros((1, 2, 32, 32)))[0] == pytest.approx(1 / 32)
    with pytest.raises(ShapeError, match="beam_share needs"):
        metrics.beam_share(np.zeros((2, 32, 32)))
