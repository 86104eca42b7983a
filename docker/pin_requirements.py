"""Write (or check) the images' pinned requirements: the dependency closure of the project
with one extra, at the versions installed in the environment that runs this script.

    .venv/bin/python docker/pin_requirements.py            # rewrite both files
    .venv/bin/python docker/pin_requirements.py --check    # exit 1 when either is stale

The roots are ``[project] dependencies`` plus the extra, read from ``pyproject.toml`` (an
extra naming the project itself, such as ``lasco-ric[train]``, is expanded from the same
file); every other requirement is followed through the installed distributions' metadata,
its markers evaluated for this interpreter and for the extras asked of that distribution.
The images install exactly these pins with ``--no-deps`` and then run ``pip check``, so a
missing or inconsistent pin fails the image build instead of being resolved anew.

- ``docker/xapp/requirements.txt``: the ``xapp`` extra (ONNX Runtime, no torch).
- ``docker/rapp/requirements.txt``: the ``rapp`` extra without torch itself, which the
  rApp image installs from the PyTorch index of its variant (CPU or CUDA); torch's own
  dependencies stay pinned here.

Markers depend on the interpreter, so this runs on the images' Python (``PYTHON``).
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
PYTHON = (3, 11)  # the images' Python (PYTHON_VERSION in the Dockerfiles)

# Each image's extra, and whether torch is left out of its file: the rApp image installs
# torch from the PyTorch index of its variant, and a CUDA build brings its CUDA runtime
# packages (nvidia-*, triton) at the exact versions that build names.
IMAGES = {"xapp": ("xapp", False), "rapp": ("rapp", True)}


@dataclass(frozen=True)
class Pin:
    name: str  # canonical
    version: str
    required_by: tuple[str, ...]


def torch_family(name: str) -> bool:
    """torch, or one of the CUDA runtime packages a CUDA build of torch installs."""
    name = canonicalize_name(name)
    return name in ("torch", "triton") or name.startswith("nvidia-")


def applies(req: Requirement, extras: Iterable[str]) -> bool:
    """Whether ``req`` (from a distribution asked for with ``extras``) is needed here."""
    if req.marker is None:
        return True
    return any(req.marker.evaluate({"extra": e}) for e in ("", *extras))


def project_requirements(extra: str, pyproject: Path = PYPROJECT) -> list[Requirement]:
    """``[project] dependencies`` plus ``extra``'s, self-references expanded."""
    project = tomllib.loads(pyproject.read_text())["project"]
    me = canonicalize_name(project["name"])
    optional = project.get("optional-dependencies", {})
    if extra not in optional:
        raise KeyError(f"pyproject.toml has no extra {extra!r}")
    out = [Requirement(r) for r in project.get("dependencies", [])]
    todo, seen = [extra], set()
    while todo:
        e = todo.pop()
        if e in seen:
            continue
        seen.add(e)
        for text in optional[e]:
            req = Requirement(text)
            if canonicalize_name(req.name) == me:
                todo += sorted(req.extras)
            else:
                out.append(req)
    return [r for r in out if applies(r, ())]


def closure(roots: Iterable[Requirement]) -> dict[str, Pin]:
    """Every distribution ``roots`` need, transitively, as installed here (canonical name
    -> pin, sorted). PackageNotFoundError when one of them is not installed."""
    found: dict[str, tuple[str, set[str]]] = {}
    done: set[tuple[str, frozenset[str]]] = set()
    todo: list[tuple[Requirement, str]] = [(r, "pyproject.toml") for r in roots]
    while todo:
        req, parent = todo.pop()
        name = canonicalize_name(req.name)
        if name not in found:
            found[name] = (md.version(name), set())
        found[name][1].add(parent)
        key = (name, frozenset(req.extras))
        if key in done:
            continue
        done.add(key)
        for text in md.requires(name) or []:
            dep = Requirement(text)
            if applies(dep, req.extras):
                todo.append((dep, name))
    return {n: Pin(n, v, tuple(sorted(by))) for n, (v, by) in sorted(found.items())}


def image_pins(image: str, pyproject: Path = PYPROJECT) -> dict[str, Pin]:
    """The pins of ``image``'s requirements file."""
    extra, without_torch = IMAGES[image]
    pins = closure(project_requirements(extra, pyproject))
    return {n: p for n, p in pins.items() if not (without_torch and torch_family(n))}


def requirements_text(image: str, pins: dict[str, Pin]) -> str:
    extra, without_torch = IMAGES[image]
    py = f"{PYTHON[0]}.{PYTHON[1]}"
    lines = [f"# The {image} image's Python packages: the closure of lasco-ric[{extra}],"]
    if without_torch:
        lines.append("# without torch (its Dockerfile installs torch from the PyTorch index),")
    lines += [
        f"# at the versions installed where it was written (Python {py}, Linux).",
        "# Generated by `.venv/bin/python docker/pin_requirements.py`; do not edit. To change a",
        "# version: install it in .venv, run the tests, then regenerate this file.",
    ]
    for pin in pins.values():
        lines += [f"{pin.name}=={pin.version}", f"    # via {', '.join(pin.required_by)}"]
    return "\n".join(lines) + "\n"


def path_of(image: str) -> Path:
    return ROOT / "docker" / image / "requirements.txt"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 when a file is out of date")
    p.add_argument("images", nargs="*", metavar="IMAGE", help="xapp, rapp (default: both)")
    args = p.parse_args(argv)
    unknown = sorted(set(args.images) - set(IMAGES))
    if unknown:
        p.error(f"unknown image(s): {', '.join(unknown)}")
    if sys.version_info[:2] != PYTHON:
        p.error(f"run this on Python {PYTHON[0]}.{PYTHON[1]}, the images' Python")
    stale = []
    for image in args.images or list(IMAGES):
        text = requirements_text(image, image_pins(image))
        path = path_of(image)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.relative_to(ROOT))
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    for path in stale:
        print(f"{path} is out of date: run .venv/bin/python docker/pin_requirements.py")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
