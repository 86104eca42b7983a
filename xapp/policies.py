"""The policy table: the active A1 policy instances, which instance owns each cell, and
the proxy SAMs they put in the runtime.

A cell has one owner: an instance claiming a cell another instance holds is refused
(``cell-owned``) until that one is updated or deleted. Every instance has its own proxy
slot in the runtime (keyed by its instance id), so two instances of one environment, or
a ``lam-only`` instance beside another, never unload each other's SAM; a cell's reports
are reconstructed with its owner's slot and tagged with its owner's environment.

``apply`` checks the policy against the running LAM, fetches and verifies its proxy from
the model store, saves the instance in SDL (``policy/<id>``) and only then swaps the proxy
in: nothing is enforced that is not recorded. Anything wrong (SDL failing included)
raises :class:`PolicyRefused` and leaves the table, the runtime and SDL as they were. A
restarted xApp serves with the saved SAMs before A1 answers its query (``restore``); an
SDL that cannot be read then is retried (``restore_pending``), and a restored instance
A1 does not re-send within the query window is dropped (``drop_unconfirmed``): one
deleted while the xApp was down does not come back. A proxy comes from the xApp's own
store or one of ``allowed_store_uris``. ``delete`` always takes
the instance out of service, and counts an SDL that could not forget it.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from model_store import ModelStore, StoreError, VerificationError
from schemas import A1Policy, ProxyRef
from serving import IncompatibleProxy, LascoRuntime
from xapp.counters import Counters
from xapp.errors import PolicyRefused
from xapp.outputs import Sdl

__all__ = ["NS_POLICY", "PolicyTable", "Prepared"]

log = logging.getLogger(__name__)
NS_POLICY = "policy/"
DEFAULT_STORE_URIS = ("", "default")  # a policy's store_uri meaning "the xApp's own store"


# Store fetches run here so that one that hangs can be given up on (its thread finishes
# or dies with the store's own timeouts; the policy is answered at once).
_FETCHES = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="store-fetch")


@dataclass(frozen=True)
class Prepared:
    """A policy checked and its proxy fetched and verified, ready to commit."""

    policy: A1Policy
    artifact: Any | None


class PolicyTable(Mapping[str, A1Policy]):
    """The active policies by instance id (a read-only mapping).

    Args:
        runtime: the runtime whose proxies the policies set.
        store: the xApp's model store (also used for a policy whose ``store_uri`` is
            ``store_uri``, "" or "default"; another URI opens that store with the same
            trusted keys).
        sdl, namespace: where instances are saved for restart recovery.
        counters: counts failed restores.
        store_uri: the URI ``store`` was opened from.
        allowed_store_uris: the other stores a policy may name; any other is refused.
        fetch_timeout_s: how long a proxy fetch may take before the policy is refused.
    """

    def __init__(
        self,
        runtime: LascoRuntime,
        store: ModelStore,
        sdl: Sdl,
        counters: Counters,
        *,
        namespace: str,
        store_uri: str | None = None,
        allowed_store_uris: tuple[str, ...] = (),
        fetch_timeout_s: float = 30.0,
    ) -> None:
        self.runtime, self.store, self.sdl, self.counters = runtime, store, sdl, counters
        self.fetch_timeout_s = fetch_timeout_s
        self.namespace, self.store_uri = namespace, store_uri
        self.allowed_store_uris = frozenset(allowed_store_uris)
        self.unconfirmed: set[str] = set()  # restored from SDL, not re-sent by A1 yet
        self._policies: dict[str, A1Policy] = {}
        self._owner: dict[str, str] = {}  # cell -> instance id
        self.restore_pending = False

    # -- mapping -------------------------------------------------------------------------
    def __getitem__(self, instance_id: str) -> A1Policy:
        return self._policies[instance_id]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._policies))

    def __len__(self) -> int:
        return len(self._policies)

    @property
    def cell_env(self) -> Mapping[str, str]:
        """``{cell: environment}`` of every cell a policy maps (a read-only copy)."""
        envs = {c: self._policies[i].environment_id for c, i in self._owner.items()}
        return types.MappingProxyType(envs)

    def owner_of(self, cell: str) -> str | None:
        """The instance that owns ``cell``; None when no policy maps it."""
        return self._owner.get(cell)

    def environment_of(self, cell: str) -> str:
        """The environment of ``cell``; "" when no policy maps it (the LAM alone)."""
        owner = self._owner.get(cell)
        return "" if owner is None else self._policies[owner].environment_id

    def route(self, cell: str) -> tuple[str, str]:
        """``(runtime slot, environment)`` of ``cell``'s reports: its owner's slot ("" for
        the LAM alone: no owner, or a ``lam-only`` owner) and environment."""
        owner = self._owner.get(cell)
        if owner is None:
            return "", ""
        policy = self._policies[owner]
        return ("" if policy.proxy is None else owner), policy.environment_id

    # -- changes -------------------------------------------------------------------------
    def apply(self, instance_id: str, policy: A1Policy, *, persist: bool = True) -> None:
        """Install (create or update) a policy instance; PolicyRefused keeps everything
        as it was. ``prepare`` then ``commit``."""
        self.commit(instance_id, self.prepare(instance_id, policy), persist=persist)

    def prepare(self, instance_id: str, policy: A1Policy) -> Prepared:
        """The slow part, which changes nothing: check the policy against the running LAM
        and fetch and verify its proxy (within ``fetch_timeout_s``). The A1 handler runs it
        outside the xApp's lock, so a slow store never holds the E2 path."""
        if policy.lam_sha256 != self.runtime.lam_sha256:
            raise PolicyRefused(
                "lam-mismatch",
                f"policy is for LAM {policy.lam_sha256[:12]}..., this xApp runs "
                f"{self.runtime.lam_sha256[:12]}...",
            )
        self._check_cells(instance_id, policy, evict_unconfirmed=False)
        return Prepared(policy, None if policy.proxy is None else self._fetch(policy.proxy))

    def commit(self, instance_id: str, prepared: Prepared, *, persist: bool = True) -> None:
        """The fast part: record the instance in SDL, swap its proxy in, map its cells."""
        policy, art = prepared.policy, prepared.artifact
        # again, under the lock: another instance may have come; A1 (persist) outranks an
        # instance restored from SDL that A1 has not re-sent
        self._check_cells(instance_id, policy, evict_unconfirmed=persist)
        key = NS_POLICY + instance_id
        old = self._policies.get(instance_id)
        if persist:
            self._save(key, policy)
        try:
            if art is None:
                self.runtime.remove_proxy(instance_id)
            else:
                self.runtime.set_proxy_from_artifact(
                    instance_id, art, mode=policy.mode, alpha=policy.alpha
                )
        except Exception as exc:  # incompatible, or the runtime could not load or run it
            if persist:  # the record goes back to what is enforced
                self._undo_save(key, old)
            reason = "incompatible" if isinstance(exc, IncompatibleProxy) else "runtime"
            raise PolicyRefused(reason, str(exc) or repr(exc)) from None
        if old is not None:
            for cell in old.cells:
                self._owner.pop(cell, None)
        for cell in policy.cells:
            self._owner[cell] = instance_id
        self._policies[instance_id] = policy
        if persist:  # from A1: whatever SDL held before, A1 stands behind it now
            self.unconfirmed.discard(instance_id)
        else:
            self.unconfirmed.add(instance_id)

    def _check_cells(self, instance_id: str, policy: A1Policy, *, evict_unconfirmed: bool) -> None:
        taken = {c: o for c in policy.cells if (o := self._owner.get(c)) not in (None, instance_id)}
        stale = {o for o in taken.values() if o in self.unconfirmed}
        if evict_unconfirmed:
            for owner in stale:  # restored from SDL, superseded by what A1 sends now
                self.counters.count("restored_replaced")
                self.delete(owner)
        taken = {c: o for c, o in taken.items() if o not in stale}
        if taken:
            raise PolicyRefused(
                "cell-owned",
                "cells owned by other instances: "
                + ", ".join(f"{c} ({o})" for c, o in sorted(taken.items()))
                + "; update or delete those first",
            )

    def delete(self, instance_id: str) -> bool:
        """Remove an instance (its cells go back to the LAM); False when it was unknown.
        It leaves service even when SDL cannot forget it (``sdl_delete_failed``: a
        restart would bring it back until A1's answer to the policy query drops it)."""
        try:
            self.sdl.remove(self.namespace, [NS_POLICY + instance_id])
        except Exception as exc:
            self.counters.count("sdl_delete_failed")
            self.counters.log_limited("sdl-delete", "SDL could not forget policy %s: %r",
                                      instance_id, exc)  # fmt: skip
        self.unconfirmed.discard(instance_id)
        policy = self._policies.pop(instance_id, None)
        if policy is None:
            return False
        for cell in policy.cells:
            self._owner.pop(cell, None)
        self.runtime.remove_proxy(instance_id)
        return True

    def restore(self) -> int:
        """Re-apply the instances saved in SDL; returns how many were restored. One that no
        longer applies (another LAM, a proxy gone from the store) is counted as
        ``restore_failed``, logged and skipped. An SDL that cannot be read is counted
        (``restore_sdl_failed``) and leaves ``restore_pending`` set for a retry."""
        try:
            saved = self.sdl.find_and_get(self.namespace, NS_POLICY)
        except Exception as exc:
            self.restore_pending = True
            self.counters.count("restore_sdl_failed")
            self.counters.log_limited("restore", "SDL unreadable at restore: %r", exc)
            return 0
        self.restore_pending = False
        restored = 0
        for key, blob in sorted(saved.items()):
            instance_id = key[len(NS_POLICY) :]
            if instance_id in self._policies:  # A1 re-sent it meanwhile: A1's stands
                continue
            try:
                self.apply(instance_id, A1Policy.parse(json.loads(blob)), persist=False)
                restored += 1
            except Exception as exc:  # one bad record never stops the start
                self.counters.count("restore_failed")
                log.warning("could not restore policy %s: %s", key, exc)
        return restored

    # -- internals -----------------------------------------------------------------------
    def drop_unconfirmed(self) -> list[str]:
        """Delete the restored instances A1 has not re-sent (its answer to the policy
        query is authoritative); returns their ids."""
        gone = sorted(self.unconfirmed)
        for instance_id in gone:
            self.delete(instance_id)
        return gone

    def _store_for(self, uri: str) -> ModelStore:
        if uri in DEFAULT_STORE_URIS or uri == self.store_uri:
            return self.store
        if uri not in self.allowed_store_uris:
            raise PolicyRefused(
                "store-not-allowed",
                f"store {uri!r} is neither this xApp's nor in store.allowed_uris",
            )
        try:
            return ModelStore(uri, self.store.trusted)
        except Exception as exc:
            raise PolicyRefused("store", f"store {uri!r} cannot be opened: {exc!r}") from None

    def _fetch(self, ref: ProxyRef):
        """The verified proxy artifact a policy names; PolicyRefused on any failure, and
        on a store that has not answered within ``fetch_timeout_s`` (``store-timeout``)."""
        store = self._store_for(ref.store_uri)  # PolicyRefused for a store not allowed
        job = _FETCHES.submit(store.fetch, ref.name, ref.version)
        try:
            art = job.result(timeout=self.fetch_timeout_s)
        except concurrent.futures.TimeoutError:
            self.counters.count("store_fetch_timeout")
            raise PolicyRefused(
                "store-timeout",
                f"{ref.name} v{ref.version}: no answer from {ref.store_uri or 'the store'} "
                f"within {self.fetch_timeout_s:g} s",
            ) from None
        except VerificationError as exc:
            raise PolicyRefused(f"store-{exc.reason}", str(exc)) from None
        except StoreError as exc:
            raise PolicyRefused("store", str(exc)) from None
        except Exception as exc:  # whatever else the store's backend raised
            raise PolicyRefused("store", repr(exc)) from None
        sha = art.manifest.onnx_sha256
        if sha != ref.sha256:
            raise PolicyRefused(
                "sha256-mismatch",
                f"{ref.name} v{ref.version} is {sha[:12]}..., the policy names "
                f"{ref.sha256[:12]}...",
            )
        return art

    def _save(self, key: str, policy: A1Policy) -> None:
        try:
            self.sdl.set(self.namespace, {key: json.dumps(policy.to_dict()).encode()})
        except Exception as exc:
            self.counters.count("sdl_write_failed")
            raise PolicyRefused("sdl", f"the policy could not be saved in SDL: {exc}") from None

    def _undo_save(self, key: str, old: A1Policy | None) -> None:
        try:
            if old is None:
                self.sdl.remove(self.namespace, [key])
            else:
                self.sdl.set(self.namespace, {key: json.dumps(old.to_dict()).encode()})
        except Exception as exc:
            self.counters.count("sdl_write_failed")
            self.counters.log_limited("sdl-undo", "SDL could not undo %s: %r", key, exc)
