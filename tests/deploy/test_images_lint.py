"""The Dockerfiles (docker/xapp, docker/rapp) through hadolint and checkov: neither finds
anything, both report a bad Dockerfile, and every suppression states its reason.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from tests.deploy.dockerfiles import DOCKER, IMAGES, dockerfile
from tests.deploy.kube import checkov

HADOLINT = Path(sys.executable).with_name("hadolint")


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
