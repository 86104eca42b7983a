"""A small but real setup: tiny models in a signed store, a runtime, and a ransim E2 node
whose cells live in paper regions 101 and 102."""

import json
from dataclasses import dataclass

import pytest

from lasco.codec import Projection
from lasco.export import write_artifact
from lasco.models import build_model
from model_store import ModelStore, TrustedKeys, generate_keypair, load_private_key
from ransim import Cell, E2Node
from serving import LascoRuntime
from xapp.core import CsiXapp
from xapp.settings import Settings

PROJ = Projection.from_ratio("1/4", seed=0)


@dataclass
class World:
    store: ModelStore
    key: object
    lam_sha: str
    proxy_sha: dict
    root: object


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("xapp-store")
    k, p = generate_keypair(root / "keys" / "k")
    key = load_private_key(k)
    store = ModelStore(root / "store", TrustedKeys([p]))
    common = {"projection_id": PROJ.id, "training": {"commit": "test"}, "metrics": {}}
    write_artifact(build_model("tiny"), root / "d" / "lam", kind="lam", name="lam", **common)
    store.publish(root / "d" / "lam", key)
    lam_sha = store.fetch("lam").manifest.onnx_sha256
    write_artifact(
        build_model("tiny"),
        root / "d" / "ref",
        kind="sam_ref",
        name="sam_ref",
        lam_sha256=lam_sha,
        **common,
    )
    store.publish(root / "d" / "ref", key)
    shas = {}
    for env in ("101", "102"):
        write_artifact(
            build_model("tiny"),
            root / "d" / env,
            kind="sam_proxy",
            name=f"proxy-{env}",
            lam_sha256=lam_sha,
            environment_id=env,
            alpha=0.8,
            **common,
        )
        shas[env] = store.publish(root / "d" / env, key, mode="e-lasco").onnx_sha256
    return World(store, key, lam_sha, shas, root)


@pytest.fixture(scope="session")
def node(channel_cache):
    from lasco.channels import paper_catalogue

    cat = paper_catalogue()
    cells = [Cell("cell-101", cat.get("101"), 60), Cell("cell-102", cat.get("102"), 60)]
    return E2Node("gnb-1", cells, PROJ, label_fraction=0.25, cache=channel_cache)


def settings_for(world, **groups) -> Settings:
    """The tests' settings: E2 node gnb-1, batches of 32 rows, the world's store; each
    keyword replaces or adds fields of that group (``micro_batch={"max_batch": 8}``)."""
    controls = {
        "subscription": {"e2_nodes": ["gnb-1"], "mode": "rmr"},
        "micro_batch": {"max_batch": 32},
        "store": {"uri": str(world.root / "store")},
    }
    for group, fields in groups.items():
        controls[group] = {**controls.get(group, {}), **fields}
    return Settings.from_controls(controls, env={})


@pytest.fixture()
def make_core(world):
    """``make_core(with_sdl=..., with_telemetry=..., require_subscription=..., **groups)``:
    a core on a fresh runtime, with settings_for(world, **groups). It serves indications
    without a subscription unless asked (the subscription tests do)."""
    made = []

    def make(
        *, with_sdl=None, with_telemetry=None, require_subscription=False, **groups
    ) -> CsiXapp:
        rt = LascoRuntime.from_store(world.store, threads=1)
        made.append(rt)
        settings = settings_for(world, **groups)
        return CsiXapp(
            settings,
            rt,
            world.store,
            sdl=with_sdl,
            telemetry=with_telemetry,
            require_subscription=require_subscription,
        )

    yield make
    for rt in made:
        rt.close()


@pytest.fixture()
def core(make_core):
    return make_core()


def a1_request(op, instance, policy=None, type_id="30001"):
    """An A1 request exactly as the A1 mediator sends it: every value a JSON string."""
    return json.dumps(
        {
            "operation": op,
            "policy_type_id": type_id,
            "policy_instance_id": instance,
            "payload": "" if policy is None else json.dumps(policy),
        }
    ).encode()


def policy_for(world, env, cells, **over):
    p = {
        "environment_id": env,
        "cells": cells,
        "mode": "e-lasco",
        "proxy": {
            "store_uri": str(world.root / "store"),
            "name": f"proxy-{env}",
            "version": 1,
            "sha256": world.proxy_sha[env],
        },
        "lam_sha256": world.lam_sha,
    }
    p.update(over)
    return p
