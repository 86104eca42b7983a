"""The RMR shell above the boundary. ricxappframe's RMRXapp and rmr module load the native
librmr_si.so, which cannot be installed here; these stand-ins record what the shell asks
of them. The real RMR transport is not exercised by the tests (see xapp/shell.py)."""

import json
import os
import signal
import threading
import types
import urllib.error
import urllib.request

import pytest

from tests.xapp.conftest import a1_request, policy_for
from xapp.mtypes import MType
from xapp.probes import serve_probes
from xapp.shell import RmrShell, wait_for_signal

FAKE_RMR = types.SimpleNamespace(
    RMR_MS_MSG_TYPE="message type",
    RMR_MS_PAYLOAD="payload",
    RMR_MS_MEID="meid",
    RMR_MS_MSG_STATE="message state",
    RMR_OK=0,
)


class FakeRmrXapp:
    """Records the RMRXapp calls the shell makes."""

    def __init__(self, default_handler, config_handler=None, rmr_port=4562):
        self.default_handler, self.config_handler, self.rmr_port = (
            default_handler,
            config_handler,
            rmr_port,
        )
        self.callbacks, self.sent, self.rts, self.freed = {}, [], [], []
        self._mrc = object()
        self.running = False

    def register_callback(self, handler, mtype):
        self.callbacks[mtype] = handler

    def run(self, thread=False):
        self.running = True

    def stop(self):
        self.running = False

    def rmr_send(self, payload, mtype, retries=100):
        self.sent.append((mtype, payload))
        return True

    def rmr_rts(self, sbuf, new_payload=None, new_mtype=None, retries=100):
        self.rts.append((sbuf, new_mtype, new_payload))

    def rmr_free(self, sbuf):
        self.freed.append(sbuf)

    def healthcheck(self):
        return True

    def deliver(self, mtype, payload, meid=b"gnb-1", sbuf="sbuf"):
        handler = self.callbacks.get(mtype, self.default_handler)
        handler(
            self,
            {
                FAKE_RMR.RMR_MS_MSG_TYPE: mtype,
                FAKE_RMR.RMR_MS_PAYLOAD: payload,
                FAKE_RMR.RMR_MS_MEID: meid,
            },
            sbuf,
        )


def _shell(core):
    shell = RmrShell(core, xapp_factory=FakeRmrXapp, rmr=FAKE_RMR, tick_s=3600)
    shell.send = lambda mtype, payload, meid: shell.xapp.sent.append((mtype, payload)) or True
    shell.start()
    return shell


def test_shell_registers_one_callback_per_message_type_and_starts(core):
    shell = _shell(core)
    x = shell.xapp
    assert set(x.callbacks) == {
        MType.RIC_INDICATION,
        MType.A1_POLICY_REQ,
        MType.RIC_SUB_RESP,
        MType.RIC_SUB_FAILURE,
    }
    assert x.running and x.rmr_port == 4560
    sent_types = [m for m, _ in x.sent]
    assert sent_types == [MType.A1_POLICY_QUERY, MType.RIC_SUB_REQ]
    assert json.loads(x.sent[0][1]) == {"policy_type_id": 30001}


def test_a1_answers_go_back_by_rts_and_buffers_are_freed(core, world):
    shell = _shell(core)
    x = shell.xapp
    x.deliver(
        MType.A1_POLICY_REQ,
        a1_request("CREATE", "p", policy_for(world, "101", ["cell-101"])),
        sbuf="buf-1",
    )
    _wait(lambda: x.freed)  # answered from the A1 thread
    assert len(x.rts) == 1
    sbuf, mtype, payload = x.rts[0]
    assert (sbuf, mtype) == ("buf-1", MType.A1_POLICY_RESP)
    assert json.loads(payload)["status"] == "OK"
    assert x.freed == ["buf-1"]


def _wait(cond, timeout=10.0):
    import time

    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "not in time"
        time.sleep(0.01)


def test_a_store_that_hangs_neither_holds_indications_nor_leaves_a1_unanswered(core, world, node):
    import threading

    shell = _shell(core)
    x = shell.xapp
    release = threading.Event()
    real_fetch = core.policies.store.fetch
    core.policies.store.fetch = lambda *a, **k: release.wait(30) and real_fetch(*a, **k)
    core.policies.fetch_timeout_s = 0.5
    try:
        create = a1_request("CREATE", "p", policy_for(world, "101", ["cell-101"]))
        x.deliver(MType.A1_POLICY_REQ, create, sbuf="a1-buf")
        for _, pdu, _ in node.indications(2, 4):  # while A1 waits on the store
            x.deliver(MType.RIC_INDICATION, pdu)
        core.flush()
        assert core.counters["served"] == 8 and not x.rts
        _wait(lambda: x.rts)
        body = json.loads(x.rts[0][2])
        assert body["status"] == "ERROR" and "store-timeout" in body["reason"]
        assert x.freed[-1] == "a1-buf" and "p" not in core.policies
    finally:
        release.set()


def test_indications_through_the_shell_and_unknown_types(core, node):
    shell = _shell(core)
    x = shell.xapp
    for _, pdu, _ in node.indications(2, 4):
        x.deliver(MType.RIC_INDICATION, pdu)
    x.deliver(999, b"", sbuf="other")
    core.flush()
    assert core.counters["served"] == 8 and core.counters["unhandled_mtype_999"] == 1
    assert x.freed.count("sbuf") == 2 and "other" in x.freed


def test_config_change_updates_the_e2_nodes(core):
    shell = _shell(core)
    controls = {"subscription": {"e2_nodes": ["gnb-1", "gnb-2"]}}
    shell.xapp.config_handler(shell.xapp, {"controls": controls})
    assert set(core.subscriptions.states()) == {"gnb-1", "gnb-2"}


@pytest.mark.parametrize(
    "controls",
    [{"subscription": {"e2_nodes": ["a", "a"]}}, {"e2_nodes": ["gnb-2"]}],
    ids=["invalid", "not-grouped"],
)
def test_an_invalid_config_is_refused_and_the_running_one_stays(core, controls):
    shell = _shell(core)
    shell.xapp.config_handler(shell.xapp, {"controls": controls})
    assert set(core.subscriptions.states()) == {"gnb-1"}
    assert core.counters["config_refused"] == 1


def test_a_config_change_applies_the_live_settings_and_names_the_others(core, world):
    from tests.xapp.conftest import settings_for

    base = settings_for(world)
    shell = _shell(core)
    controls = {
        "subscription": {"e2_nodes": ["gnb-1", "gnb-9"]},
        "micro_batch": {"max_batch": 5},
        "limits": {"max_abs_codeword": 50.0},
        "store": {"uri": str(world.root / "store"), "allowed_uris": ["s3://other"]},
        "sdl": {"namespace": "elsewhere"},
    }
    shell.apply_config(controls)
    assert set(core.subscriptions.states()) == {"gnb-1", "gnb-9"}
    assert core.batcher.settings.max_batch == 5 and core._indication.limits.max_abs_codeword == 50
    assert core.policies.allowed_store_uris == {"s3://other"}
    assert core.settings.sdl.namespace == base.sdl.namespace  # needs a restart
    assert core.counters["config_applied"] == 1 and core.counters["config_restart_needed"] == 1


def test_the_config_file_is_followed_through_a_configmap_symlink_swap(core, tmp_path):
    """Kubernetes swaps ``..data`` to a new folder; the file's own path never changes."""
    import json

    from xapp.app import load_controls
    from xapp.config_watch import ConfigWatcher

    def version(name, nodes):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "config-file.json").write_text(
            json.dumps({"controls": {"subscription": {"e2_nodes": nodes}}})
        )
        return folder

    data = tmp_path / "..data"
    data.symlink_to(version("v1", ["gnb-1"]))
    (tmp_path / "config-file.json").symlink_to(data / "config-file.json")
    shell = _shell(core)
    watcher = ConfigWatcher(tmp_path / "config-file.json", load_controls, shell.apply_config)
    assert watcher.check() is False  # nothing changed yet
    tmp = tmp_path / "..data_tmp"
    tmp.symlink_to(version("v2", ["gnb-1", "gnb-2"]))
    tmp.replace(data)  # the atomic swap kubelet does
    assert watcher.check() is True
    assert set(core.subscriptions.states()) == {"gnb-1", "gnb-2"}
    errors = []
    watcher.on_error = errors.append
    (tmp_path / "v2" / "config-file.json").write_text("{broken")
    assert watcher.check() is False and errors  # refused; the running config stays
    assert set(core.subscriptions.states()) == {"gnb-1", "gnb-2"}


def test_probes(core):
    shell = _shell(core)
    server = serve_probes(
        shell.readiness, core.counters.snapshot, core.metrics.text, "127.0.0.1", 0
    )
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with urllib.request.urlopen(base + "/ric/v1/health/alive", timeout=5) as r:
            assert r.status == 200
        with urllib.request.urlopen(base + "/ric/v1/health/ready", timeout=5) as r:
            assert json.loads(r.read()) == {"models_loaded": True, "rmr_ready": True}
        core.store.versions = lambda name: (_ for _ in ()).throw(OSError("store down"))
        with urllib.request.urlopen(base + "/ric/v1/health/ready", timeout=5) as r:
            assert r.status == 200  # a store outage does not make the pod unready
        shell.xapp.healthcheck = lambda: False
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(base + "/ric/v1/health/ready", timeout=5)
        assert exc.value.code == 503
        with urllib.request.urlopen(base + "/ric/v1/counters", timeout=5) as r:
            assert json.loads(r.read()) == core.counters.snapshot()
        with urllib.request.urlopen(base + "/ric/v1/metrics", timeout=5) as r:
            assert r.headers["Content-Type"].startswith("text/plain")
            assert "csi_xapp_active_policies 0.0" in r.read().decode()
    finally:
        server.shutdown()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_xapp_stops_on_sigterm_as_on_sigint(sig):
    """Kubernetes stops a pod with SIGTERM: ``csi-xapp run`` waits for it (or Ctrl-C), then
    deletes its subscriptions and flushes; the handlers in place before come back."""
    before = signal.getsignal(signal.SIGTERM)
    sent = threading.Thread(target=lambda: os.kill(os.getpid(), sig))
    assert wait_for_signal(on_installed=sent.start) == sig
    sent.join()
    assert signal.getsignal(signal.SIGTERM) is before
