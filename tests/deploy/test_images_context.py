"""No model artifacts in the images: the build context that .dockerignore leaves (read as
Docker reads it) holds none, the images' COPY instructions take none and find their
sources, and the project wheel built from that context holds none.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from functools import cache
from pathlib import Path

import pytest

from tests.deploy.dockerfiles import IMAGES, PROJECT, dockerfile, instructions
from tests.deploy.kube import ROOT

MODEL_FILE = re.compile(r"\.(onnx|onnx\.data|pt|pth|safetensors|ckpt)$")


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
