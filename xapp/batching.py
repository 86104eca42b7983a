"""Micro-batching: the rows of many CSI reports wait in one queue and are reconstructed
in one runtime call, when the queue holds ``max_batch`` rows or its oldest row waited
``max_wait_ms``. A flush writes each served row to SDL (``csi/<cell>/<ue>``), each
report's latency and NMSE (labelled rows) to telemetry, and labelled rows (with their
environment, cell, time and projection) to the data sink; rows the runtime refuses
are counted as drops by reason."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lasco.metrics import beam_share
from serving import LascoRuntime, RowStatus
from xapp.counters import Counters
from xapp.e2sm_csi import CsiReport
from xapp.outputs import DatasetSink, Sdl, encode_csi_entry
from xapp.settings import MicroBatchSettings
from xapp.telemetry import Telemetry

__all__ = ["MicroBatcher", "Outputs"]

LAM_ONLY_ENV = "lam-only"  # the telemetry tag of cells no policy maps
BEAM_ROWS = 8


@dataclass(frozen=True)
class Outputs:
    """Where a flush writes: SDL (and its namespace), telemetry, the labelled samples."""

    sdl: Sdl
    namespace: str
    telemetry: Telemetry
    dataset: DatasetSink
    csi_ttl_ms: int = 10_000


class MicroBatcher:
    """The queue of reports waiting for reconstruction.

    Args:
        settings: the flush thresholds; may be replaced between messages (a benchmark
            sets ``max_batch`` to the rows of one indication).
        runtime: reconstructs the rows.
        outputs: where results go.
        counters: served, flushes, drops by reason.
        route: a cell's ``(runtime slot, environment)``: the proxy slot its rows are
            reconstructed with ("" for the LAM alone) and the environment they are tagged
            with ("" when no policy maps the cell).
    """

    def __init__(
        self,
        settings: MicroBatchSettings,
        runtime: LascoRuntime,
        outputs: Outputs,
        counters: Counters,
        route: Callable[[str], tuple[str, str]],
    ) -> None:
        self.settings, self.runtime, self.outputs = settings, runtime, outputs
        self.counters, self.route = counters, route
        self._queue: list[tuple[CsiReport, float]] = []
        self._rows = 0
        self._lock = threading.Lock()

    @property
    def queued_rows(self) -> int:
        with self._lock:
            return self._rows

    def add(self, report: CsiReport, t_in: float) -> int:
        """Queue a report (``t_in``: its ``perf_counter`` arrival) and flush when the queue
        reached ``max_batch`` rows; returns the rows served by that flush (0: none)."""
        with self._lock:
            self._queue.append((report, t_in))
            self._rows += len(report)
            full = self._rows >= self.settings.max_batch
        return self.flush() if full else 0

    def due(self, now: float | None = None) -> bool:
        """Whether the oldest queued row waited ``max_wait_ms`` (``now``: perf_counter)."""
        now = time.perf_counter() if now is None else now
        with self._lock:
            oldest = self._queue[0][1] if self._queue else None
        return oldest is not None and (now - oldest) * 1e3 >= self.settings.max_wait_ms

    def flush(self) -> int:
        """Reconstruct every queued row in one runtime call; returns the rows served.

        A batch the runtime cannot take as a whole is served report by report, so only
        the report that fails is dropped (reason ``batch-error``). A served row whose
        reconstruction is not finite is dropped (``non-finite-output``). The outputs are
        written each on its own: SDL failing (``sdl_write_failed``, ``sdl_rows_lost``)
        does not stop telemetry or the labelled samples, nor they SDL."""
        with self._lock:
            queue, self._queue, self._rows = self._queue, [], 0
        if not queue:
            return 0
        groups = []
        try:
            groups.append((queue, self._reconstruct(queue)))
        except Exception as exc:  # a report the checks let through still cannot cost others
            self.counters.count("batch_failed")
            self.counters.log_limited(
                "batch", "a batch of %d reports failed (%r); serving them one by one",
                len(queue), exc,
            )  # fmt: skip
            for item in queue:
                try:
                    groups.append(([item], self._reconstruct([item])))
                except Exception as one:
                    report = item[0]
                    self.counters.drop(
                        "batch-error", len(report), cell=report.cell_id, detail=repr(one)
                    )
        served = sum(self._write(group, res, envs) for group, (res, envs) in groups)
        self.counters.count("served", served)
        self.counters.count("flushes")
        return served

    def _reconstruct(self, queue: list[tuple[CsiReport, float]]):
        """One runtime call over the reports' rows: ``(result, (slot, environment) per
        report)``."""
        routes = [self.route(r.cell_id) for r, _ in queue]
        codewords = np.concatenate([r.codewords for r, _ in queue])
        slots = np.concatenate([[s] * len(r) for (r, _), (s, _) in zip(queue, routes, strict=True)])
        return self.runtime.reconstruct(codewords, slots), routes

    def _write(
        self, queue: list[tuple[CsiReport, float]], res, routes: list[tuple[str, str]]
    ) -> int:
        """Write one reconstructed group's outputs; returns its rows served."""
        entries: dict[str, tuple[int, bytes]] = {}
        start, served = 0, 0
        finite = np.isfinite(res.h_hat).all(axis=(1, 2, 3))
        for (report, t_in), (slot, env) in zip(queue, routes, strict=True):
            n = len(report)
            status = res.status[start : start + n].copy()
            h_hat = res.h_hat[start : start + n]
            lost = (status == RowStatus.OK) & ~finite[start : start + n]
            if lost.any():
                self.counters.drop("non-finite-output", int(lost.sum()), cell=report.cell_id)
                status[lost] = RowStatus.NON_FINITE
            version = res.proxies_used.get(slot)  # what this reconstruction really used
            for i in np.flatnonzero(status == RowStatus.OK):
                key = f"csi/{report.cell_id}/{int(report.ue_ids[i])}"
                if key in entries and entries[key][0] > report.timestamp_ns:
                    continue  # a newer report of this UE in the same batch
                entries[key] = (
                    report.timestamp_ns,
                    encode_csi_entry(h_hat[i], report.timestamp_ns, env, version),
                )
            for code in (RowStatus.NON_FINITE, RowStatus.WRONG_LENGTH):
                bad = int((res.status[start : start + n] == code).sum())
                if bad:
                    self.counters.drop(
                        code.name.lower().replace("_", "-"), bad, cell=report.cell_id
                    )
            ok = int((status == RowStatus.OK).sum())
            served += ok
            self._guarded("telemetry", self._record, report, t_in, h_hat, status, env, version, ok)
            start += n
        if entries:
            try:
                written = self.outputs.sdl.set_latest(
                    self.outputs.namespace, entries, self.outputs.csi_ttl_ms
                )
                if written < len(entries):  # an older report than what SDL holds
                    self.counters.count("sdl_older_skipped", len(entries) - written)
            except Exception as exc:  # SDL down: the other outputs go on, the loss counted
                self.counters.count("sdl_write_failed")
                self.counters.count("sdl_rows_lost", len(entries))
                self.counters.log_limited("sdl-write", "SDL write failed: %r", exc)
        return served

    def _record(self, report, t_in, h_hat, status, env, version, ok) -> None:
        nmse = self._labelled(report, h_hat, status, env)
        good = h_hat[status == RowStatus.OK]
        self.outputs.telemetry.record(
            report.cell_id,
            env or LAM_ONLY_ENV,
            version,
            ok,
            time.perf_counter() - t_in,
            nmse,
            # a report's mean beam share, over its first BEAM_ROWS served rows: a channel
            # statistic for drift detection, not worth an FFT of every row
            float(beam_share(good[:BEAM_ROWS]).mean()) if len(good) else None,
        )

    def _guarded(self, what: str, fn, *args) -> None:
        try:
            fn(*args)
        except Exception as exc:
            self.counters.count(f"{what}_failed")
            self.counters.log_limited(what, "%s failed: %r", what, exc)

    def _labelled(
        self, report: CsiReport, h_hat: np.ndarray, status: np.ndarray, env: str
    ) -> list[float]:
        """Collect the report's finite, served labelled rows; their NMSEs (linear)."""
        if report.labels is None:
            return []
        rows = report.label_rows
        finite = np.isfinite(report.labels).all(axis=(1, 2, 3))
        if not finite.all():
            self.counters.count("labels_refused_non_finite", int((~finite).sum()))
        good = (status[rows] == RowStatus.OK) & finite
        h, est = report.labels[good].astype(np.float64), h_hat[rows[good]].astype(np.float64)
        if not len(h):
            return []
        self.outputs.dataset.add(
            env or f"cell:{report.cell_id}",
            report.projection_id,
            report.cell_id,
            report.timestamp_ns,
            report.labels[good],
            report.codewords[rows[good]],
        )
        power = (h**2).sum(axis=(1, 2, 3))
        err = ((est - h) ** 2).sum(axis=(1, 2, 3)) / np.maximum(power, 1e-12)
        return err[np.isfinite(err)].tolist()
