"""The collaboration formulas of docs/method.md, checked on untrained models."""

import pytest
import torch

from lasco.collab import METHODS, ELasco, build_method, lora_rank_for, side_taps
from lasco.errors import ConfigError
from lasco.models import build_model, count_params


@pytest.fixture()
def pair():
    torch.manual_seed(0)
    lam, ref = build_model("lam-mini").eval(), build_model("sam-mini").eval()
    # Perturb the heads so that f_base, f_ref and H_in all differ.
    with torch.no_grad():
        lam.head.bias.add_(0.1)
        ref.head.bias.sub_(0.2)
    x = torch.randn(4, 2, 32, 32)
    with torch.no_grad():
        return lam, ref, x, lam(x), ref(x)


def _out(key, lam, ref, x, base, refo):
    m = build_method(key, lam, ref).eval()
    with torch.no_grad():
        return m, m(x, base, refo)


def test_lasco_is_base_plus_proxy_minus_reference(pair):
    lam, ref, x, base, refo = pair
    m, y = _out("lasco", lam, ref, x, base, refo)
    with torch.no_grad():
        m.proxy.head.bias.add_(0.05)  # the proxy moves away from the reference
        expected = base + m.proxy(x) - refo
        assert torch.allclose(m(x, base, refo), expected, atol=1e-6)
    assert torch.allclose(y, base, atol=1e-6)  # proxy == reference at the start


def test_e_lasco_formula_and_learnable_alpha(pair):
    lam, ref, x, base, refo = pair
    m = build_method("e-lasco", lam, ref).eval()
    assert isinstance(m, ELasco) and m.alpha.requires_grad and float(m.alpha.detach()) == 1.0
    with torch.no_grad():
        m.alpha.fill_(0.3)
        expected = m.proxy(x) + 0.3 * (base - refo)
        assert torch.allclose(m(x, base, refo), expected, atol=1e-6)
    assert m.trainable_params() == count_params(ref) + 1


def test_fixed_alpha_variant_does_not_learn_alpha(pair):
    lam, ref, *_ = pair
    assert not ELasco(lam, ref, alpha=0.5, learn_alpha=False).alpha.requires_grad


def test_no_gradient_reaches_the_lam_or_reference(pair):
    lam, ref, x, base, refo = pair
    m = build_method("lasco", lam, ref).train()
    loss = m(x, base, refo).pow(2).mean()
    loss.backward()
    assert all(p.grad is None for p in lam.parameters())
    assert all(p.grad is None for p in ref.parameters())
    assert all(p.grad is not None for p in m.proxy.parameters())


@pytest.mark.parametrize("key", ["no-reference", "baseline-a", "lora", "lam-finetune"])
def test_lam_side_methods_start_at_the_lam(pair, key):
    lam, ref, x, base, refo = pair
    _, y = _out(key, lam, ref, x, base, refo)
    assert torch.allclose(y, base, atol=1e-5)


def test_trainable_parameter_counts(pair):
    lam, ref, *_ = pair
    n_lam, n_ref = count_params(lam), count_params(ref)
    counts = {k: build_method(k, lam, ref).trainable_params() for k in METHODS}
    assert counts["lam-only"] == counts["sam-only"] == 0
    assert counts["lasco"] == counts["sam-finetune"] == counts["no-reference"] == n_ref
    assert counts["lam-finetune"] == n_lam
    assert counts["baseline-a"] == n_lam + n_ref
    assert 0.5 * n_ref <= counts["lora"] <= 2 * n_ref  # LoRA sized like the SAM


def test_lora_rank_matches_the_budget(pair):
    lam, _, *_ = pair
    assert lora_rank_for(lam, 1) == 1
    assert lora_rank_for(lam, 10**9) > 100


def test_building_a_method_does_not_touch_the_originals(pair):
    lam, ref, *_ = pair
    before = [p.clone() for p in lam.parameters()]
    m = build_method("lam-finetune", lam, ref)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(1.0)
    assert all(torch.equal(a, b) for a, b in zip(before, lam.parameters(), strict=True))


def test_unknown_method():
    with pytest.raises(ConfigError, match="unknown method 'magic'"):
        build_method("magic", build_model("tiny"), build_model("tiny"))


def _hidden(lam, x):
    with torch.no_grad():
        return lam(x, taps=side_taps(lam.cfg.n_layers))[1]


def test_side_taps_read_the_middle_and_last_blocks():
    assert side_taps(4) == (2, 4) and side_taps(20) == (10, 20)
    assert side_taps(1) == (1,) and side_taps(0) == ()


def test_output_refiner_starts_at_the_lam_and_reads_its_output(pair):
    lam, ref, x, base, refo = pair
    m, y = _out("refiner", lam, ref, x, base, refo)
    assert torch.allclose(y, base, atol=1e-6)
    with torch.no_grad():
        m.proxy.head.weight.normal_(std=0.1)
        m.base_embed.weight.normal_(std=0.1)
        moved = m(x, base, refo)
        assert not torch.allclose(moved, base, atol=1e-4)
        # the correction depends on the LAM output, not only on x
        assert not torch.allclose(m(x, base + 0.5, refo) - (base + 0.5), moved - base, atol=1e-4)


def test_side_network_starts_at_the_lam_and_reads_hidden_states(pair):
    lam, ref, x, base, refo = pair
    hidden = _hidden(lam, x)
    m = build_method("side", lam, ref).eval()
    assert m.needs_hidden and m.taps == side_taps(lam.cfg.n_layers)
    with torch.no_grad():
        assert torch.allclose(m(x, base, refo, hidden), base, atol=1e-6)
        m.proxy.head.weight.normal_(std=0.1)
        a, b = m(x, base, refo, hidden), m(x, base, refo, hidden + 1.0 * torch.randn_like(hidden))
        assert not torch.allclose(a, b, atol=1e-4)
    with pytest.raises(ConfigError, match="hidden states"):
        m(x, base, refo)
    with pytest.raises(ConfigError, match="hidden states"):
        m(x, base, refo, hidden[:, :1])


def test_feature_readout_starts_at_the_lam_and_corrects_from_hidden_states_alone(pair):
    lam, ref, x, base, refo = pair
    hidden = _hidden(lam, x)
    m = build_method("readout", lam, ref).eval()
    assert m.needs_hidden and m.taps == side_taps(lam.cfg.n_layers)
    with torch.no_grad():
        assert torch.allclose(m(x, base, refo, hidden), base, atol=1e-6)
        m.head.weight.normal_(std=0.1)
        moved = m(x, base, refo, hidden)
        assert not torch.allclose(moved, base, atol=1e-4)
        # the correction reads the hidden states only: not H_in, not the reference
        other = m(torch.randn_like(x), base, refo + 1.0, hidden)
        assert torch.allclose(other, moved, atol=1e-6)
        assert not torch.allclose(m(x, base, refo, hidden + torch.randn_like(hidden)), moved)
    with pytest.raises(ConfigError, match="feature readout reads LAM hidden states"):
        m(x, base, refo, hidden[:, :1])


@pytest.mark.parametrize("key", ["refiner", "side", "readout"])
def test_new_plugins_train_without_a_gradient_through_the_lam(pair, key):
    lam, ref, x, base, refo = pair
    m = build_method(key, lam, ref).train()
    m(x, base, refo, _hidden(lam, x)).pow(2).mean().backward()
    assert all(p.grad is None for p in lam.parameters())
    assert all(p.grad is None for p in ref.parameters())
    trained = [p for p in m.parameters() if p.requires_grad]
    assert trained and all(p.grad is not None for p in trained)


def test_new_plugin_parameter_counts(pair):
    lam, ref, *_ = pair
    d, d_lam, n_ref = ref.cfg.d_model, lam.cfg.d_model, count_params(ref)
    assert build_method("refiner", lam, ref).trainable_params() == n_ref + 64 * d
    taps = len(side_taps(lam.cfg.n_layers))
    expected = n_ref + 2 * d_lam + taps + d_lam * d + d
    assert build_method("side", lam, ref).trainable_params() == expected
    # the readout: tap norm and mix, d_lam -> d_ff -> 64 per token (follows the SAM's width)
    w = ref.cfg.d_ff
    expected = 2 * d_lam + taps + d_lam * w + w + w * 64 + 64
    assert build_method("readout", lam, ref).trainable_params() == expected
