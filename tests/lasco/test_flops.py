"""Training FLOPs per method family (lasco.flops): who pays for the LAM's forward, how often."""

from lasco.collab import build_method
from lasco.flops import training_flops
from lasco.models import N_TOKENS, build_model, forward_flops
from lasco.train import FitResult

LAM, REF = build_model("lam-mini"), build_model("sam-mini")
FIT = FitResult(epochs=7)
N, N_VAL = 100, 20


def test_feature_readout_pays_its_mlp_per_sample_and_the_lam_once():
    m = build_method("readout", LAM, REF)
    fwd = 2 * N_TOKENS * m.trainable_params()  # multiply-adds of the per-token MLP
    once = forward_flops(LAM.cfg) * (N + N_VAL)  # the LAM's hidden states, cached once
    expected = 3 * fwd * N * 7 + fwd * N_VAL * 8 + once
    assert training_flops(m, LAM, REF, N, FIT, N_VAL) == expected


def test_lam_side_methods_pay_the_lam_every_epoch_and_nothing_once():
    f_lam = forward_flops(LAM.cfg)
    for key in ("lam-finetune", "lora"):
        m = build_method(key, LAM, REF)
        assert training_flops(m, LAM, REF, N, FIT, N_VAL) == 3 * f_lam * N * 7 + f_lam * N_VAL * 8
