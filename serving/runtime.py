"""LascoRuntime: multi-environment CSI reconstruction with ONNX Runtime (no torch).

One LAM and one reference SAM serve every environment; each environment may have a
proxy SAM plugged in, combined as in docs/method.md:

    lasco     H_hat = f_base + (f_pxy - f_ref)
    e-lasco   H_hat = f_pxy + alpha (f_base - f_ref)
    side      H_hat = f_side(H_in, f_base, h)        (h: the LAM's hidden states)
    no proxy  H_hat = f_base                       (the LAM alone)

``reconstruct`` decodes the codewords once (H_in = A^+ s), runs the LAM once over
all valid rows (every environment together), the reference SAM once over the rows
whose environment has a lasco or e-lasco proxy, and each proxy over its own rows. A side
network reads the LAM's output and hidden states from that same LAM run (a LAM exported
with taps has them as its second output, ``h_taps``), so its rows cost no second LAM
pass: it runs after the LAM, on its rows' ``H_in``, ``f_base`` and ``h``.

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
from types import MappingProxyType

import numpy as np
import onnxruntime as ort

from lasco.codec import CSI_SHAPE, Projection
from lasco.errors import ConfigError
from model_store import IncompatibleModel, Kind, ModelStore, VerifiedArtifact
from model_store.manifest import lam_hidden, session_io
from schemas import Mode
from serving.proxies import (
    BASE,
    HIDDEN,
    INPUT,
    OUTPUT,
    IncompatibleProxy,
    ProxySlot,
    open_session,
    prepare_proxy,
    zero_feeds,
)
from serving.rows import (
    Job,
    Reconstruction,
    RowStatus,
    gather_groups,
    group_slices,
    parse_rows,
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
        self._lam = self._session(lam_onnx, "LAM", Kind.LAM)
        self._ref = self._session(ref_onnx, "reference SAM", Kind.SAM_REF)
        # the LAM's hidden-state output (None: it has none, and side networks are refused)
        self.hidden = lam_hidden(session_io(self._lam)[1])
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

    def _session(self, onnx: bytes, what: str, kind: Kind | None = None) -> ort.InferenceSession:
        return open_session(onnx, what, self._so, self._providers, kind)

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
            serving_hidden=self.hidden,
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

    @staticmethod
    def _run(
        sess: ort.InferenceSession, feeds: Mapping[str, np.ndarray], names: Sequence[str]
    ) -> list[np.ndarray]:
        return sess.run(list(names), dict(feeds))

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
        s, status = parse_rows(codewords, self.projection.m)
        env = np.asarray(env_ids, dtype=object)
        if len(env) != len(status):
            raise ConfigError(f"{len(status)} codeword rows but {len(env)} environment ids")
        out = np.zeros((len(status), *CSI_SHAPE), np.float32)
        ok = np.flatnonzero(status == RowStatus.OK)
        used: dict[str, int | None] = {}
        if len(ok):
            x = self.decode(s[ok])
            groups = {e: np.flatnonzero(env[ok] == e) for e in set(env[ok]) if e in proxies}
            side = {e: idx for e, idx in groups.items() if proxies[e].mode is Mode.SIDE}
            plain = {e: idx for e, idx in groups.items() if e not in side}
            used = {e: proxies[e].version for e in groups}
            base = np.empty_like(x)
            lam_out = {OUTPUT: base}
            if side:  # the hidden states, from the same LAM run
                assert self.hidden is not None  # a side slot is admitted only then
                shape = tuple(int(n) for n in self.hidden.shape[1:])
                lam_out[HIDDEN] = np.empty((len(x), *shape), np.float32)
            jobs = [(self._lam, {INPUT: x}, lam_out, self._lam_cost)]
            # The rows with a lasco/e-lasco proxy, grouped by environment: the reference SAM
            # runs over all of them and each proxy over its slice (views, no copies).
            rows, x_pxy = gather_groups(plain, x)
            ref, pxy = np.empty_like(x_pxy), np.empty_like(x_pxy)
            alpha = np.empty(len(rows), np.float32)
            jobs.append((self._ref, {INPUT: x_pxy}, {OUTPUT: ref}, self._ref_cost))
            for e, lo, hi in group_slices(plain):
                slot = proxies[e]
                jobs.append((slot.session, {INPUT: x_pxy[lo:hi]}, {OUTPUT: pxy[lo:hi]}, slot.cost))
                # LASCO, f_base + (f_pxy - f_ref), is E-LASCO with alpha = 1.
                alpha[lo:hi] = 1.0 if slot.mode is Mode.LASCO else slot.alpha
            self._run_all(jobs)
            out[ok] = base
            if len(rows):
                out[ok[rows]] = pxy + alpha[:, None, None, None] * (base[rows] - ref)
            if side:
                srows, xs = gather_groups(side, x)
                bs, hs, ys = base[srows], lam_out[HIDDEN][srows], np.empty_like(xs)
                self._run_all(
                    [
                        (
                            proxies[e].session,
                            {INPUT: xs[lo:hi], BASE: bs[lo:hi], HIDDEN: hs[lo:hi]},
                            {OUTPUT: ys[lo:hi]},
                            proxies[e].cost,
                        )
                        for e, lo, hi in group_slices(side)
                    ]
                )
                out[ok[srows]] = ys
        return Reconstruction(out, status, used)

    def _run_all(self, jobs: Sequence[Job]) -> None:
        """Run ``(session, inputs, outputs, cost per row)`` jobs over the workers: each
        job's input and output arrays (by name) share their rows, split into chunks."""
        sizes = [len(next(iter(feeds.values()))) for _, feeds, _, _ in jobs]
        costs = [n * job[3] for n, job in zip(sizes, jobs, strict=True)]
        bins = plan_chunks(costs, sizes, self.workers)

        def work(pieces: list[tuple[int, int, int]]) -> None:
            for j, lo, hi in pieces:
                sess, feeds, outs, _ = jobs[j]
                got = self._run(sess, {k: v[lo:hi] for k, v in feeds.items()}, list(outs))
                for y, g in zip(outs.values(), got, strict=True):
                    y[lo:hi] = g

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
        for sess in (self._lam, self._ref, *(p.session for p in self._proxies.values())):
            self._run(sess, zero_feeds(sess, batch), [OUTPUT])
        return time.perf_counter() - t0
