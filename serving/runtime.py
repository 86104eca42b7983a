"""LascoRuntime: multi-environment CSI reconstruction with ONNX Runtime (no torch).

One LAM and one reference SAM serve every environment; each environment may have a
proxy SAM plugged in, combined as in docs/method.md:

    lasco     H_hat = f_base + (f_pxy - f_ref)
    e-lasco   H_hat = f_pxy + alpha (f_base - f_ref)
    no proxy  H_hat = f_base                       (the LAM alone)

``reconstruct`` decodes the codewords once (H_in = A^+ s), runs the LAM once over
all valid rows (every environment together), the reference SAM once over the rows
whose environment has a proxy, and each proxy over its own rows.

Threads: every CPU session is single-threaded and one call's work (LAM, reference and
proxy runs, each split into row chunks when large) is spread over ``threads``
workers, the caller being one of them, balanced by cost (rows x model size). The
graphs are small (d_model 64-256) and ORT's intra-op threading of their many small
ops scales poorly: measured on 2 cores at batch 64, the LAM took 14.0 ms split over
two single-threaded runs against 18.3 ms as one run with two intra-op threads.
ONNX Runtime sessions allow concurrent ``run`` calls and release the GIL while they
compute. With the CUDA provider everything runs in the caller, one run per model.

Proxies are swapped atomically and thread-safely: the set of proxies is an
immutable mapping replaced by one reference assignment under a lock, and a
reconstruction reads that reference once, so it sees the old set or the new set,
never a mix. A proxy is admitted only after the compatibility checks (input and
output names, shapes and dtypes, projection id, the sha256 of the LAM it was
trained against) and a warm-up run; a refused proxy leaves the running one in place.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType

import numpy as np
import onnxruntime as ort

from lasco.codec import CSI_SHAPE, Projection
from lasco.errors import ConfigError
from model_store import IncompatibleModel, Kind, ModelStore, VerifiedArtifact
from schemas import Mode
from serving.proxies import (
    INPUT,
    OUTPUT,
    IncompatibleProxy,
    ProxySlot,
    open_session,
    prepare_proxy,
)
from serving.scheduling import (
    cpu_count,
    default_providers,
    one_blas_thread,
    plan_chunks,
    session_options,
)

__all__ = [
    "IncompatibleProxy",
    "LascoRuntime",
    "ProxySlot",
    "Reconstruction",
    "RowStatus",
]


class RowStatus(IntEnum):
    """Per-row outcome of ``reconstruct``; refused rows hold zeros in ``h_hat``."""

    OK = 0
    NON_FINITE = 1
    WRONG_LENGTH = 2


@dataclass(frozen=True)
class Reconstruction:
    """``h_hat [N, 2, 32, 32] float32`` and ``status [N] int8`` (RowStatus)."""

    h_hat: np.ndarray
    status: np.ndarray
    proxies_used: dict[str, int | None]

    @property
    def ok(self) -> np.ndarray:
        return self.status == RowStatus.OK


class LascoRuntime:
    """Serve CSI reconstruction for many environments with one LAM and plug-in SAMs.

    Args:
        lam_onnx, ref_onnx: ONNX bytes of the LAM and the reference SAM.
        projection: the UE projection the models were trained for.
        threads: workers one ``reconstruct`` call spreads its model runs over, the caller
            included (default: all cores); each CPU session itself is single-threaded.
        providers: ORT execution providers (default: CUDA when present, else CPU).
    """

    def __init__(
        self,
        lam_onnx: bytes,
        ref_onnx: bytes,
        projection: Projection,
        *,
        threads: int | None = None,
        providers: Sequence[str] | None = None,
    ) -> None:
        self.projection = projection
        self._providers = list(providers or default_providers())
        on_gpu = self._providers[0] != "CPUExecutionProvider"
        self.workers = 1 if on_gpu else max(1, threads or cpu_count())
        self._so = session_options(1)
        self._pool = (
            ThreadPoolExecutor(self.workers - 1, thread_name_prefix="lasco-ort")
            if self.workers > 1
            else None
        )
        self.lam_sha256 = hashlib.sha256(lam_onnx).hexdigest()
        self.ref_sha256 = hashlib.sha256(ref_onnx).hexdigest()
        self._lam = self._session(lam_onnx, "LAM")
        self._ref = self._session(ref_onnx, "reference SAM")
        self._lam_cost, self._ref_cost = float(len(lam_onnx)), float(len(ref_onnx))
        self._a_pinv_t = np.ascontiguousarray(projection.a_pinv.T)  # [M, 2048]
        self._lock = threading.Lock()
        self._proxies: Mapping[str, ProxySlot] = MappingProxyType({})

    @classmethod
    def from_store(
        cls,
        store: ModelStore,
        lam: str = "lam",
        sam_ref: str = "sam_ref",
        *,
        threads: int | None = None,
        providers: Sequence[str] | None = None,
    ) -> LascoRuntime:
        """Fetch and verify the LAM and reference SAM from a model store, and check the
        reference SAM was trained against that LAM (IncompatibleProxy otherwise)."""
        lam_art, ref_art = store.fetch(lam), store.fetch(sam_ref)
        for art, kind in ((lam_art, Kind.LAM), (ref_art, Kind.SAM_REF)):
            if art.manifest.kind is not kind:
                raise IncompatibleProxy(
                    f"{art.manifest.label} is a {art.manifest.kind}, not {kind}"
                )
        try:
            lam_art.manifest.check_compatible(lam_art.manifest)
            ref_art.manifest.check_compatible(lam_art.manifest)
        except IncompatibleModel as exc:
            raise IncompatibleProxy(str(exc)) from None
        rt = cls(
            lam_art.onnx,
            ref_art.onnx,
            Projection.from_id(lam_art.manifest.projection_id),
            threads=threads,
            providers=providers,
        )
        rt.lam_version, rt.ref_version = lam_art.version, ref_art.version
        return rt

    def close(self) -> None:
        """Stop the worker threads (the runtime must not be used afterwards)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def _session(self, onnx: bytes, what: str) -> ort.InferenceSession:
        return open_session(onnx, what, self._so, self._providers)

    # -- proxies -----------------------------------------------------------------------
    @property
    def proxies(self) -> Mapping[str, ProxySlot]:
        return self._proxies

    def set_proxy(
        self,
        env_id: str,
        onnx: bytes,
        *,
        mode: Mode | str = Mode.E_LASCO,
        alpha: float = 1.0,
        lam_sha256: str,
        projection_id: str,
        name: str = "",
        version: int | None = None,
    ) -> ProxySlot:
        """Check, warm up and install (or replace) the proxy of ``env_id``, atomically.

        Raises IncompatibleProxy (the running proxy, if any, stays) when the proxy was
        trained against another LAM or projection, has the wrong inputs or outputs, or
        fails its warm-up run.
        """
        slot = self._prepare(
            env_id,
            onnx,
            mode=mode,
            alpha=alpha,
            lam_sha256=lam_sha256,
            projection_id=projection_id,
            name=name,
            version=version,
        )
        self._install({slot.env_id: slot})
        return slot

    def set_proxies(self, specs: Mapping[str, Mapping[str, object]]) -> dict[str, ProxySlot]:
        """Install several proxies in one swap: ``{env_id: set_proxy keyword arguments}``.

        Every proxy is checked and warmed up first; if any is refused, none is installed.
        """
        slots = {str(e): self._prepare(e, **kw) for e, kw in specs.items()}
        self._install(slots)
        return slots

    def _install(self, slots: Mapping[str, ProxySlot]) -> None:
        with self._lock:
            self._proxies = MappingProxyType({**self._proxies, **slots})

    def _prepare(self, env_id: str, onnx: bytes, **kw: object) -> ProxySlot:
        return prepare_proxy(
            env_id,
            self._session(onnx, f"proxy for {env_id!r}"),
            onnx,
            serving_projection_id=self.projection.id,
            serving_lam_sha256=self.lam_sha256,
            **kw,  # type: ignore[arg-type]
        )

    def set_proxy_from_artifact(
        self,
        env_id: str,
        art: VerifiedArtifact,
        *,
        mode: Mode | str | None = None,
        alpha: float | None = None,
    ) -> ProxySlot:
        """Install a verified proxy SAM artifact; ``mode`` and ``alpha`` default to its
        manifest's (then E-LASCO with alpha 1)."""
        m = art.manifest
        if m.kind is not Kind.SAM_PROXY:
            raise IncompatibleProxy(f"{m.label} is a {m.kind}, not a {Kind.SAM_PROXY}")
        return self.set_proxy(
            env_id,
            art.onnx,
            mode=mode or m.mode or Mode.E_LASCO,
            alpha=alpha if alpha is not None else (m.alpha if m.alpha is not None else 1.0),
            lam_sha256=str(m.lam_sha256),
            projection_id=m.projection_id,
            name=m.name,
            version=m.version,
        )

    def remove_proxy(self, env_id: str) -> ProxySlot | None:
        """Remove an environment's proxy (its rows go back to the LAM alone)."""
        with self._lock:
            rest = dict(self._proxies)
            slot = rest.pop(str(env_id), None)
            self._proxies = MappingProxyType(rest)
        return slot

    # -- serving -----------------------------------------------------------------------
    def decode(self, codewords: np.ndarray) -> np.ndarray:
        """``[N, M] float32 -> H_in [N, 2, 32, 32] float32``.

        With more than one worker the product runs on one BLAS thread: OpenBLAS threads
        spin after each call and took the cores from the ORT workers (measured, batch
        64: 33 ms per reconstruction against 17.7 ms).
        """
        one_thread = one_blas_thread() if self.workers > 1 else contextlib.nullcontext()
        with one_thread:
            return (codewords @ self._a_pinv_t).reshape(len(codewords), *CSI_SHAPE)

    def _run(self, sess: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
        return sess.run([OUTPUT], {INPUT: x})[0]

    def _rows(self, codewords: np.ndarray | Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        m = self.projection.m
        if isinstance(codewords, np.ndarray) and codewords.ndim == 2:
            n = len(codewords)
            status = np.zeros(n, np.int8)
            if codewords.shape[1] != m:
                status[:] = RowStatus.WRONG_LENGTH
                return np.zeros((n, m), np.float32), status
            s = codewords.astype(np.float32, copy=False)
        else:
            rows = [np.asarray(r) for r in codewords]
            status = np.array(
                [RowStatus.OK if r.shape == (m,) else RowStatus.WRONG_LENGTH for r in rows], np.int8
            )
            s = np.zeros((len(rows), m), np.float32)
            for i, r in enumerate(rows):
                if status[i] == RowStatus.OK:
                    s[i] = r
        bad = ~np.isfinite(s).all(axis=1) & (status == RowStatus.OK)
        status[bad] = RowStatus.NON_FINITE
        return s, status

    def reconstruct(
        self, codewords: np.ndarray | Sequence[np.ndarray], env_ids: Sequence[str] | np.ndarray
    ) -> Reconstruction:
        """Reconstruct every row with its environment's proxy (or the LAM alone).

        Args:
            codewords: ``[N, M] float32`` (or N 1-D rows, any of which may be malformed).
            env_ids: ``[N]`` environment id of each row (unknown ids get the LAM alone).
        Returns: Reconstruction with ``h_hat [N, 2, 32, 32] float32`` and per-row status;
            refused rows (NaN/Inf, wrong length) are zeros with their status set.
        """
        proxies = self._proxies  # one read: this call sees one consistent set
        s, status = self._rows(codewords)
        env = np.asarray(env_ids, dtype=object)
        if len(env) != len(status):
            raise ConfigError(f"{len(status)} codeword rows but {len(env)} environment ids")
        out = np.zeros((len(status), *CSI_SHAPE), np.float32)
        ok = np.flatnonzero(status == RowStatus.OK)
        used: dict[str, int | None] = {}
        if len(ok):
            x = self.decode(s[ok])
            groups = {e: np.flatnonzero(env[ok] == e) for e in set(env[ok]) if e in proxies}
            # The rows with a proxy, grouped by environment: the reference SAM runs over all
            # of them and each proxy over its slice (views, no copies).
            rows = np.concatenate(list(groups.values())) if groups else np.zeros(0, np.int64)
            x_pxy = x[rows]
            base, ref, pxy = np.empty_like(x), np.empty_like(x_pxy), np.empty_like(x_pxy)
            alpha = np.empty(len(rows), np.float32)
            jobs = [(self._lam, x, base, self._lam_cost), (self._ref, x_pxy, ref, self._ref_cost)]
            start = 0
            for e, idx in groups.items():
                slot, end = proxies[e], start + len(idx)
                jobs.append((slot.session, x_pxy[start:end], pxy[start:end], slot.cost))
                # LASCO, f_base + (f_pxy - f_ref), is E-LASCO with alpha = 1.
                alpha[start:end] = 1.0 if slot.mode is Mode.LASCO else slot.alpha
                used[e] = slot.version
                start = end
            self._run_all(jobs)
            out[ok] = base
            if len(rows):
                out[ok[rows]] = pxy + alpha[:, None, None, None] * (base[rows] - ref)
        return Reconstruction(out, status, used)

    def _run_all(
        self, jobs: Sequence[tuple[ort.InferenceSession, np.ndarray, np.ndarray, float]]
    ) -> None:
        """Run ``(session, input rows, output rows, cost per row)`` jobs over the workers."""
        bins = plan_chunks(
            [len(x) * c for _, x, _, c in jobs], [len(x) for _, x, _, _ in jobs], self.workers
        )

        def work(pieces: list[tuple[int, int, int]]) -> None:
            for j, lo, hi in pieces:
                sess, x, y, _ = jobs[j]
                y[lo:hi] = self._run(sess, x[lo:hi])

        if self._pool is None or len(bins) == 1:
            for pieces in bins:
                work(pieces)
            return
        futures = [self._pool.submit(work, pieces) for pieces in bins[1:]]
        work(bins[0])
        for f in futures:
            f.result()

    def warm_up(self, batch: int = 8) -> float:
        """Run every session once; returns the seconds it took."""
        t0 = time.perf_counter()
        x = np.zeros((batch, *CSI_SHAPE), np.float32)
        for sess in (self._lam, self._ref, *(p.session for p in self._proxies.values())):
            self._run(sess, x)
        return time.perf_counter() - t0
