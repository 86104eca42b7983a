"""The state file: cells shared by workers, claims, and the configuration guard."""

import json
import socket
import subprocess

import pytest

from lasco.errors import ConfigError
from studies.state import StudyState, pid_alive


def test_a_save_keeps_the_cells_another_worker_wrote(tmp_path):
    path = tmp_path / "s.state.json"
    a, b = StudyState(path, "h", resume=True), StudyState(path, "h", resume=True)
    a.save("x|1|101", {"nmse_db": -1.0})
    b.save("y|1|101", {"nmse_db": -2.0})  # b never saw x
    a.save("z|1|101", {"nmse_db": -3.0})  # a never saw y
    assert set(json.loads(path.read_text())["cells"]) == {"x|1|101", "y|1|101", "z|1|101"}
    fresh = StudyState(path, "h", resume=False)  # a new study starts over
    fresh.save("w|1|101", {"nmse_db": -4.0})
    assert set(json.loads(path.read_text())["cells"]) == {"w|1|101"}


def test_a_state_of_another_configuration_is_refused(tmp_path):
    path = tmp_path / "s.state.json"
    StudyState(path, "h", resume=True).save("x|1|101", {"nmse_db": -1.0})
    with pytest.raises(ConfigError, match="another study configuration"):
        StudyState(path, "other", resume=True)
    assert StudyState(path, "other", resume=False).cells == {}  # starting over is fine


@pytest.fixture
def workers():
    """A live process of this host and a dead one (a worker killed mid-cell)."""
    busy = subprocess.Popen(["sleep", "120"])
    dead = subprocess.Popen(["true"])
    dead.wait()
    yield busy.pid, dead.pid
    busy.kill()
    busy.wait()


def test_claims_skip_live_workers_cells_and_free_dead_workers_ones(tmp_path, workers):
    busy, dead = workers
    path = tmp_path / "s.state.json"
    claims = tmp_path / "s.state.claims.json"
    here = socket.gethostname()
    claims.write_text(
        json.dumps(
            {
                "a|1|101": {"host": here, "pid": busy},
                "b|1|101": {"host": here, "pid": dead},
                "c|1|101": {"host": "another-machine", "pid": 1},  # honoured until saved
            }
        )
    )
    state = StudyState(path, "h", resume=True)
    assert set(state.running()) == {"a|1|101", "c|1|101"}
    assert state.claim(["a|1|101", "c|1|101", "b|1|101", "d|1|101"]) == "b|1|101"
    assert state.claim(["a|1|101", "b|1|101", "d|1|101"]) == "b|1|101"  # its own claim
    state.save("b|1|101", {"nmse_db": -1.0})  # the save drops the claim
    assert set(json.loads(claims.read_text())) == {"a|1|101", "c|1|101"}
    assert state.claim(["a|1|101", "b|1|101", "c|1|101"]) is None


def test_the_last_claim_gone_removes_the_claims_file(tmp_path):
    state = StudyState(tmp_path / "s.state.json", "h", resume=True)
    assert state.claim(["x|1|101"]) == "x|1|101"
    claims = tmp_path / "s.state.claims.json"
    assert claims.is_file()
    state.save("x|1|101", {"nmse_db": -1.0})
    assert not claims.exists()


def test_pid_alive(workers):
    busy, dead = workers
    assert pid_alive(busy) and not pid_alive(dead)
