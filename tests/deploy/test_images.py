"""The container images' Dockerfiles (docker/xapp, docker/rapp), checked without a Docker
daemon: hadolint and checkov on each, the xApp's pinned requirements against the
dependency closure of the ``xapp`` extra (no torch) and against what its modules import,
the build context that .dockerignore leaves (no model artifacts), the project wheel built
from that context, the RMR install step run on a stand-in package, and the ports, user,
entry points and health checks against the code they start."""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import importlib
import importlib.metadata as md
import importlib.util
import inspect
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

import grimp
import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.kube import ROOT, checkov

DOCKER = ROOT / "docker"
IMAGES = ("xapp", "rapp")
HADOLINT = Path(sys.executable).with_name("hadolint")
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
MODEL_FILE = re.compile(r"\.(onnx|onnx\.data|pt|pth|safetensors|ckpt)$")
# RMR's control port, where the Route Manager pushes route tables: RMR's own default
# (neither RMR_RTG_SVC nor RMR_CTL_PORT set), not a setting of the xApp.
RMR_CONTROL_PORT = 4561
FIRST_PARTY = ("xapp", "serving", "lasco", "model_store", "schemas", "datastore", "rapp")


def dockerfile(image: str) -> Path:
    return DOCKER / image / "Dockerfile"


@cache
def pin_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "pin_requirements", DOCKER / "pin_requirements.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


# -- a Dockerfile, instruction by instruction -------------------------------------------------
@dataclass(frozen=True)
class Instruction:
    stage: int  # -1: before the first FROM
    line: int
    cmd: str  # upper case
    args: str

    def exec_form(self) -> list[str]:
        words = json.loads(self.args)
        assert isinstance(words, list), f"line {self.line}: {self.cmd} is not in exec form"
        return words

    def flags(self) -> tuple[dict[str, str], list[str]]:
        """``--name=value`` flags, then the other words (shell-split)."""
        words = shlex.split(self.args)
        flags = {}
        while words and words[0].startswith("--"):
            name, _, value = words.pop(0)[2:].partition("=")
            flags[name] = value
        return flags, words


@cache
def instructions(path: Path) -> tuple[Instruction, ...]:
    """Continuation lines joined, comment lines dropped (as BuildKit reads them)."""
    out, stage, buf, start = [], -1, "", 0
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not buf:
            start = number
        if line.startswith("#") or not line:
            continue
        if line.endswith("\\"):
            buf += line[:-1].rstrip() + " "
            continue
        text = buf + line
        buf = ""
        cmd, _, args = text.partition(" ")
        cmd = cmd.upper()
        if cmd == "FROM":
            stage += 1
        out.append(Instruction(stage, start, cmd, args.strip()))
    return tuple(out)


def stages(path: Path) -> list[str]:
    """Each stage's FROM arguments."""
    return [i.args for i in instructions(path) if i.cmd == "FROM"]


def final(path: Path, cmd: str | None = None) -> list[Instruction]:
    last = len(stages(path)) - 1
    return [i for i in instructions(path) if i.stage == last and cmd in (None, i.cmd)]


def args_of(path: Path, stage: int | None = None) -> dict[str, str]:
    """``ARG name=default`` of a stage (None: all), ``""`` for an ARG without default."""
    out = {}
    for i in instructions(path):
        if i.cmd == "ARG" and stage in (None, i.stage):
            name, _, default = i.args.partition("=")
            out[name] = default.strip('"')
    return out


def env_of(instrs: list[Instruction]) -> dict[str, str]:
    out = {}
    for i in instrs:
        if i.cmd == "ENV":
            for word in shlex.split(i.args):
                name, _, value = word.partition("=")
                out[name] = value
    return out


# -- the build context that .dockerignore leaves ----------------------------------------------
def _regex(pattern: str) -> re.Pattern[str]:
    """moby's patternmatcher: ``*`` and ``?`` within a path element, ``**`` across them."""
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
            out += ".*" if i == len(pattern) else "(.*/)?"
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            end = pattern.index("]", i)
            out += pattern[i : end + 1]
            i = end
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out)


@cache
def ignore_rules() -> tuple[tuple[bool, int, re.Pattern[str], str], ...]:
    """(negated, number of path elements, regex, pattern) per line of .dockerignore."""
    rules = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        rules.append((negated, len(pattern.split("/")), _regex(pattern), pattern))
    return tuple(rules)


def ignored(path: str) -> bool:
    """Whether Docker leaves ``path`` (relative, with /) out of the build context: the last
    pattern matching it, or the leading part of its parent with as many elements, wins."""
    parts = path.split("/")
    out = False
    for negated, n, regex, _ in ignore_rules():
        hit = regex.fullmatch(path) or (
            len(parts) - 1 >= n and regex.fullmatch("/".join(parts[:n])) is not None
        )
        if hit:
            out = not negated
    return out


@cache
def context_files() -> frozenset[str]:
    """Every file of the checkout that enters the build context."""
    keep = [p for negated, _, _, p in ignore_rules() if negated]
    out = set()
    for folder, dirs, files in os.walk(ROOT):
        rel = Path(folder).relative_to(ROOT).as_posix()
        rel = "" if rel == "." else rel + "/"
        dirs[:] = [
            d
            for d in dirs
            if not ignored(rel + d) or any(k.startswith(rel + d + "/") for k in keep)
        ]
        out |= {rel + f for f in files if not ignored(rel + f)}
    return frozenset(out)


def copied_from_context(source: str) -> set[str]:
    source = source.rstrip("/")
    return {f for f in context_files() if f == source or f.startswith(source + "/")}


# -- hadolint and checkov ---------------------------------------------------------------------
def hadolint(path: Path) -> tuple[int, list[dict]]:
    assert HADOLINT.exists(), f"hadolint not found at {HADOLINT}: `make venv` installs it"
    proc = subprocess.run(
        [str(HADOLINT), "-f", "json", "--no-color", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc.returncode, json.loads(proc.stdout or "[]")


@pytest.mark.parametrize("image", IMAGES)
def test_hadolint_finds_nothing(image):
    rc, findings = hadolint(dockerfile(image))
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)
    assert rc == 0


def test_hadolint_reports_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\nUSER app\n")
    rc, findings = hadolint(bad)
    assert rc != 0
    assert {"DL3007", "DL3013"} <= {f["code"] for f in findings}


@cache
def checkov_results() -> dict:
    """One checkov run over docker/ (both Dockerfiles)."""
    return checkov(DOCKER, "dockerfile")["results"]


@pytest.mark.parametrize("image", IMAGES)
def test_checkov_fails_no_check(image):
    results = checkov_results()
    assert not results["parsing_errors"]
    path = f"/{dockerfile(image).relative_to(DOCKER).as_posix()}"
    mine = {k: [c for c in v if c["file_path"] == path] for k, v in results.items() if v}
    failed = [f"{c['check_id']} {c['check_name']}" for c in mine.get("failed_checks", [])]
    assert failed == []
    assert len(mine.get("passed_checks", [])) > 20  # the file was scanned
    for c in mine.get("skipped_checks", []):  # a skip states its reason
        assert (c["check_result"].get("suppress_comment") or "").strip(), c["check_id"]


def test_checkov_fails_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nADD app.py /app.py\nCMD python /app.py\n")
    failed = {c["check_id"] for c in checkov(bad, "dockerfile")["results"]["failed_checks"]}
    assert {"CKV_DOCKER_2", "CKV_DOCKER_3", "CKV_DOCKER_4", "CKV_DOCKER_7"} <= failed


@pytest.mark.parametrize("image", IMAGES)
def test_suppressions_state_a_reason(image):
    lines = dockerfile(image).read_text().splitlines()
    for n, line in enumerate(lines):
        if m := re.search(r"checkov:skip=([A-Z0-9_]+)(?::(.*))?", line):
            assert (m.group(2) or "").strip(), f"line {n + 1}: {m.group(1)} skipped without reason"
        if "hadolint ignore=" in line:
            above = lines[n - 1].strip() if n else ""
            reason = above.startswith("#") and "hadolint" not in above and len(above) > 10
            assert reason, f"line {n + 1}: hadolint ignore without a reason comment above it"


# -- base images, user, environment -----------------------------------------------------------
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


# -- the xApp's Python packages: the closure of its extra, without torch ----------------------
def _pinned(image: str) -> dict[str, str]:
    out = {}
    for line in (DOCKER / image / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", f"{line} is not an exact pin"
            out[canonicalize_name(req.name)] = spec.version
    return out


def _is_torch(name: str) -> bool:
    return name in ("torch", "triton") or name.startswith("nvidia-")


def test_closure_follows_extras_into_torch():
    """The closure walk is able to find torch: lasco-ric[rapp] reaches it through the
    ``lasco-ric[train]`` self-reference, and ricxappframe's dependencies are followed."""
    pins = pin_script()
    rapp = pins.closure(pins.project_requirements("rapp"))
    assert "torch" in rapp and "sympy" in rapp  # torch's own dependency
    xapp = pins.closure(pins.project_requirements("xapp"))
    assert {"ricsdl", "hiredis", "mdclogpy"} <= set(xapp)  # ricxappframe's, and theirs


def test_xapp_closure_has_no_torch():
    names = set(pin_script().image_pins("xapp"))
    assert not {n for n in names if _is_torch(n)}
    assert {"onnxruntime", "numpy", "ricxappframe"} <= names


@cache
def _imports(package: str) -> dict[str, set[str]]:
    """Third-party top-level modules imported, directly or through the project's own
    modules, by any module of ``package`` (TYPE_CHECKING imports left out) -> importers."""
    graph = grimp.build_graph(
        *FIRST_PARTY,
        "ransim",
        "lasco_ric",
        include_external_packages=True,
        exclude_type_checking_imports=True,
        cache_dir=None,
    )
    mine = [m for m in graph.modules if m == package or m.startswith(package + ".")]
    out: dict[str, set[str]] = {}
    for module in mine:
        for up in graph.find_upstream_modules(module):
            top = up.split(".")[0]
            if top not in (*FIRST_PARTY, "ransim", "lasco_ric") and top not in (
                sys.stdlib_module_names
            ):
                out.setdefault(top, set()).add(module)
    return out


def _distributions(module: str) -> set[str]:
    return {canonicalize_name(d) for d in md.packages_distributions().get(module, [])}


@pytest.mark.parametrize(
    ("image", "packages"), [("xapp", ("xapp", "model_store")), ("rapp", ("rapp",))]
)
def test_what_the_code_imports_is_installed(image, packages):
    """Every third-party package the image's code imports at run time (the xApp: its
    modules, and through them serving, the numpy core of lasco, model_store, schemas and
    datastore; the model-store command line) is in the image's pins (the rApp: or torch)."""
    pinned = set(_pinned(image)) | ({"torch"} if image == "rapp" else set())
    missing = {}
    imported: dict[str, set[str]] = {}
    for package in packages:
        for module, importers in _imports(package).items():
            imported.setdefault(module, set()).update(importers)
    for module, importers in imported.items():
        dists = _distributions(module)
        if not dists & pinned:
            missing[module] = f"{sorted(dists) or 'no distribution'} (by {sorted(importers)[0]})"
    assert missing == {}
    assert {"numpy", "onnxruntime"} <= set(imported)  # the walk saw the serving path
    if image == "xapp":
        assert not {m for m in imported if m in ("torch", "sionna", "peft")}
        assert {"ricxappframe", "pycrate_asn1dir"} <= set(imported)


@pytest.mark.parametrize("image", IMAGES)
def test_requirements_file_pins_every_package_once(image):
    """Each pin is ``name==version`` once. That the file is the extra's whole closure is checked
    by ``docker/pin_requirements.py --check`` against the environment it was made from (a test
    here would break on every new release on PyPI); what the image needs is checked below: every
    package its code imports is pinned, and every pin satisfies pyproject's ranges."""
    lines = [
        ln.strip()
        for ln in (ROOT / "docker" / image / "requirements.txt").read_text().splitlines()
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    names = [canonicalize_name(ln.split("==")[0]) for ln in lines]
    assert all("==" in ln for ln in lines) and len(names) == len(set(names))


@pytest.mark.parametrize("image", IMAGES)
def test_requirements_satisfy_pyproject(image):
    pinned = _pinned(image)
    for req in pin_script().project_requirements(image):
        name = canonicalize_name(req.name)
        if image == "rapp" and name == "torch":
            version = args_of(dockerfile("rapp"))["TORCH_VERSION"]
        else:
            assert name in pinned, f"{req} is not pinned"
            version = pinned[name]
        assert req.specifier.contains(version, prereleases=True), f"{name}=={version} vs {req}"
    extra = {
        canonicalize_name(Requirement(r).name) for r in PROJECT["optional-dependencies"][image]
    }
    assert extra - {"lasco-ric", "torch"} <= set(pinned)


@pytest.mark.parametrize("image", IMAGES)
def test_image_installs_its_pins_without_resolving(image):
    path = dockerfile(image)
    reqs = f"docker/{image}/requirements.txt"
    runs = [i.args for i in instructions(path) if i.cmd == "RUN"]
    assert any(f"pip install --no-cache-dir --no-deps -r {reqs}" in r for r in runs)
    assert any("pip install --no-cache-dir --no-deps /dist/lasco_ric-" in r for r in runs)
    assert any(r.rstrip().endswith("/opt/venv/bin/pip check") for r in runs)
    assert env_of(list(instructions(path)))["PIP_CONSTRAINT"] == f"/src/{reqs}"
    if image == "xapp":
        assert not any("torch" in r for r in runs)


def test_rapp_torch_is_the_tested_version_from_the_variant_index():
    path = dockerfile("rapp")
    args = args_of(path, 0)
    makefile = re.search(r"^TORCH\s*:=\s*torch==(\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert args["TORCH_VERSION"] == makefile.group(1)
    assert args["TORCH_VARIANT"] == "cpu"
    assert args["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/${TORCH_VARIANT}"
    (run,) = [i for i in instructions(path) if i.cmd == "RUN" and "torch==" in i.args]
    assert '--index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"' in run.args
    assert not any(_is_torch(n) for n in _pinned("rapp"))


# -- RMR --------------------------------------------------------------------------------------
def test_rmr_comes_from_the_release_package_with_a_version_arg():
    path = dockerfile("xapp")
    args = args_of(path, 0)
    assert re.fullmatch(r"\d+\.\d+\.\d+", args["RMR_VERSION"])
    url = args["RMR_URL"]
    assert url.startswith("https://packagecloud.io/o-ran-sc/release/packages/debian/")
    assert "/rmr_${RMR_VERSION}_amd64.deb/" in url
    assert args["RMR_SHA256"] == "", "the checksum is the builder's to state, not a default"
    (run,) = [i for i in instructions(path) if i.cmd == "RUN" and "rmr.py" in i.args]
    words = shlex.split(run.args)
    given = dict(zip(words[2::2], words[3::2], strict=False))
    assert given["--url"] == "${RMR_URL}" and given["--sha256"] == "${RMR_SHA256}"
    assert given["--version"] == "${RMR_VERSION}" and given["--dest"] == "/rmr"
    copies = [i.args for i in final(path, "COPY")]
    assert "--from=build /rmr/usr/local/lib/ /usr/local/lib/" in copies
    assert any(i.args.startswith("ldconfig") for i in final(path, "RUN"))


@pytest.fixture
def rmr_package(tmp_path):
    """A stand-in RMR .deb: a shared library with RMR's file name and SONAME."""
    for tool in ("gcc", "dpkg-deb", "ldconfig"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed")
    pkg = tmp_path / "pkg"
    lib = pkg / "usr/local/lib"
    lib.mkdir(parents=True)
    (pkg / "DEBIAN").mkdir()
    (pkg / "DEBIAN/control").write_text(
        "Package: rmr\nVersion: 4.9.4\nArchitecture: amd64\nMaintainer: t <t@example.org>\n"
        "Description: stand-in\n"
    )
    src = tmp_path / "rmr.c"
    src.write_text("int rmr_stand_in(void) { return 42; }\n")
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-Wl,-soname,librmr_si.so.4", "-o",
         str(lib / "librmr_si.so.4.9.4"), str(src)],
        check=True,
    )  # fmt: skip
    (lib / "librmr_si.so.4").symlink_to("librmr_si.so.4.9.4")
    deb = tmp_path / "rmr_4.9.4_amd64.deb"
    subprocess.run(["dpkg-deb", "--build", str(pkg), str(deb)], check=True, capture_output=True)
    return deb


def _rmr(deb: Path, sha256: str, dest: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(DOCKER / "xapp/rmr.py"), "--url", deb.as_uri(), "--sha256", sha256,
         "--version", "4.9.4", "--dest", str(dest)],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip


def test_rmr_step_installs_the_verified_library(rmr_package, tmp_path):
    sha = hashlib.sha256(rmr_package.read_bytes()).hexdigest()
    proc = _rmr(rmr_package, sha.upper(), tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    lib = tmp_path / "out/usr/local/lib"
    assert sorted(p.name for p in lib.iterdir()) == [
        "librmr_si.so",
        "librmr_si.so.4",
        "librmr_si.so.4.9.4",
    ]
    assert os.readlink(lib / "librmr_si.so") == "librmr_si.so.4.9.4"
    assert ctypes.CDLL(str(lib / "librmr_si.so")).rmr_stand_in() == 42


@pytest.mark.parametrize("sha", ["", "0" * 64, "not-a-checksum"])
def test_rmr_step_refuses_a_missing_or_wrong_checksum(rmr_package, tmp_path, sha):
    proc = _rmr(rmr_package, sha, tmp_path / "out")
    assert proc.returncode == 1
    assert "sha256" in proc.stderr
    assert not (tmp_path / "out").exists()


# -- no model artifacts in the images ---------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        ("model_store/default/lam/3/model.onnx", True),
        ("model_store/default/lam/3/manifest.json", True),
        ("model_store/default/sam_ref/1/model.pt", True),
        ("model_store/default/README.md", True),
        ("lasco/weights.safetensors", True),
        ("xapp/model.onnx", True),
        ("runs/lam/checkpoint.pt", True),
        ("reports/smoke.json", True),
        ("demo-out/summary.json", True),
        (".cache/channels/a.npz", True),
        (".venv/bin/python", True),
        (".venv-checkov/bin/checkov", True),
        (".git/HEAD", True),
        ("keys/release.key", True),
        ("xapp/__pycache__/cli.cpython-311.pyc", True),
        ("tests/xapp/test_shell.py", True),
        ("pyproject.toml", False),
        ("README.md", False),
        ("xapp/cli.py", False),
        ("model_store/store.py", False),
        ("model_store/default/trusted_keys/lasco-ric-release-2.pub", False),
        ("schemas/xapp-controls.json", False),
        ("docker/xapp/requirements.txt", False),
    ],
)
def test_dockerignore(path, excluded):
    assert ignored(path) is excluded


def test_build_context_holds_no_model_artifact():
    files = context_files()
    assert "xapp/cli.py" in files and "pyproject.toml" in files
    bad = {f for f in files if MODEL_FILE.search(f)}
    bad |= {
        f
        for f in files
        if f.startswith("model_store/default/")
        and not f.startswith("model_store/default/trusted_keys/")
    }
    assert bad == set()


@pytest.mark.parametrize("image", IMAGES)
def test_copies_take_no_model_artifact_and_find_their_sources(image):
    for i in instructions(dockerfile(image)):
        if i.cmd == "ADD":
            pytest.fail(f"line {i.line}: ADD (COPY only)")
        if i.cmd != "COPY":
            continue
        flags, words = i.flags()
        if "from" in flags:
            continue
        for source in words[:-1]:
            assert not MODEL_FILE.search(source) and "model_store/default" not in source
            assert source not in (".", "./", "*"), f"line {i.line}: COPY of the whole context"
            got = copied_from_context(source)
            assert got, f"line {i.line}: {source} is not in the build context"
            assert not {f for f in got if MODEL_FILE.search(f)}
            assert not {
                f
                for f in got
                if f.startswith("model_store/default/")
                and not f.startswith("model_store/default/trusted_keys/")
            }


def test_wheel_built_from_the_context_has_no_models(tmp_path):
    """The build stage's wheel, built here the same way (pinned setuptools, no build
    isolation) from the files the build context holds."""
    ctx = tmp_path / "ctx"
    sources = {
        s
        for i in instructions(dockerfile("xapp"))
        if i.cmd == "COPY" and "from" not in i.flags()[0]
        for s in i.flags()[1][:-1]
    }
    for source in sources:
        for f in copied_from_context(source):
            (ctx / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, ctx / f)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "--wheel-dir", str(tmp_path / "dist"), str(ctx)],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("lasco_ric-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if MODEL_FILE.search(n)]
    default = [n for n in names if n.startswith("model_store/default/")]
    assert default and all(n.startswith("model_store/default/trusted_keys/") for n in default)
    assert "schemas/xapp-controls.json" in names and "xapp/cli.py" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    for script in ("csi-xapp", "csi-rapp", "model-store"):
        assert f"{script} = {PROJECT['scripts'][script]}" in text
