"""The policy table: the active A1 policy instances, which environment each cell's
reports are reconstructed for, and the proxy SAMs they put in the runtime.

``apply`` checks the policy against the running LAM, fetches and verifies its proxy from
the model store and swaps it in; anything wrong raises :class:`PolicyRefused` and leaves
the table and the runtime as they were. Instances are saved in SDL (``policy/<id>``) so a
restarted xApp serves with the same SAMs before A1 answers its query (``restore``).
"""

from __future__ import annotations

import json
import logging
import types
from collections.abc import Iterator, Mapping

from model_store import ModelStore, StoreError, VerificationError
from schemas import A1Policy, ProxyRef
from serving import IncompatibleProxy, LascoRuntime
from xapp.counters import Counters
from xapp.errors import PolicyRefused
from xapp.outputs import Sdl

__all__ = ["NS_POLICY", "PolicyTable"]

log = logging.getLogger(__name__)
NS_POLICY = "policy/"
DEFAULT_STORE_URIS = ("", "default")  # a policy's store_uri meaning "the xApp's own store"


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
    ) -> None:
        self.runtime, self.store, self.sdl, self.counters = runtime, store, sdl, counters
        self.namespace, self.store_uri = namespace, store_uri
        self._policies: dict[str, A1Policy] = {}
        self._cell_env: dict[str, str] = {}

    # -- mapping -------------------------------------------------------------------------
    def __getitem__(self, instance_id: str) -> A1Policy:
        return self._policies[instance_id]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._policies))

    def __len__(self) -> int:
        return len(self._policies)

    @property
    def cell_env(self) -> Mapping[str, str]:
        """``{cell: environment}`` of every cell a policy maps (read-only view)."""
        return types.MappingProxyType(self._cell_env)

    def environment_of(self, cell: str) -> str:
        """The environment of ``cell``; "" when no policy maps it (the LAM alone)."""
        return self._cell_env.get(cell, "")

    # -- changes -------------------------------------------------------------------------
    def apply(self, instance_id: str, policy: A1Policy, *, persist: bool = True) -> None:
        """Install (create or update) a policy instance; PolicyRefused keeps everything
        as it was."""
        if policy.lam_sha256 != self.runtime.lam_sha256:
            raise PolicyRefused(
                "lam-mismatch",
                f"policy is for LAM {policy.lam_sha256[:12]}..., this xApp runs "
                f"{self.runtime.lam_sha256[:12]}...",
            )
        env = policy.environment_id
        if policy.proxy is None:
            self.runtime.remove_proxy(env)
        else:
            self._install_proxy(env, policy, policy.proxy)
        old = self._policies.get(instance_id)
        if old is not None:
            self._unmap(instance_id, old, keep_env=env)
        for cell in policy.cells:
            self._cell_env[cell] = env
        self._policies[instance_id] = policy
        if persist:
            blob = json.dumps(policy.to_dict()).encode()
            self.sdl.set(self.namespace, {NS_POLICY + instance_id: blob})

    def delete(self, instance_id: str) -> bool:
        """Remove an instance (its cells go back to the LAM); False when it was unknown."""
        self.sdl.remove(self.namespace, [NS_POLICY + instance_id])
        policy = self._policies.get(instance_id)
        if policy is None:
            return False
        self._unmap(instance_id, policy, keep_env=None)
        del self._policies[instance_id]
        return True

    def restore(self) -> int:
        """Re-apply the instances saved in SDL; returns how many were restored. One that no
        longer applies (another LAM, a proxy gone from the store) is counted as
        ``restore_failed``, logged and skipped."""
        saved = self.sdl.find_and_get(self.namespace, NS_POLICY)
        restored = 0
        for key, blob in sorted(saved.items()):
            try:
                self.apply(key[len(NS_POLICY) :], A1Policy.parse(json.loads(blob)), persist=False)
                restored += 1
            except (PolicyRefused, ValueError) as exc:  # SchemaValidationError is a ValueError
                self.counters.count("restore_failed")
                log.warning("could not restore policy %s: %s", key, exc)
        return restored

    # -- internals -----------------------------------------------------------------------
    def _store_for(self, uri: str) -> ModelStore:
        if uri in DEFAULT_STORE_URIS or uri == self.store_uri:
            return self.store
        return ModelStore(uri, self.store.trusted)

    def _install_proxy(self, env: str, policy: A1Policy, ref: ProxyRef) -> None:
        try:
            art = self._store_for(ref.store_uri).fetch(ref.name, ref.version)
        except VerificationError as exc:
            raise PolicyRefused(f"store-{exc.reason}", str(exc)) from None
        except StoreError as exc:
            raise PolicyRefused("store", str(exc)) from None
        sha = art.manifest.onnx_sha256
        if sha != ref.sha256:
            raise PolicyRefused(
                "sha256-mismatch",
                f"{ref.name} v{ref.version} is {sha[:12]}..., the policy names "
                f"{ref.sha256[:12]}...",
            )
        try:
            self.runtime.set_proxy_from_artifact(env, art, mode=policy.mode, alpha=policy.alpha)
        except IncompatibleProxy as exc:
            raise PolicyRefused("incompatible", str(exc)) from None

    def _unmap(self, instance_id: str, old: A1Policy, *, keep_env: str | None) -> None:
        """Forget ``old``'s cells; unload its proxy unless ``keep_env`` (the environment
        the instance now uses) is the same or another instance still uses it."""
        for cell in old.cells:
            self._cell_env.pop(cell, None)
        env = old.environment_id
        if env == keep_env:
            return
        if not any(p.environment_id == env for i, p in self._policies.items() if i != instance_id):
            self.runtime.remove_proxy(env)
