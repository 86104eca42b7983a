"""The container images' Dockerfiles (docker/xapp, docker/rapp) read without a Docker daemon:
each instruction as BuildKit reads it, by stage, with its flags, ARG defaults and ENV; and
docker/pin_requirements.py, which computes the images' pinned requirements.
"""

from __future__ import annotations

import importlib.util
import json
import shlex
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

import tomllib

from tests.deploy.kube import ROOT

DOCKER = ROOT / "docker"
IMAGES = ("xapp", "rapp")
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


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
