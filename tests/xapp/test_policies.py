"""The policy table: A1 policies checked against the running LAM and the store, proxies
swapped in and out, cells mapped to environments, instances saved and restored."""

import shutil

import pytest

from schemas import A1Policy
from serving import LascoRuntime
from tests.xapp.conftest import policy_for
from xapp.counters import Counters
from xapp.errors import PolicyRefused
from xapp.outputs import InMemorySdl
from xapp.policies import NS_POLICY, PolicyTable

NS = "lasco-csi"


@pytest.fixture()
def make_table(world):
    made = []

    def make(sdl=None):
        rt = LascoRuntime.from_store(world.store, threads=1)
        made.append(rt)
        return PolicyTable(
            rt,
            world.store,
            sdl or InMemorySdl(),
            Counters(),
            namespace=NS,
            store_uri=str(world.root / "store"),
        )

    yield make
    for rt in made:
        rt.close()


@pytest.fixture()
def table(make_table):
    return make_table()


def _policy(world, env, cells, **over):
    return A1Policy.parse(policy_for(world, env, cells, **over))


def _tampered_store(world, tmp_path):
    copy = tmp_path / "store"
    shutil.copytree(world.root / "store", copy)
    onnx = copy / "proxy-101" / "1" / "model.onnx"
    data = bytearray(onnx.read_bytes())
    data[-5] ^= 0x10
    onnx.write_bytes(bytes(data))
    return str(copy)


def _proxy(world, name, sha, store_uri=None):
    uri = store_uri or str(world.root / "store")
    return {"store_uri": uri, "name": name, "version": 1, "sha256": sha}


BAD = {
    "other-lam": (lambda w, t: {"lam_sha256": "0" * 64}, "lam-mismatch"),
    "sha-mismatch": (lambda w, t: {"proxy": _proxy(w, "proxy-101", "e" * 64)}, "sha256-mismatch"),
    "missing-model": (lambda w, t: {"proxy": _proxy(w, "proxy-999", "e" * 64)}, "store"),
    "not-a-proxy": (
        lambda w, t: {"proxy": _proxy(w, "sam_ref", w.store.fetch("sam_ref").manifest.onnx_sha256)},
        "incompatible",
    ),
    "tampered-store": (
        lambda w, t: {"proxy": _proxy(w, "proxy-101", w.proxy_sha["101"], _tampered_store(w, t))},
        "store-sha256-mismatch",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_refused_policy_keeps_everything_as_it_was(table, world, tmp_path, case):
    table.apply("p-101", _policy(world, "101", ["cell-101"]))
    running = table.runtime.proxies["p-101"]
    table.allowed_store_uris = frozenset({str(tmp_path / "store")})  # the tampered copy
    over, reason = BAD[case]
    with pytest.raises(PolicyRefused) as exc:
        table.apply("p-101", _policy(world, "101", ["cell-9"], **over(world, tmp_path)))
    assert exc.value.reason == reason
    assert table.runtime.proxies["p-101"] is running
    assert dict(table.cell_env) == {"cell-101": "101"}
    assert table["p-101"].cells == ("cell-101",)


def test_a_store_neither_own_nor_allowed_is_refused(table, world, tmp_path):
    elsewhere = _proxy(world, "proxy-101", world.proxy_sha["101"], _tampered_store(world, tmp_path))
    with pytest.raises(PolicyRefused) as exc:
        table.apply("p", _policy(world, "101", ["cell-101"], proxy=elsewhere))
    assert exc.value.reason == "store-not-allowed" and "p" not in table


def test_restored_instances_a1_does_not_resend_are_dropped(table, world, make_table):
    for env in ("101", "102"):
        table.apply(f"p-{env}", _policy(world, env, [f"cell-{env}"]))
    fresh = make_table(sdl=table.sdl)
    assert fresh.restore() == 2 and fresh.unconfirmed == {"p-101", "p-102"}
    fresh.apply("p-102", _policy(world, "102", ["cell-102"]))  # A1 re-sends this one
    assert fresh.drop_unconfirmed() == ["p-101"]
    assert sorted(fresh) == ["p-102"] and set(fresh.runtime.proxies) == {"p-102"}
    assert list(fresh.sdl.find_and_get(NS, NS_POLICY)) == ["policy/p-102"]


def test_apply_maps_cells_and_persists_the_instance(table, world):
    table.apply("p-101", _policy(world, "101", ["cell-101", "cell-103"]))
    assert table.environment_of("cell-103") == "101" and table.environment_of("x") == ""
    saved = table.sdl.find_and_get(NS, NS_POLICY)
    assert list(saved) == ["policy/p-101"]


def test_delete_sends_cells_back_to_the_lam(table, world):
    table.apply("p-101", _policy(world, "101", ["cell-101"]))
    assert table.delete("p-101") is True
    assert "p-101" not in table.runtime.proxies and dict(table.cell_env) == {}
    assert table.sdl.find_and_get(NS, NS_POLICY) == {}
    assert table.delete("p-101") is False


def test_lam_only_update_removes_the_proxy(table, world):
    table.apply("p-101", _policy(world, "101", ["cell-101"]))
    lam_only = A1Policy.parse(
        {
            "environment_id": "101",
            "cells": ["cell-101"],
            "mode": "lam-only",
            "lam_sha256": world.lam_sha,
        }
    )
    table.apply("p-101", lam_only)
    assert "p-101" not in table.runtime.proxies
    assert dict(table.cell_env) == {"cell-101": "101"}


def test_update_to_another_environment_replaces_the_instances_proxy(table, world):
    table.apply("p", _policy(world, "101", ["cell-101"]))
    table.apply("p", _policy(world, "102", ["cell-101"]))
    assert set(table.runtime.proxies) == {"p"} and dict(table.cell_env) == {"cell-101": "102"}
    assert table.runtime.proxies["p"].sha256 == world.proxy_sha["102"]


def test_two_instances_of_one_environment_keep_their_own_proxies(table, world):
    table.apply("a", _policy(world, "101", ["cell-1"]))
    table.apply("b", _policy(world, "101", ["cell-2"]))
    assert table.route("cell-1") == ("a", "101") and table.route("cell-2") == ("b", "101")
    table.delete("a")
    assert set(table.runtime.proxies) == {"b"} and dict(table.cell_env) == {"cell-2": "101"}


def test_a_lam_only_instance_does_not_unload_another_instances_proxy(table, world):
    table.apply("a", _policy(world, "101", ["cell-1"]))
    lam_only = A1Policy.parse(
        {"environment_id": "101", "cells": ["cell-2"], "mode": "lam-only",
         "lam_sha256": world.lam_sha}
    )  # fmt: skip
    table.apply("b", lam_only)
    assert set(table.runtime.proxies) == {"a"}
    assert table.route("cell-2") == ("", "101")  # the LAM alone, tagged with its environment


def test_a_second_claim_on_a_cell_is_refused_and_the_owner_keeps_it(table, world):
    table.apply("a", _policy(world, "101", ["cell-1", "cell-2"]))
    with pytest.raises(PolicyRefused) as exc:
        table.apply("b", _policy(world, "102", ["cell-2", "cell-3"]))
    assert exc.value.reason == "cell-owned" and "cell-2 (a)" in str(exc.value)
    assert table.owner_of("cell-2") == "a" and "b" not in table and "b" not in table.runtime.proxies
    assert table.sdl.find_and_get(NS, NS_POLICY + "b") == {}  # nothing recorded either
    table.apply("a", _policy(world, "101", ["cell-1"]))  # the owner lets the cell go
    table.apply("b", _policy(world, "102", ["cell-2", "cell-3"]))
    assert table.owner_of("cell-2") == "b" and table.environment_of("cell-2") == "102"


def test_restore_reapplies_saved_instances_and_skips_broken_ones(table, world, make_table):
    table.apply("p-101", _policy(world, "101", ["cell-101"]))
    table.sdl.set(NS, {NS_POLICY + "broken": b"{not json", NS_POLICY + "invalid": b"{}"})
    fresh = make_table(sdl=table.sdl)
    assert fresh.restore() == 1
    assert sorted(fresh) == ["p-101"] and set(fresh.runtime.proxies) == {"p-101"}
    assert fresh.counters["restore_failed"] == 2


def test_a1_outranks_an_instance_restored_from_sdl_for_the_same_cell(table, world, make_table):
    """Deleted while the xApp was down, p-old comes back from SDL; A1 now sends p-new for
    its cell: p-new is enforced and p-old goes."""
    table.apply("p-old", _policy(world, "101", ["cell-1"]))
    fresh = make_table(sdl=table.sdl)
    assert fresh.restore() == 1
    fresh.apply("p-new", _policy(world, "102", ["cell-1"]))
    assert sorted(fresh) == ["p-new"] and fresh.owner_of("cell-1") == "p-new"
    assert set(fresh.runtime.proxies) == {"p-new"} and fresh.counters["restored_replaced"] == 1
    assert list(fresh.sdl.find_and_get(NS, NS_POLICY)) == ["policy/p-new"]


def test_a_runtime_that_cannot_load_the_proxy_refuses_and_undoes_the_record(table, world):
    def broken(*args, **kwargs):
        raise RuntimeError("onnxruntime could not run the warm-up")

    table.runtime.set_proxy_from_artifact = broken
    with pytest.raises(PolicyRefused) as exc:
        table.apply("p", _policy(world, "101", ["cell-101"]))
    assert exc.value.reason == "runtime" and "p" not in table
    assert table.sdl.find_and_get(NS, NS_POLICY) == {}


def test_a_record_that_breaks_the_restore_in_any_way_is_skipped(table, world, make_table):
    table.apply("p-101", _policy(world, "101", ["cell-101"]))
    fresh = make_table(sdl=table.sdl)
    real = fresh._fetch
    fresh._fetch = lambda ref: (_ for _ in ()).throw(KeyError("manifest.json"))
    assert fresh.restore() == 0 and fresh.counters["restore_failed"] == 1
    fresh._fetch = real
