"""The xApp core: a plain object, no RMR. ``handle(mtype, payload, meid)`` returns the
replies to send back to the sender; ``tick(now)`` returns messages the core itself
sends (subscriptions and their retries, micro-batch flushes on time).

Nothing raised inside a handler escapes ``handle``: typed errors are counted by reason
and logged at a limited rate, so a malformed message never stops the xApp.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from lasco.runtime import IncompatibleProxy, LascoRuntime, RowStatus
from model_store import ModelStore, StoreError, VerificationError
from xapp.e2sm_csi import CsiReport
from xapp.errors import PolicyRefused
from xapp.handlers import a1_policy, indication, subscription
from xapp.mtypes import MType
from xapp.outputs import DatasetSink, InMemorySdl, Sdl, encode_csi_entry
from xapp.settings import A1_POLICY_TYPE_ID, Settings
from xapp.subscriptions import Subscriptions
from xapp.telemetry import Telemetry

__all__ = ["CsiXapp"]

log = logging.getLogger(__name__)
Handler = Callable[["CsiXapp", bytes, "str | None"], list[tuple[int, bytes]]]
HANDLERS: dict[int, Handler] = {
    MType.RIC_INDICATION: indication.handle,
    MType.A1_POLICY_REQ: a1_policy.handle,
    MType.RIC_SUB_RESP: subscription.handle,
    MType.RIC_SUB_FAILURE: subscription.handle,
}
NS_POLICY = "policy/"


class CsiXapp:
    """The CSI reconstruction xApp's core.

    Args:
        settings: typed settings.
        runtime: the LascoRuntime that reconstructs.
        store: where proxy SAMs named by A1 policies are fetched from and verified.
        sdl: reconstructed CSI and active policies (default: in memory).
        telemetry: per-cell telemetry (default: none written).
        dataset: labelled samples per environment.
    """

    def __init__(
        self,
        settings: Settings,
        runtime: LascoRuntime,
        store: ModelStore,
        *,
        sdl: Sdl | None = None,
        telemetry: Telemetry | None = None,
        dataset: DatasetSink | None = None,
    ) -> None:
        self.settings, self.runtime, self.store = settings, runtime, store
        self.sdl = sdl or InMemorySdl()
        self.telemetry = telemetry or Telemetry(None)
        self.dataset = dataset or DatasetSink()
        self.counters: collections.Counter[str] = collections.Counter()
        self.policies: dict[str, dict[str, Any]] = {}
        self.cell_env: dict[str, str] = {}
        self.subscriptions = Subscriptions(settings)
        self._queue: list[tuple[CsiReport, float]] = []
        self._queued_rows = 0
        self._lock = threading.RLock()
        self._log_times: dict[str, float] = {}

    # -- bookkeeping ---------------------------------------------------------------------
    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] += n

    def drop(self, reason: str, n: int, *, cell: str, detail: str = "") -> None:
        self.counters["dropped"] += n
        self.counters[f"dropped_{reason}"] += n
        self.telemetry.dropped(cell, reason, n)
        if detail:
            self.log_limited(reason, "dropped (%s): %s", reason, detail)

    def log_limited(self, key: str, msg: str, *args: object, every_s: float = 10.0) -> None:
        """Log at most once per ``every_s`` per key (malformed input must not flood)."""
        now = time.monotonic()
        if now - self._log_times.get(key, -1e9) >= every_s:
            self._log_times[key] = now
            log.warning(msg, *args)

    # -- messages ------------------------------------------------------------------------
    def handle(
        self, mtype: int, payload: bytes, meid: str | None = None
    ) -> list[tuple[int, bytes]]:
        """Handle one message; returns replies (mtype, payload) for the sender."""
        handler = HANDLERS.get(mtype)
        if handler is None:
            self.count(f"unhandled_mtype_{mtype}")
            return []
        try:
            with self._lock:
                return handler(self, payload, meid)
        except Exception as exc:  # the process never dies on one message
            self.count("internal_error")
            self.count("dropped")
            self.count("dropped_internal-error")
            self.log_limited("internal", "internal error on mtype %s: %r", mtype, exc)
            return []

    def start_messages(self) -> list[tuple[int, bytes, str | None]]:
        """What to send at start: the A1 policy query and a subscription per E2 node."""
        query = json.dumps({"policy_type_id": A1_POLICY_TYPE_ID}).encode()
        return [(MType.A1_POLICY_QUERY, query, None), *self.subscriptions.due(time.monotonic())]

    def tick(self, now: float | None = None) -> list[tuple[int, bytes, str | None]]:
        """Periodic work: due subscription retries, and a flush when the oldest row waited
        ``max_wait_ms``."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if (
                self._queue
                and (time.perf_counter() - self._queue[0][1]) * 1e3 >= self.settings.max_wait_ms
            ):
                self.flush()
        return self.subscriptions.due(now)

    # -- micro-batching and outputs ----------------------------------------------------
    def enqueue(self, report: CsiReport, t_in: float) -> None:
        self._queue.append((report, t_in))
        self._queued_rows += len(report)

    def maybe_flush(self) -> list[tuple[int, bytes]]:
        if self._queued_rows >= self.settings.max_batch:
            self.flush()
        return []

    def flush(self) -> int:
        """Reconstruct every queued row in one runtime call; returns the rows served."""
        with self._lock:
            queue, self._queue, self._queued_rows = self._queue, [], 0
        if not queue:
            return 0
        codewords = np.concatenate([r.codewords for r, _ in queue])
        envs = np.concatenate([[self.cell_env.get(r.cell_id, "")] * len(r) for r, _ in queue])
        res = self.runtime.reconstruct(codewords, envs)
        entries: dict[str, bytes] = {}
        start, served = 0, 0
        for report, t_in in queue:
            n = len(report)
            status, h_hat = res.status[start : start + n], res.h_hat[start : start + n]
            env = self.cell_env.get(report.cell_id, "")
            version = res.proxies_used.get(env)  # what this reconstruction really used
            for i in np.flatnonzero(status == RowStatus.OK):
                entries[f"csi/{report.cell_id}/{int(report.ue_ids[i])}"] = encode_csi_entry(
                    h_hat[i], report.timestamp_ns, env, version
                )
            for code in (RowStatus.NON_FINITE, RowStatus.WRONG_LENGTH):
                bad = int((status == code).sum())
                if bad:
                    self.drop(code.name.lower().replace("_", "-"), bad, cell=report.cell_id)
            ok = int((status == RowStatus.OK).sum())
            served += ok
            nmse = self._labelled(report, h_hat, status, env)
            self.telemetry.record(
                report.cell_id, env or "lam-only", version, ok, time.perf_counter() - t_in, nmse
            )
            start += n
        if entries:
            self.sdl.set(self.settings.sdl_namespace, entries)
        self.count("served", served)
        self.count("flushes")
        return served

    def _labelled(
        self, report: CsiReport, h_hat: np.ndarray, status: np.ndarray, env: str
    ) -> list[float]:
        if report.labels is None:
            return []
        rows = report.label_rows
        finite = np.isfinite(report.labels).all(axis=(1, 2, 3))
        if not finite.all():
            self.count("labels_refused_non_finite", int((~finite).sum()))
        good = (status[rows] == RowStatus.OK) & finite
        h, est = report.labels[good].astype(np.float64), h_hat[rows[good]].astype(np.float64)
        if not len(h):
            return []
        self.dataset.add(
            env or f"cell:{report.cell_id}", report.labels[good], report.codewords[rows[good]]
        )
        power = (h**2).sum(axis=(1, 2, 3))
        err = ((est - h) ** 2).sum(axis=(1, 2, 3)) / np.maximum(power, 1e-12)
        return err[np.isfinite(err)].tolist()

    # -- policies ------------------------------------------------------------------------
    def _store_for(self, uri: str) -> ModelStore:
        if uri in ("", "default", self.settings.store_uri):
            return self.store
        return ModelStore(uri, self.store.trusted)

    def apply_policy(self, instance_id: str, policy: dict[str, Any], persist: bool = True) -> None:
        """Install a validated policy instance; PolicyRefused keeps everything as it was."""
        if policy["lam_sha256"] != self.runtime.lam_sha256:
            raise PolicyRefused(
                "lam-mismatch",
                f"policy is for LAM {policy['lam_sha256'][:12]}"
                f"..., this xApp runs {self.runtime.lam_sha256[:12]}...",
            )
        env = policy["environment_id"]
        if policy["mode"] == "lam-only":
            self.runtime.remove_proxy(env)
        else:
            ref = policy["proxy"]
            try:
                art = self._store_for(ref["store_uri"]).fetch(ref["name"], ref["version"])
            except VerificationError as exc:
                raise PolicyRefused(f"store-{exc.reason}", str(exc)) from None
            except StoreError as exc:
                raise PolicyRefused("store", str(exc)) from None
            if art.manifest["onnx_sha256"] != ref["sha256"]:
                raise PolicyRefused(
                    "sha256-mismatch",
                    f"{ref['name']} v{ref['version']} is "
                    f"{art.manifest['onnx_sha256'][:12]}..., the policy names "
                    f"{ref['sha256'][:12]}...",
                )
            mode = policy["mode"]
            try:
                self.runtime.set_proxy_from_artifact(env, art, mode=mode, alpha=policy.get("alpha"))
            except IncompatibleProxy as exc:
                raise PolicyRefused("incompatible", str(exc)) from None
        old = self.policies.get(instance_id)
        if old:
            for cell in old["cells"]:
                self.cell_env.pop(cell, None)
            moved = old["environment_id"] != env
            if moved and not any(
                p["environment_id"] == old["environment_id"]
                for i, p in self.policies.items()
                if i != instance_id
            ):
                self.runtime.remove_proxy(old["environment_id"])
        for cell in policy["cells"]:
            self.cell_env[cell] = env
        self.policies[instance_id] = policy
        if persist:
            self.sdl.set(
                self.settings.sdl_namespace, {NS_POLICY + instance_id: json.dumps(policy).encode()}
            )

    def delete_policy(self, instance_id: str) -> None:
        policy = self.policies.pop(instance_id, None)
        self.sdl.remove(self.settings.sdl_namespace, [NS_POLICY + instance_id])
        if policy is None:
            return
        for cell in policy["cells"]:
            self.cell_env.pop(cell, None)
        env = policy["environment_id"]
        if not any(p["environment_id"] == env for p in self.policies.values()):
            self.runtime.remove_proxy(env)

    def restore(self) -> int:
        """Re-apply the policies saved in SDL (before A1 answers the query); returns how
        many were restored. One that no longer applies is logged and skipped."""
        saved = self.sdl.find_and_get(self.settings.sdl_namespace, NS_POLICY)
        restored = 0
        for key, blob in sorted(saved.items()):
            try:
                self.apply_policy(key[len(NS_POLICY) :], json.loads(blob), persist=False)
                restored += 1
            except (PolicyRefused, ValueError, KeyError) as exc:
                self.count("restore_failed")
                log.warning("could not restore policy %s: %s", key, exc)
        return restored
