"""A1 policies in mode side: a side network from the store serves its cells on the LAM's own
pass (a LAM exporting its hidden states), and a policy whose mode and model disagree is
refused with the running model kept."""

import numpy as np
import pytest
import torch

from lasco.collab import build_method, side_taps
from lasco.export import write_artifact
from lasco.export_side import write_side_artifact
from lasco.models import build_model
from model_store import ModelStore, TrustedKeys, generate_keypair, load_private_key
from schemas import A1Policy, Mode
from serving import LascoRuntime
from tests.xapp.conftest import PROJ
from xapp.counters import Counters
from xapp.errors import PolicyRefused
from xapp.outputs import InMemorySdl
from xapp.policies import PolicyTable


@pytest.fixture(scope="module")
def side_world(tmp_path_factory):
    """A store with a LAM exporting its hidden states, its reference SAM, a side network
    and a proxy SAM for environment 101."""
    root = tmp_path_factory.mktemp("xapp-side")
    k, p = generate_keypair(root / "keys" / "k")
    key, store = load_private_key(k), ModelStore(root / "store", TrustedKeys([p]))
    common = {"projection_id": PROJ.id, "training": {"commit": "test"}, "metrics": {}}
    torch.manual_seed(0)
    lam_model, ref_model = build_model("tiny"), build_model("tiny")
    taps = side_taps(lam_model.cfg.n_layers)
    lam = write_artifact(lam_model, root / "lam", kind="lam", name="lam", taps=taps, **common)
    write_artifact(ref_model, root / "ref", kind="sam_ref", name="sam_ref", lam=lam, **common)
    write_artifact(
        build_model("tiny"),
        root / "proxy",
        kind="sam_proxy",
        name="proxy-101",
        lam=lam,
        environment_id="101",
        alpha=0.5,
        **common,
    )
    side = build_method("side", lam_model, ref_model)
    with torch.no_grad():
        for q in side.parameters():
            q.add_(0.05 * torch.randn_like(q))
    x = torch.randn(4, 2, 32, 32)
    with torch.no_grad():
        base, hidden = lam_model(x, taps=taps)
    write_side_artifact(
        side,
        root / "side",
        name="side-101",
        lam=lam,
        environment_id="101",
        training={"commit": "test"},
        metrics={},
        parity=(x.numpy(), base.numpy(), hidden.numpy()),
    )
    shas = {}
    for folder, mode in (("lam", None), ("ref", None), ("proxy", "e-lasco"), ("side", "side")):
        shas[folder] = store.publish(root / folder, key, mode=mode).onnx_sha256
    return root, store, shas, (lam_model, side, taps)


@pytest.fixture()
def table(side_world):
    root, store, _, _ = side_world
    rt = LascoRuntime.from_store(store, threads=1)
    yield PolicyTable(
        rt, store, InMemorySdl(), Counters(), namespace="lasco-csi", store_uri=str(root / "store")
    )
    rt.close()


def _policy(side_world, name, mode):
    root, _, shas, _ = side_world
    folder = "side" if name == "side-101" else "proxy"
    proxy = {"store_uri": str(root / "store"), "name": name, "version": 1, "sha256": shas[folder]}
    return A1Policy.parse(
        {
            "environment_id": "101",
            "cells": ["cell-101"],
            "mode": mode,
            "proxy": proxy,
            "lam_sha256": shas["lam"],
        }
    )


def test_a_side_policy_serves_the_side_network_on_the_lams_pass(table, side_world):
    table.apply("i-1", _policy(side_world, "side-101", "side"))
    slot = table.runtime.proxies["i-1"]  # the runtime keys proxies by policy instance
    assert slot.mode is Mode.SIDE and slot.name == "side-101"
    lam_model, side, taps = side_world[3]
    s = np.random.default_rng(0).standard_normal((5, PROJ.m)).astype(np.float32)
    got = table.runtime.reconstruct(s, ["i-1"] * 5).h_hat
    with torch.no_grad():
        x = torch.from_numpy(PROJ.decode(s))
        base, hidden = lam_model(x, taps=taps)
        want = side(x, base, None, hidden).numpy()
    assert np.abs(got - want).max() <= 1e-4


@pytest.mark.parametrize(
    ("name", "mode"),
    [("side-101", "e-lasco"), ("proxy-101", "side")],
    ids=["side-as-sam", "sam-as-side"],
)
def test_a_policy_whose_mode_and_model_disagree_is_refused(table, side_world, name, mode):
    table.apply("i-1", _policy(side_world, "proxy-101", "e-lasco"))
    running = table.runtime.proxies["i-1"]
    with pytest.raises(PolicyRefused, match="incompatible"):
        table.apply("i-1", _policy(side_world, name, mode))
    assert table.runtime.proxies["i-1"] is running
