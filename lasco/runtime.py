"""LascoRuntime: multi-environment CSI reconstruction with ONNX Runtime (no torch).

One LAM and one reference SAM serve every environment; each environment may have a
proxy SAM plugged in, combined per REFERENCE section 1:

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
import functools
import hashlib
import itertools
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import IntEnum
from types import MappingProxyType
from typing import Any

import numpy as np
import onnxruntime as ort
from threadpoolctl import ThreadpoolController

from lasco.codec import CSI_SHAPE, Projection
from lasco.errors import ConfigError, LascoError

__all__ = [
    "IncompatibleProxy",
    "LascoRuntime",
    "ProxySlot",
    "Reconstruction",
    "RowStatus",
    "plan_chunks",
    "session_options",
]

INPUT, OUTPUT = "h_in", "h_hat"
MODES = ("lasco", "e-lasco")


class IncompatibleProxy(LascoError, ValueError):
    """A proxy SAM that does not fit this runtime (shapes, projection, LAM sha256)."""


class RowStatus(IntEnum):
    """Per-row outcome of ``reconstruct``; refused rows hold zeros in ``h_hat``."""

    OK = 0
    NON_FINITE = 1
    WRONG_LENGTH = 2


@dataclass(frozen=True)
class ProxySlot:
    """An installed proxy SAM: its session, how it combines, and where it came from."""

    env_id: str
    session: ort.InferenceSession = field(repr=False)
    mode: str
    alpha: float
    name: str
    version: int | None
    sha256: str
    cost: float = 1.0  # relative cost of one row (the ONNX size, a proxy for FLOPs)


@dataclass(frozen=True)
class Reconstruction:
    """``h_hat [N, 2, 32, 32] float32`` and ``status [N] int8`` (RowStatus)."""

    h_hat: np.ndarray
    status: np.ndarray
    proxies_used: dict[str, int | None]

    @property
    def ok(self) -> np.ndarray:
        return self.status == RowStatus.OK


def cpu_count() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0)) or 1


def session_options(threads: int | None = None, spin: bool = False) -> ort.SessionOptions:
    """ORT options: every graph optimisation, ``threads`` intra-op threads (default: the
    cores this process may use), one inter-op thread (the graphs are sequential), and
    thread spinning only when asked (spinning pools measured slower here: they take
    the cores that numpy's decode and the other sessions need)."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = threads or cpu_count()
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    return so


def default_providers() -> list[str]:
    """CUDA when this onnxruntime build has it, else the CPU."""
    have = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in have]


def _check_io(sess: ort.InferenceSession, what: str) -> None:
    for side, args in (("input", sess.get_inputs()), ("output", sess.get_outputs())):
        want = INPUT if side == "input" else OUTPUT
        if len(args) != 1 or args[0].name != want:
            raise IncompatibleProxy(
                f"{what}: expected one {side} named {want!r}, got {[a.name for a in args]}"
            )
        shape = list(args[0].shape)
        if len(shape) != 4 or tuple(shape[1:]) != CSI_SHAPE or isinstance(shape[0], int):
            raise IncompatibleProxy(f"{what}: {side} shape {shape} is not [batch, 2, 32, 32]")
        if args[0].type != "tensor(float)":
            raise IncompatibleProxy(f"{what}: {side} type {args[0].type} is not float32")


_BLAS_LOCK = threading.Lock()  # the BLAS thread count is per process: one limiter at a time


@functools.cache
def _blas_controller() -> ThreadpoolController:
    """numpy's BLAS thread pool(s) (found once: the scan of loaded libraries takes ms)."""
    return ThreadpoolController().select(user_api="blas")


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """numpy's BLAS on one thread for the block (one limiter at a time, see _BLAS_LOCK)."""
    with _BLAS_LOCK, _blas_controller().limit(limits=1):
        yield


# Rows of one ORT run: larger runs' activations outgrow the core's cache. Measured at batch
# 256, K = 10 (2 cores): 126 ms per reconstruction uncut, 115 ms with 64-row runs, 111 with 32.
MAX_CHUNK_ROWS = 32


def plan_chunks(
    costs: Sequence[float], rows: Sequence[int], workers: int, max_rows: int = MAX_CHUNK_ROWS
) -> list[list[tuple[int, int, int]]]:
    """Spread jobs over ``workers`` bins by cost: a job dearer than an even share, or of
    more than ``max_rows`` rows (whose activations outgrow the core's cache), is cut into
    row chunks, then chunks go, dearest first, to the least-loaded bin (LPT).

    Returns the non-empty bins, each a list of ``(job, first row, end row)``.
    """
    total = float(sum(costs))
    if total <= 0:
        return []
    share = total / max(1, workers)
    pieces = []
    for j, (c, n) in enumerate(zip(costs, rows, strict=True)):
        if n == 0:
            continue
        k = min(n, max(1, int(np.ceil(c / share - 1e-9)))) if workers > 1 else 1
        k = max(k, -(-n // max_rows))
        bounds = np.linspace(0, n, k + 1).round().astype(int)
        pieces += [
            (c * (hi - lo) / n, j, int(lo), int(hi)) for lo, hi in itertools.pairwise(bounds)
        ]
    pieces.sort(key=lambda p: -p[0])
    load = [0.0] * max(1, workers)
    bins: list[list[tuple[int, int, int]]] = [[] for _ in load]
    for c, j, lo, hi in pieces:
        b = int(np.argmin(load))
        load[b] += c
        bins[b].append((j, lo, hi))
    return [b for b in bins if b]


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
        cls, store: Any, lam: str = "lam", sam_ref: str = "sam_ref", **kw: Any
    ) -> LascoRuntime:
        """Fetch and verify the LAM and reference SAM from a ``model_store.ModelStore``."""
        lam_art, ref_art = store.fetch(lam), store.fetch(sam_ref)
        if ref_art.manifest.get("lam_sha256") != lam_art.manifest["onnx_sha256"]:
            raise IncompatibleProxy(
                f"{sam_ref} v{ref_art.version} was trained against another "
                f"LAM than {lam} v{lam_art.version}"
            )
        if ref_art.manifest["projection_id"] != lam_art.manifest["projection_id"]:
            raise IncompatibleProxy("LAM and reference SAM use different projections")
        rt = cls(
            lam_art.onnx, ref_art.onnx, Projection.from_id(lam_art.manifest["projection_id"]), **kw
        )
        rt.lam_version, rt.ref_version = lam_art.version, ref_art.version
        return rt

    def close(self) -> None:
        """Stop the worker threads (the runtime must not be used afterwards)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def _session(self, onnx: bytes, what: str) -> ort.InferenceSession:
        try:
            sess = ort.InferenceSession(onnx, sess_options=self._so, providers=self._providers)
        except Exception as exc:  # ORT's own exception types
            raise IncompatibleProxy(f"{what}: ONNX Runtime cannot load it: {exc}") from None
        _check_io(sess, what)
        return sess

    # -- proxies -----------------------------------------------------------------------
    @property
    def proxies(self) -> Mapping[str, ProxySlot]:
        return self._proxies

    def set_proxy(
        self,
        env_id: str,
        onnx: bytes,
        *,
        mode: str = "e-lasco",
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

    def set_proxies(self, specs: Mapping[str, Mapping[str, Any]]) -> dict[str, ProxySlot]:
        """Install several proxies in one swap: ``{env_id: set_proxy keyword arguments}``.

        Every proxy is checked and warmed up first; if any is refused, none is installed.
        """
        slots = {str(e): self._prepare(e, **kw) for e, kw in specs.items()}
        self._install(slots)
        return slots

    def _install(self, slots: Mapping[str, ProxySlot]) -> None:
        with self._lock:
            self._proxies = MappingProxyType({**self._proxies, **slots})

    def _prepare(
        self,
        env_id: str,
        onnx: bytes,
        *,
        mode: str = "e-lasco",
        alpha: float = 1.0,
        lam_sha256: str,
        projection_id: str,
        name: str = "",
        version: int | None = None,
    ) -> ProxySlot:
        if mode not in MODES:
            raise ConfigError(f"proxy mode {mode!r} is not one of {MODES}")
        if not np.isfinite(alpha) or not 0 <= alpha <= 10:
            raise ConfigError(f"alpha {alpha!r} must be a finite number in [0, 10]")
        if lam_sha256 != self.lam_sha256:
            raise IncompatibleProxy(
                f"proxy for {env_id!r} was trained against LAM "
                f"{lam_sha256[:12]}..., this runtime runs "
                f"{self.lam_sha256[:12]}..."
            )
        if projection_id != self.projection.id:
            raise IncompatibleProxy(
                f"proxy for {env_id!r} expects projection {projection_id}, "
                f"this runtime decodes {self.projection.id}"
            )
        sess = self._session(onnx, f"proxy for {env_id!r}")
        warm = sess.run([OUTPUT], {INPUT: np.zeros((2, *CSI_SHAPE), np.float32)})[0]
        if warm.shape != (2, *CSI_SHAPE) or not np.isfinite(warm).all():
            raise IncompatibleProxy(f"proxy for {env_id!r} failed its warm-up run")
        return ProxySlot(
            str(env_id),
            sess,
            mode,
            float(alpha),
            name,
            version,
            hashlib.sha256(onnx).hexdigest(),
            float(len(onnx)),
        )

    def set_proxy_from_artifact(
        self, env_id: str, art: Any, *, mode: str | None = None, alpha: float | None = None
    ) -> ProxySlot:
        """Install a verified ``model_store.VerifiedArtifact`` of kind ``sam_proxy``."""
        m = art.manifest
        if m.get("kind") != "sam_proxy":
            raise IncompatibleProxy(
                f"{m.get('name')} v{m.get('version')} is a {m.get('kind')}, not a sam_proxy"
            )
        return self.set_proxy(
            env_id,
            art.onnx,
            mode=mode or m.get("mode") or "e-lasco",
            alpha=alpha if alpha is not None else (m.get("alpha") or 1.0),
            lam_sha256=m["lam_sha256"],
            projection_id=m["projection_id"],
            name=m["name"],
            version=m["version"],
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
        one_thread = _one_blas_thread() if self.workers > 1 else contextlib.nullcontext()
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
                alpha[start:end] = 1.0 if slot.mode == "lasco" else slot.alpha
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
