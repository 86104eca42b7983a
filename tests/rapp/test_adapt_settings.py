"""The adaptation's settings, the methods it accepts, proxy names and the gate (no models)."""

from __future__ import annotations

import pytest

from lasco.errors import ConfigError
from rapp.adapt_outcome import Reason, gate
from rapp.adapt_settings import (
    ADAPTABLE_METHODS,
    NAME_PATTERN,
    AdaptationSettings,
    proxy_name,
    split_sizes,
)


def settings(**over) -> AdaptationSettings:
    return AdaptationSettings(**{"min_samples": 100, **over})


@pytest.mark.parametrize("method", sorted(ADAPTABLE_METHODS))
def test_adaptable_methods_are_accepted(method):
    assert settings(method=method).export is ADAPTABLE_METHODS[method]


@pytest.mark.parametrize(
    ("method", "why"),
    [
        ("baseline-a", "LAM's weights"),
        ("lam-finetune", "LAM's weights"),
        ("lora", "LAM's weights"),
        ("lam-only", "trains nothing"),
        ("sam-only", "trains nothing"),
        ("no-reference", "no serving mode"),
        ("e_lasco", "unknown method"),
    ],
)
def test_methods_the_rapp_cannot_adapt_with_are_refused(method, why):
    with pytest.raises(ConfigError, match=why):
        settings(method=method)


@pytest.mark.parametrize(
    "over",
    [
        {"held_out_fraction": 0.0},
        {"val_fraction": 1.0},
        {"val_fraction": 0.5, "held_out_fraction": 0.5},
        {"min_samples": 2},
        {"max_samples": 50},
        {"gate_margin_db": -0.1},
        {"gate_margin_db": float("nan")},
        {"parity_rows": 0},
        {"phase_views": 0},
        {"phase_views": 65},
    ],
)
def test_settings_are_checked(over):
    with pytest.raises(ConfigError):
        settings(**over)


@pytest.mark.parametrize(
    ("n", "sizes"), [(100, (70, 10, 20)), (300, (210, 30, 60)), (3, (1, 1, 1))]
)
def test_split_sizes(n, sizes):
    assert split_sizes(n, 0.1, 0.2) == sizes


@pytest.mark.parametrize(
    ("candidate", "lam", "running", "reason"),
    [
        (-5.0, -4.0, None, Reason.ACCEPTED),
        (-5.0, -4.95, None, Reason.NOT_BETTER_THAN_LAM),
        (-5.0, -4.0, -4.5, Reason.ACCEPTED),
        (-5.0, -4.0, -4.95, Reason.NOT_BETTER_THAN_RUNNING),
        (-5.0, -4.0, -6.0, Reason.NOT_BETTER_THAN_RUNNING),
        (-5.0, -6.0, -4.0, Reason.NOT_BETTER_THAN_LAM),
        (float("nan"), -4.0, None, Reason.NOT_BETTER_THAN_LAM),
    ],
)
def test_gate(candidate, lam, running, reason):
    got, why = gate(candidate, lam, running, 0.1)
    assert got is reason
    assert f"{candidate:.3f} dB" in why


@pytest.mark.parametrize("env", ["102", "Cell A/1", "cell-a-1", "x" * 64, "-lead"])
def test_proxy_names_fit_the_manifest(env):
    assert NAME_PATTERN.match(proxy_name(env))


def test_proxy_names_keep_ids_apart():
    assert proxy_name("102") == "proxy-102"
    assert proxy_name("Cell A/1") != proxy_name("cell-a-1")
