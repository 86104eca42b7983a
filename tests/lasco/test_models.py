import pytest
import torch

from lasco.errors import ConfigError, ShapeError
from lasco.models import PRESETS, ModelConfig, build_model, count_params, get_preset


def test_paper_sizes():
    # The paper (arXiv:2512.12170): LAM about 63 M parameters, SAM about 0.11 M.
    assert count_params(build_model("lam-paper")) == pytest.approx(63.1e6, rel=0.01)
    assert count_params(build_model("sam")) == pytest.approx(0.11e6, rel=0.02)
    assert count_params(build_model("lam-base")) == pytest.approx(6.4e6, rel=0.01)


def test_smoke_sam_is_under_five_percent_of_its_lam():
    assert count_params(build_model("sam-mini")) < 0.05 * count_params(build_model("lam-mini"))


def test_norm_placement_follows_the_paper():
    assert get_preset("lam-paper").pre_norm and not get_preset("sam").pre_norm


@pytest.mark.parametrize("name", ["tiny", "sam-mini", "sam", "lam-mini"])
def test_forward_shape(name):
    m = build_model(name)
    x = torch.randn(3, 2, 32, 32)
    y = m(x)
    assert y.shape == x.shape and y.dtype == torch.float32


def test_plugin_without_residual_starts_at_zero():
    m = build_model("tiny", residual=False)
    assert torch.count_nonzero(m(torch.randn(2, 2, 32, 32))) == 0


def test_tokens_are_antennas():
    """Changing one antenna's input changes the embedding of that token only."""
    torch.manual_seed(0)
    m = build_model(ModelConfig("one", 0, 16, 16, 2, pre_norm=True))  # no blocks: per-token map
    x = torch.randn(1, 2, 32, 32)
    x2 = x.clone()
    x2[0, :, 5, :] += 1.0
    diff = (m(x2) - m(x)).abs().sum(dim=(0, 1, 3))
    assert diff[5] > 0 and torch.count_nonzero(diff) == 1


def test_bad_inputs():
    with pytest.raises(ConfigError, match="unknown model preset 'huge'"):
        build_model("huge")
    with pytest.raises(ConfigError, match="n_heads"):
        ModelConfig("x", 1, 30, 8, 4, pre_norm=True)
    with pytest.raises(ShapeError, match=r"\[B, 2, 32, 32\]"):
        build_model("tiny")(torch.randn(2, 2, 16, 32))


def test_every_preset_is_listed():
    assert {"lam-paper", "lam-base", "lam-small", "sam", "tiny"} <= set(PRESETS)
