"""What the images (docker/xapp, docker/rapp) run, against the code they start: one pinned
Python in every stage and a slim runtime stage without build tools, a numeric non-root
user, the Python environment, the entry points and their commands, the stop signal, the
adaptation Job in the rApp's image, the ports exposed and the health checks.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import re
import sys

import pytest

from tests.deploy.dockerfiles import (
    IMAGES,
    PROJECT,
    args_of,
    dockerfile,
    env_of,
    final,
    instructions,
    pin_script,
    stages,
)

# RMR's control port, where the Route Manager pushes route tables: RMR's own default
# (neither RMR_RTG_SVC nor RMR_CTL_PORT set), not a setting of the xApp.
RMR_CONTROL_PORT = 4561


@pytest.mark.parametrize("image", IMAGES)
def test_stages_share_one_pinned_python_and_end_slim(image):
    path = dockerfile(image)
    version = args_of(path, -1)["PYTHON_VERSION"]
    assert re.fullmatch(r"3\.\d+\.\d+", version), "PYTHON_VERSION is a full release"
    major_minor = tuple(int(x) for x in version.split(".")[:2])
    assert major_minor == pin_script().PYTHON == sys.version_info[:2], (
        "the pins are computed on the images' Python"
    )
    froms = stages(path)
    assert len(froms) >= 2, "multi-stage"
    for line in froms:
        assert line.startswith("python:${PYTHON_VERSION}-"), line
    runtime = froms[-1].split()[0]
    assert runtime == "python:${PYTHON_VERSION}-slim-bookworm${RUNTIME_DIGEST}"
    assert args_of(path, -1)["RUNTIME_DIGEST"] == ""  # optional, given at build time


@pytest.mark.parametrize("image", IMAGES)
def test_final_stage_has_no_build_tools(image):
    path = dockerfile(image)
    for i in final(path, "RUN"):
        for word in ("apt-get", "apt ", "pip ", "gcc", "make ", "curl", "wget", "build"):
            assert word not in i.args, f"line {i.line}: {word!r} in the runtime stage"
    last = len(stages(path)) - 1
    build_stages = {i.args.split()[-1] for i in instructions(path) if i.cmd == "FROM"}
    for i in final(path, "COPY"):
        flags, _ = i.flags()
        assert flags.get("from") in build_stages - {"runtime"}, (
            f"line {i.line}: the runtime stage copies only from the build stage"
        )
    assert last >= 1


@pytest.mark.parametrize("image", IMAGES)
def test_runs_as_numeric_non_root_user(image):
    path = dockerfile(image)
    users = final(path, "USER")
    assert users, "the runtime stage sets its user"
    m = re.fullmatch(r"(\d+)(?::(\d+))?", users[-1].args)
    assert m, f"USER {users[-1].args} is not numeric"
    uid, gid = int(m.group(1)), int(m.group(2) or m.group(1))
    assert uid >= 10000 and gid >= 10000, "above the host's users (and not root)"
    created = " ".join(i.args for i in final(path, "RUN"))
    assert f"useradd --uid {uid} --gid {gid}" in created, "the user has a passwd entry"
    assert f"groupadd --gid {gid}" in created
    if image == "rapp":  # the adaptation Jobs run the image as their pod's user
        from rapp.job_manifest import JobSettings

        defaults = {f.name: f.default for f in dataclasses.fields(JobSettings)}
        assert (defaults["run_as_user"], defaults["fs_group"]) == (uid, gid)


@pytest.mark.parametrize("image", IMAGES)
def test_python_environment(image):
    env = env_of(final(dockerfile(image)))
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PATH"].split(":")[0] == "/opt/venv/bin"
    if image == "xapp":  # where an O-RAN SC RIC mounts the xApp's descriptor
        assert env["CONFIG_FILE"] == "/opt/ric/config/config-file.json"


# -- what the images start --------------------------------------------------------------------
def _script(name: str):
    scripts = PROJECT["scripts"]
    assert name in scripts, f"{name} is not a console script of pyproject.toml"
    module, _, func = scripts[name].partition(":")
    return importlib.import_module(module), func


@pytest.mark.parametrize(("image", "script"), [("xapp", "csi-xapp"), ("rapp", "csi-rapp")])
def test_entrypoint_is_the_console_script_and_cmd_parses(image, script):
    path = dockerfile(image)
    (entry,) = final(path, "ENTRYPOINT")
    (cmd,) = final(path, "CMD")
    assert entry.exec_form() == [script]
    module, func = _script(script)
    assert callable(getattr(module, func))
    args = module.build_parser().parse_args(cmd.exec_form())  # `csi-... run` parses
    assert args.command == "run"


def test_xapp_stops_on_the_default_stop_signal():
    """No STOPSIGNAL: Kubernetes sends SIGTERM anyway, and ``csi-xapp run`` handles it (Python
    as PID 1 would otherwise ignore it and the pod would wait for SIGKILL)."""
    import signal

    from xapp import shell

    assert not final(dockerfile("xapp"), "STOPSIGNAL")
    assert inspect.signature(shell.wait_for_signal).parameters["signals"].default == (
        signal.SIGTERM,
        signal.SIGINT,
    )
    assert "wait_for_signal()" in inspect.getsource(shell.run)


def test_adaptation_job_runs_in_the_rapp_image():
    """The Job overrides the entry point with ``python -m rapp.job_entry``: the image's
    PATH finds the virtual environment's python, which holds the module."""
    from rapp.job_manifest import JobSettings, build_job

    job = build_job("env-a", "r1", JobSettings("img", "file:///d", "file:///m"))
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"][:2] == ["python", "-m"]
    assert importlib.import_module(container["command"][2]).main
    path = dockerfile("rapp")
    venv = [
        i for i in instructions(path) if i.cmd == "RUN" and "python -m venv /opt/venv" in i.args
    ]
    assert venv and venv[0].stage == 0
    assert any(i.args == "--from=build /opt/venv /opt/venv" for i in final(path, "COPY"))


def _ports(image: str) -> set[int]:
    return {
        int(p.split("/")[0]) for i in final(dockerfile(image), "EXPOSE") for p in i.args.split()
    }


def test_xapp_exposes_its_default_ports():
    from xapp.probes import serve_probes
    from xapp.settings import SubscriptionSettings
    from xapp.shell import RmrShell

    sub = {f.name: f.default for f in dataclasses.fields(SubscriptionSettings)}
    probes = inspect.signature(serve_probes).parameters["port"].default
    rmr_data = inspect.signature(RmrShell).parameters["rmr_port"].default
    assert rmr_data == sub["rmr_port"], "submgr routes to the port the shell listens on"
    want = {probes, rmr_data, RMR_CONTROL_PORT, sub["callback_port"]}
    assert _ports("xapp") == want


def test_rapp_exposes_its_api_port():
    from rapp.settings_loop import ApiGroup

    port = {f.name: f.default for f in dataclasses.fields(ApiGroup)}["port"]
    assert _ports("rapp") == {port}


def _healthcheck(image: str) -> str:
    (check,) = final(dockerfile(image), "HEALTHCHECK")
    flags, words = check.flags()
    assert {"interval", "timeout", "start-period", "retries"} <= set(flags)
    assert words[0] == "CMD"
    cmd = json.loads(check.args[check.args.index("CMD") + 3 :])
    assert cmd[:2] == ["python", "-c"]
    compile(cmd[2], "<healthcheck>", "exec")  # valid Python
    return cmd[2]


def test_xapp_healthcheck_asks_its_liveness_probe():
    from xapp import probes

    code = _healthcheck("xapp")
    m = re.search(r"http://127\.0\.0\.1:(\d+)(/[\w/]+)", code)
    assert m, code
    assert int(m.group(1)) == inspect.signature(probes.serve_probes).parameters["port"].default
    assert f'"{m.group(2)}"' in inspect.getsource(probes), "a path the probe server answers"


def test_rapp_healthcheck_asks_its_health_endpoint():
    from rapp import api, cli

    code = _healthcheck("rapp")
    assert "default_url()" in code and callable(cli.default_url)
    path = re.search(r"'(/[\w/]+)'", code).group(1)
    assert path == f"{cli.API}/health" and "/health" in inspect.getsource(api.create_app)
