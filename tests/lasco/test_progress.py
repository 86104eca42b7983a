"""Progress bars on a terminal, one line per stage in a log."""

import io
import re

import numpy as np
import pytest
import torch

from lasco.collab import build_method
from lasco.models import build_model
from lasco.pretrain import PretrainConfig, pretrain
from lasco.progress import is_terminal, progress
from lasco.train import AdaptConfig, SplitTensors, adapt


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


class NoIsatty:
    def write(self, s: str) -> int:
        return len(s)


def _stage(stream, enabled=True, steps=4, total=4):
    with progress(total, "channels", unit="sample", enabled=enabled, stream=stream) as bar:
        for _ in range(steps):
            bar.update(10)
            bar.set_postfix(val_nmse_db="-3.00")
        bar.summary = "best val -6.00 dB"
    return bar


def test_a_log_gets_one_line_per_stage_and_no_carriage_return():
    out = io.StringIO()
    _stage(out, steps=4, total=40)
    with progress(3, "pretrain lam-small", unit="epoch", stream=out) as bar:
        bar.update(3)
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r"channels: 40 samples in \d+\.\d s, best val -6\.00 dB", lines[0])
    assert re.fullmatch(r"pretrain lam-small: 3 epochs in \d+\.\d s", lines[1])


@pytest.mark.parametrize("tty", [False, True], ids=["log", "terminal"])
def test_a_terminal_gets_a_tqdm_bar_and_a_log_does_not(tty, monkeypatch):
    import tqdm

    made = []
    real = tqdm.tqdm

    def spy(*args, **kwargs):
        made.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(tqdm, "tqdm", spy)
    out = FakeTty() if tty else io.StringIO()
    bar = _stage(out, steps=4, total=40)
    text = out.getvalue()
    assert bar.interactive is tty
    assert len(made) == int(tty)
    assert ("\r" in text) is tty
    assert ("channels: 40 samples in" in text) is not tty
    assert bar.n == 40


@pytest.mark.parametrize("tty", [False, True], ids=["log", "terminal"])
def test_disabled_writes_nothing(tty):
    out = FakeTty() if tty else io.StringIO()
    bar = _stage(out, enabled=False)
    assert out.getvalue() == "" and not bar.interactive


def test_an_early_end_names_the_count_reached():
    out = io.StringIO()
    with progress(100, "lasco @ A1", unit="epoch", stream=out) as bar:
        bar.update(37)
        bar.summary = "best val -7.25 dB, early stop"
    line = out.getvalue()
    assert re.fullmatch(
        r"lasco @ A1: 37 of 100 epochs in \d+\.\d s, best val -7\.25 dB, "
        r"early stop\n",
        line,
    )


def test_a_failed_stage_says_it_stopped_and_the_error_propagates():
    out = io.StringIO()
    with pytest.raises(RuntimeError, match="boom"), progress(10, "pretrain", stream=out) as bar:
        bar.update(2)
        raise RuntimeError("boom")
    assert re.fullmatch(r"pretrain: 2 of 10 its in \d+\.\d s, stopped\n", out.getvalue())


@pytest.mark.parametrize(
    "n,total,expected",
    [(1, 1, "1 epoch "), (1, None, "1 epoch "), (1, 5, "1 of 5 epochs "), (0, 5, "0 of 5 epochs ")],
)
def test_unit_plural(n, total, expected):
    out = io.StringIO()
    with progress(total, "s", unit="epoch", stream=out) as bar:
        bar.update(n)
    assert out.getvalue().startswith("s: " + expected)


def test_close_twice_writes_one_line():
    out = io.StringIO()
    bar = progress(2, "s", stream=out)
    bar.close()
    bar.close()
    assert len(out.getvalue().splitlines()) == 1


@pytest.mark.parametrize(
    "stream,expected",
    [(io.StringIO(), False), (FakeTty(), True), (NoIsatty(), False)],
    ids=["file", "tty", "no-isatty"],
)
def test_is_terminal(stream, expected):
    assert is_terminal(stream) is expected


def test_a_closed_stream_is_not_a_terminal():
    out = io.StringIO()
    out.close()
    assert not is_terminal(out)


def _toy(n, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.standard_normal((n, 2, 32, 1)).astype(np.float32) * np.linspace(
        -1, 1, 32, dtype=np.float32
    )
    x = y.copy()
    x[:, :, :, 16:] = 0.0
    return x, y


STAGE_LINES = [
    r"pretrain tiny: 2 epochs in \d+(\.\d)? s, best val -?\d+\.\d\d dB",
    r"lasco @ A1: 3 epochs in \d+(\.\d)? s, best val -?\d+\.\d\d dB",
]


@pytest.mark.parametrize(
    "enabled,expected", [(True, STAGE_LINES), (False, [])], ids=["progress", "quiet"]
)
def test_training_writes_one_line_per_stage_to_stderr(capsys, enabled, expected):
    torch.manual_seed(0)
    lam, ref = build_model("tiny"), build_model("tiny")
    cfg = PretrainConfig(epochs=2, batch_size=32)
    pretrain(lam, _toy(64), _toy(16, 1), cfg, desc="pretrain tiny", progress=enabled)
    tr, va = (SplitTensors.build(*_toy(n, s), lam, ref) for n, s in ((32, 2), (16, 3)))
    method = build_method("lasco", lam, ref)
    cfg_a = AdaptConfig(max_epochs=3, patience=5)
    adapt(method, tr, va, cfg_a, desc="lasco @ A1", progress=enabled)
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "\r" not in err
    assert len(lines) == len(expected)
    assert all(re.fullmatch(p, line) for p, line in zip(expected, lines, strict=True))
