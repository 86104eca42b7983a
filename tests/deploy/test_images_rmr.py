"""RMR in the xApp's image (docker/xapp): it comes from the release package with its version
as an ARG, and the install step (docker/xapp/rmr.py), run on a stand-in package, installs
the verified library and refuses a missing or wrong checksum.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.dockerfiles import DOCKER, args_of, dockerfile, final, instructions


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
