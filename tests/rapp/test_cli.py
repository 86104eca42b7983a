"""``csi-rapp``: the operator commands against a live API on a loopback port (uvicorn in a
thread, a controller whose parts are fakes), ``settings``, and the process (``run``):
building it from settings, ticking until stopped, surviving a failing tick."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading

import httpx
import pytest

from model_store import default_store, generate_keypair
from rapp.a1 import A1pClient, PmsClient
from rapp.adapters import InProcessAdapter, JobAdapter
from rapp.app import ApiServer, build_controller, run
from rapp.cli import main
from rapp.settings import Settings, SettingsError
from rapp.telemetry import FileTelemetry
from tests.rapp.test_api import World

ENV_ROW_HEADER = ["ENVIRONMENT", "CELLS", "MODE", "ACTIVE", "NMSE_DB", "PENDING"]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No CSI_RAPP_ variable of the shell running the tests reaches them."""
    for var in [v for v in os.environ if v.startswith("CSI_RAPP_")]:
        monkeypatch.delenv(var)


@pytest.fixture
def live():
    """A World whose API is served on a free loopback port; ``cli(*args)`` runs csi-rapp
    against it and returns ``(exit status, stdout, stderr)``."""
    world = World()
    server = ApiServer(world.client.app, "127.0.0.1", 0)
    server.start()
    world.url = server.url
    yield world
    server.stop()


@pytest.fixture
def cli(live, capsys):
    def call(*args, url=True):
        argv = list(args) + (["--url", live.url] if url else [])
        code = main(argv)
        out = capsys.readouterr()
        return code, out.out, out.err

    return call


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_environments_prints_a_table_and_json(live, cli):
    live.serve("101", ("cell-1", "cell-2"), versions=2)
    live.ctl.table.update("101", nmse_db=-9.456)
    code, out, _ = cli("environments")
    header, row = out.splitlines()
    assert code == 0 and header.split() == ENV_ROW_HEADER
    assert row.split() == ["101", "cell-1,cell-2", "e-lasco", "proxy-101", "v2", "-9.46", "-"]
    code, out, _ = cli("environments", "--json")
    assert code == 0 and json.loads(out)["environments"][0]["active"] == "proxy-101 v2"


def test_environments_shows_those_waiting_for_samples(live, cli):
    live.tel.step("cell-1", -10.0, -4.0)
    live.ctl.tick()
    code, out, _ = cli("environments")
    assert code == 0 and out.startswith("no environments")
    assert out.splitlines()[2:] == [
        "waiting for samples:",
        "ENVIRONMENT  CELLS   TRIGGER",
        "cell-1.1     cell-1  drift",
    ]


def test_one_environment_with_its_adaptations(live, cli):
    live.drift_and_adapt()
    code, out, _ = cli("environments", "cell-1.1")
    assert code == 0 and "proxy-cell-1.1 v1" in out
    assert out.splitlines()[-1].split()[1:] == ["drift", "True", "accepted"]


def test_adapt_queues_and_a_second_adapt_is_refused(live, cli):
    live.serve("101", ("cell-1",))
    code, out, _ = cli("adapt", "101")
    assert code == 0 and "adaptation of 101 waiting for the next tick (cell-1)" in out
    code, out, err = cli("adapt", "101")
    assert code == 2 and out == ""
    assert err.startswith("error: 409: ") and "already waiting" in err


@pytest.mark.parametrize(
    "args",
    [
        ("environments", "nope"),
        ("adapt", "nope"),
        ("rollback", "nope"),
        ("cells", "nope", "c1"),
        ("mode", "nope", "lasco"),
    ],
    ids=lambda a: a[0],
)
def test_an_unknown_environment_exits_2_naming_it(cli, args):
    code, _, err = cli(*args)
    assert code == 2 and err == "error: 404: no environment 'nope'\n"


def test_rollback_cells_and_mode_change_the_policy(live, cli):
    live.serve("101", ("cell-1",), versions=2)
    code, out, _ = cli("rollback", "101", "--reason", "worse in the field")
    assert code == 0 and "A1: ENFORCED" in out and "proxy-101 v1" in out
    assert live.bad == [("proxy-101", 2, "worse in the field")]
    code, out, _ = cli("cells", "101", "cell-1", "cell-9")
    assert code == 0 and live.a1.puts[-1][1].cells == ("cell-1", "cell-9")
    code, out, _ = cli("mode", "101", "lam-only", "--json")
    assert code == 0 and json.loads(out)["environment"]["mode"] == "lam-only"
    assert live.a1.puts[-1][1].proxy is None


def test_a_failed_a1_deployment_exits_1(live, cli):
    live.serve("101", ("cell-1",))
    live.a1.down = True
    code, out, err = cli("mode", "101", "lam-only")
    assert code == 1 and "A1: UNREACHABLE" in out
    assert err == "error: the A1 deployment failed: UNREACHABLE\n"


def test_an_error_inside_the_rapp_exits_1(live, cli):
    live.serve("101", ("cell-1",))

    def broken(environment, mode):
        raise RuntimeError("the table is on fire")

    live.ctl.set_mode = broken
    code, _, err = cli("mode", "101", "lasco")
    assert code == 1 and err.startswith("error: 500: ")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("mode", "101", "full"), "argument MODE: invalid choice: 'full'"),
        (("cells", "101"), "the following arguments are required: CELL"),
        (("adapt",), "the following arguments are required: ENV"),
        (("adaptations", "--limit", "many"), "argument --limit: invalid int value: 'many'"),
    ],
    ids=["mode", "no-cells", "no-env", "limit"],
)
def test_bad_arguments_exit_2_with_an_error(live, capsys, args, words):
    with pytest.raises(SystemExit) as stopped:
        main([*args, "--url", live.url])
    assert stopped.value.code == 2
    assert f"error: {words}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("adaptations", "--limit", "0"), "422: invalid request: query.limit"),
        (("cells", "101", "a", "a"), "422: invalid request: body.cells: Value error, cells repeat"),
        (("cells", "101", "cell-2"), "409: cell 'cell-2' is served by environment '102'"),
    ],
    ids=["limit", "repeated-cell", "taken-cell"],
)
def test_input_the_rapp_refuses_exits_2_with_its_reason(live, cli, args, words):
    live.serve("101", ("cell-1",))
    live.serve("102", ("cell-2",))
    code, _, err = cli(*args)
    assert code == 2 and err.startswith(f"error: {words}")


def test_adaptations_prints_the_history(live, cli):
    live.drift_and_adapt()
    code, out, _ = cli("adaptations")
    header, row = out.splitlines()
    assert code == 0 and header.split() == [
        "TIME",
        "ENVIRONMENT",
        "TRIGGER",
        "ACCEPTED",
        "REASON",
        "CELLS",
        "A1",
    ]
    assert row.split()[1:] == ["cell-1.1", "drift", "yes", "accepted", "cell-1", "ENFORCED"]
    code, out, _ = cli("adaptations", "--environment", "other", "--json")
    assert code == 0 and json.loads(out) == {"adaptations": [], "total": 0}


def test_an_unreachable_rapp_exits_2(capsys):
    url = f"http://127.0.0.1:{_free_port()}"
    assert main(["environments", "--url", url]) == 2
    assert capsys.readouterr().err.startswith(f"error: cannot reach the rApp at {url}: ")


def test_the_default_url_is_this_host_at_the_configured_port(live, capsys, monkeypatch):
    monkeypatch.delenv("CSI_RAPP_URL", raising=False)
    monkeypatch.setenv("CSI_RAPP_API_PORT", live.url.rsplit(":", 1)[1])
    assert main(["environments"]) == 0
    monkeypatch.setenv("CSI_RAPP_URL", live.url)
    monkeypatch.setenv("CSI_RAPP_API_PORT", "not-a-port")
    assert main(["environments"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "no environments"


# -- settings ---------------------------------------------------------------------------------
def test_settings_prints_the_effective_settings_with_the_token_hidden(
    tmp_path, capsys, monkeypatch
):
    path = tmp_path / "rapp.json"
    path.write_text(json.dumps({"loop": {"poll_s": 7}, "api": {"port": 9001}}))
    monkeypatch.setenv("CSI_RAPP_TELEMETRY_TOKEN", "s3cret")
    monkeypatch.setenv("CSI_RAPP_API_PORT", "9002")
    assert main(["settings", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out)
    assert (shown["loop"]["poll_s"], shown["api"]["port"]) == (7, 9002)
    assert shown["telemetry"]["token"] == "***" and "s3cret" not in out


@pytest.mark.parametrize(
    ("argv", "env", "words"),
    [
        (["settings"], {"CSI_RAPP_LOOP_POLL_S": "x"}, "setting loop.poll_s (from $CSI_RAPP_LOOP_"),
        (["settings", "--check"], {}, "setting data.uri: required"),
        (["run"], {}, "cannot start: setting data.uri: required"),
        (["run", "--config", "/no/such.json"], {}, "setting settings file: /no/such.json"),
    ],
    ids=["bad-variable", "check", "run", "run-missing-file"],
)
def test_bad_settings_exit_2_naming_the_field(capsys, monkeypatch, argv, env, words):
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith(f"error: {words}")


def test_python_dash_m_rapp_is_the_command():
    done = subprocess.run(
        [sys.executable, "-m", "rapp", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and done.stdout.startswith("usage: csi-rapp")


# -- the process ------------------------------------------------------------------------------
@pytest.fixture
def parts(tmp_path):
    """Settings of real parts on this machine: a data store folder, a signing key, the
    xApp's telemetry file (absent yet), the shipped model store."""
    key, _ = generate_keypair(tmp_path / "signing")
    (tmp_path / "data").mkdir()
    return {
        "data": {"uri": str(tmp_path / "data")},
        "store": {"signing_key_file": str(key), "policy_uri": "s3://models"},
        "telemetry": {"url": str(tmp_path / "xapp.lp")},
        "drift": {"threshold": 12.0},
    }


def test_build_controller_opens_the_parts_the_settings_name(parts):
    ctl = build_controller(Settings.from_mapping(parts, env={}))
    assert isinstance(ctl.adapter, InProcessAdapter) and isinstance(ctl.a1, A1pClient)
    assert isinstance(ctl.telemetry, FileTelemetry)
    assert ctl.lam_sha256 == default_store().fetch("lam").manifest.onnx_sha256
    assert ctl.settings.store_uri == "s3://models" and ctl.drift.settings.threshold == 12.0
    assert ctl.tick() == [] and ctl.counters["telemetry_unavailable"] == 1  # no file yet


def test_build_controller_adapts_in_jobs_when_enabled(parts):
    config = {
        **parts,
        "store": {"policy_uri": "default"},
        "jobs": {"enabled": True, "image": "lasco:1", "namespace": "lasco", "store_uri": "s3://m"},
        "a1": {"url": "pms+http://pms:8081?ric_id=ric1"},
    }
    ctl = build_controller(Settings.from_mapping(config, env={}), kube=(object(), object()))
    assert isinstance(ctl.adapter, JobAdapter) and isinstance(ctl.a1, PmsClient)
    job = ctl.adapter.runner.settings
    assert (job.namespace, job.image, job.model_store_uri) == ("lasco", "lasco:1", "s3://m")
    assert job.data_store_uri == parts["data"]["uri"]


@pytest.mark.parametrize("key", [None, "not-a-key"], ids=["none", "unreadable"])
def test_adapting_in_process_needs_a_signing_key(parts, tmp_path, key):
    if key is not None:
        (tmp_path / key).write_text("not a PEM key")
    store = {"signing_key_file": str(tmp_path / key)} if key else {}
    with pytest.raises(SettingsError) as exc:
        build_controller(Settings.from_mapping({**parts, "store": store}, env={}))
    assert exc.value.field == "store.signing_key_file"


def _loop_settings():
    return Settings.from_mapping({"api": {"port": 0}, "loop": {"poll_s": 0.001}}, env={})


def test_run_ticks_until_stopped_and_a_failing_tick_is_counted():
    world, stop, servers, seen = World(), threading.Event(), [], {}

    def tick():
        seen["ticks"] = seen.get("ticks", 0) + 1
        if seen["ticks"] == 1:
            raise RuntimeError("InfluxDB exploded")
        if seen["ticks"] == 3:
            base = servers[0].url + "/rapp/v1"
            seen["health"] = httpx.get(base + "/health").json()
            seen["metrics"] = httpx.get(base + "/metrics").text.splitlines()
            stop.set()
        return []

    world.ctl.tick = tick
    assert run(_loop_settings(), controller=world.ctl, stop=stop, on_start=servers.append) == 0
    assert seen["ticks"] == 3 and world.ctl.counters["tick_failures"] == 1
    assert seen["health"]["ready"] and seen["health"]["ticks"] == 1
    assert "csi_rapp_tick_failures_total 1" in seen["metrics"]
    with pytest.raises(httpx.ConnectError):
        httpx.get(servers[0].url + "/rapp/v1/health")


def test_sigterm_ends_the_loop_after_its_tick():
    world, stop, ticks = World(), threading.Event(), []
    before = signal.getsignal(signal.SIGTERM)

    def tick():
        ticks.append(len(ticks))
        if len(ticks) == 1:
            os.kill(os.getpid(), signal.SIGTERM)
        if len(ticks) > 100:  # the signal was lost: end the test rather than hang
            stop.set()
        return []

    world.ctl.tick = tick
    assert run(_loop_settings(), controller=world.ctl, stop=stop) == 0
    assert ticks == [0] and stop.is_set()
    assert signal.getsignal(signal.SIGTERM) is before
