"""Prometheus text at /ric/v1/metrics: the core's counters, per-cell rows served and
dropped, latency and NMSE histograms, policies and proxies, parsed back as Prometheus
would."""

from prometheus_client.parser import text_string_to_metric_families

from tests.xapp.conftest import a1_request, policy_for
from xapp.mtypes import MType


def _samples(core):
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(core.metrics.text().decode())
        for s in fam.samples
    }


def test_the_metrics_follow_what_the_xapp_serves(core, world, node):
    core.handle(
        MType.A1_POLICY_REQ, a1_request("CREATE", "p-101", policy_for(world, "101", ["cell-101"]))
    )
    for _, pdu, _ in node.indications(4, 8):
        core.handle(MType.RIC_INDICATION, pdu, "gnb-1")
    core.handle(MType.RIC_INDICATION, b"\x00garbage", "gnb-1")
    core.flush()
    s = _samples(core)
    assert s[("csi_xapp_served_total", ())] == 32
    assert s[("csi_xapp_a1_ok_total", ())] == 1
    assert s[("csi_xapp_cell_rows_served_total", (("cell", "cell-101"), ("env", "101")))] == 16
    assert s[("csi_xapp_cell_rows_served_total", (("cell", "cell-102"), ("env", "lam-only")))] == 16
    dropped = [v for (n, lab), v in s.items() if n == "csi_xapp_cell_rows_dropped_total"]
    assert sum(dropped) == 1
    assert s[("csi_xapp_report_latency_seconds_count", (("cell", "cell-101"),))] == 2
    assert s[("csi_xapp_report_nmse_count", (("cell", "cell-101"),))] > 0
    assert s[("csi_xapp_active_policies", ())] == 1 and s[("csi_xapp_proxies_loaded", ())] == 1
