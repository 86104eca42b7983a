from fractions import Fraction

import numpy as np
import pytest

from lasco.codec import CSI_DIM, Projection, parse_ratio
from lasco.errors import ConfigError, ShapeError


@pytest.mark.parametrize("ratio,m", [("1/4", 512), ("1/8", 256), ("1/16", 128), ("1/32", 64)])
def test_paper_ratios_give_codeword_lengths(ratio, m):
    p = Projection.from_ratio(ratio, seed=3)
    assert p.m == m
    assert p.a.shape == (m, CSI_DIM)
    assert p.a_pinv.shape == (CSI_DIM, m)
    assert p.ratio == Fraction(m, CSI_DIM)


@pytest.mark.parametrize("bad", ["1/3", "0", "2", "-1/4", "abc", "1/0"])
def test_bad_ratio_is_refused_with_the_value_named(bad):
    with pytest.raises(ConfigError) as exc:
        parse_ratio(bad)
    assert bad in str(exc.value)


def test_ratio_that_does_not_divide_2048_names_the_problem():
    with pytest.raises(ConfigError, match="does not divide 2048"):
        parse_ratio("1/3")


def test_pseudo_inverse_is_a_right_inverse():
    p = Projection.from_ratio("1/8", seed=0)
    eye = p.a.astype(np.float64) @ p.a_pinv.astype(np.float64)
    assert np.abs(eye - np.eye(p.m)).max() < 1e-4


def test_decode_of_encode_keeps_the_codeword():
    rng = np.random.default_rng(1)
    h = rng.standard_normal((5, 2, 32, 32)).astype(np.float32)
    p = Projection.from_ratio("1/4", seed=7)
    s = p.encode(h)
    assert s.shape == (5, 512) and s.dtype == np.float32
    h_in = p.decode(s)
    assert h_in.shape == (5, 2, 32, 32)
    # A (A^+ s) = s: the estimate is consistent with what the UE sent.
    assert np.abs(p.encode(h_in) - s).max() < 1e-3 * np.abs(s).max()


def test_roundtrip_keeps_about_the_compression_ratio_of_the_energy():
    rng = np.random.default_rng(2)
    h = rng.standard_normal((64, 2, 32, 32)).astype(np.float32)
    p = Projection.from_ratio("1/4", seed=0)
    h_in = p.roundtrip(h)
    kept = (h_in**2).sum() / (h**2).sum()
    assert 0.22 < kept < 0.28


def test_same_seed_same_projection_other_seed_other_projection():
    a, b, c = Projection(seed=5, m=64), Projection(seed=5, m=64), Projection(seed=6, m=64)
    assert np.array_equal(a.a, b.a)
    assert not np.array_equal(a.a, c.a)


def test_projection_id_roundtrip():
    p = Projection.from_ratio("1/16", seed=42)
    assert p.id == "gauss-42-128"
    q = Projection.from_id(p.id)
    assert np.array_equal(p.a_pinv, q.a_pinv)


@pytest.mark.parametrize("bad_id", ["gauss-1", "rand-1-64", "gauss-x-64", ""])
def test_bad_projection_id(bad_id):
    with pytest.raises(ConfigError, match="projection id"):
        Projection.from_id(bad_id)


def test_wrong_shapes_are_named():
    p = Projection.from_ratio("1/4")
    with pytest.raises(ShapeError, match=r"\[N, 2, 32, 32\]"):
        p.encode(np.zeros((3, 32, 32), np.float32))
    with pytest.raises(ShapeError, match=r"\[N, 512\]"):
        p.decode(np.zeros((3, 256), np.float32))
