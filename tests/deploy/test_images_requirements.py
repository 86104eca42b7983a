"""The images' Python packages (docker/*/requirements.txt): the xApp's pins are the closure
of the ``xapp`` extra without torch, every third-party package an image's code imports is
pinned, every pin is exact, once, and satisfies pyproject's ranges, the images install their
pins without resolving, and the rApp's torch is the tested version from its variant index.
"""

from __future__ import annotations

import importlib.metadata as md
import re
import sys
from functools import cache

import grimp
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.dockerfiles import (
    DOCKER,
    IMAGES,
    PROJECT,
    args_of,
    dockerfile,
    env_of,
    instructions,
    pin_script,
)
from tests.deploy.kube import ROOT

FIRST_PARTY = ("xapp", "serving", "lasco", "model_store", "schemas", "datastore", "rapp")


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
