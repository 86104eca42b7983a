"""``csi-xapp bench``: the xApp's own cost, measured on the machine it runs on.

Indications per second and latency from PDU in to SDL write, at 1, 16 and 64 UEs per
indication, against LascoRuntime alone on the same rows. Each indication is handled with
``max_batch`` equal to its UE count, so it is decoded, validated, grouped, reconstructed
and written to SDL within one ``handle`` call; the runtime-alone time is ``reconstruct`` on
the same codewords and environments. The xApp's own overhead (decode, validation,
grouping, outputs) is the difference, as a share of the runtime's time: a ratio inside one
run, so it holds on a noisy machine. The indications are synthetic (random unit-power
CSI through real E2AP and E2SM-CSI): timing does not depend on the channel.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np

from xapp.e2ap import decode_indication
from xapp.e2sm_csi import decode_report
from xapp.mtypes import MType

__all__ = ["SyntheticNode", "format_record", "run_bench"]


def _percentiles(t: list[float]) -> tuple[float, float]:
    return float(np.percentile(t, 50) * 1e3), float(np.percentile(t, 99) * 1e3)


class SyntheticNode:
    """Indications with random unit-power CSI (timing does not depend on the channel, and
    the xApp side must not import the channel generator): real E2AP and E2SM-CSI PDUs."""

    def __init__(
        self, projection: Any, cells: tuple[str, ...] = ("cell-101", "cell-102"), seed: int = 0
    ) -> None:
        self.projection, self.cells, self.node_id = projection, cells, "gnb-bench"
        self.rng = np.random.default_rng(seed)

    def indications(self, n: int, k: int):
        from xapp.e2ap import Indication, encode_indication
        from xapp.e2sm_csi import CsiReport, encode_report

        for i in range(n):
            h = self.rng.standard_normal((k, 2, 32, 32)).astype(np.float32) / np.sqrt(2)
            cell = self.cells[i % len(self.cells)]
            rep = CsiReport(
                cell,
                time.time_ns(),
                self.projection.id,
                10,
                np.arange(k, dtype=np.uint32),
                self.projection.encode(h),
            )
            pdu = encode_indication(Indication(1, 1, 7, 1, i % 65536, *encode_report(rep)))
            yield cell, pdu, h


def run_bench(
    core: Any, node: Any, ues: tuple[int, ...] = (1, 16, 64), n: int = 200, log=print
) -> list[dict[str, Any]]:
    records = []
    for k in ues:
        core.batcher.settings = replace(core.batcher.settings, max_batch=k)
        pdus = [pdu for _, pdu, _ in node.indications(n, k)]
        reports = [
            decode_report(*(lambda i: (i.header, i.message))(decode_indication(p))) for p in pdus
        ]
        core.handle(MType.RIC_INDICATION, pdus[0], node.node_id)  # warm-up
        t_x, t_r = [], []
        for pdu, rep in zip(pdus, reports, strict=True):
            t = time.perf_counter()
            core.handle(MType.RIC_INDICATION, pdu, node.node_id)
            t_x.append(time.perf_counter() - t)
            envs = [core.cell_env.get(rep.cell_id, "")] * len(rep)
            t = time.perf_counter()
            core.runtime.reconstruct(rep.codewords, envs)
            t_r.append(time.perf_counter() - t)
        p50, p99 = _percentiles(t_x)
        r50, r99 = _percentiles(t_r)
        rec = {
            "ues_per_indication": k,
            "indications": n,
            "indications_per_s": round(n / sum(t_x), 1),
            "p50_ms": round(p50, 3),
            "p99_ms": round(p99, 3),
            "runtime_p50_ms": round(r50, 3),
            "runtime_p99_ms": round(r99, 3),
            "overhead_pct": round(100 * (np.median(t_x) - np.median(t_r)) / np.median(t_r), 1),
        }
        records.append(rec)
        log(format_record(rec))
    return records


def format_record(rec: dict[str, Any]) -> str:
    """One line of the bench table."""
    return (
        f"{rec['ues_per_indication']:3d} UEs/indication: {rec['indications_per_s']:8.1f} ind/s, "
        f"p50 {rec['p50_ms']:7.3f} ms, p99 {rec['p99_ms']:7.3f} ms; runtime alone p50 "
        f"{rec['runtime_p50_ms']:7.3f} ms; overhead {rec['overhead_pct']:5.1f} %"
    )
