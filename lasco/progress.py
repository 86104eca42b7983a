"""Progress of a long stage: a tqdm bar on a terminal, one summary line in a log.

A bar redraws itself with carriage returns, which a terminal overwrites in place but a
log file or a CI job keeps, thousands of lines of it. ``progress`` shows the bar only
when its stream (stderr by default) is a terminal; otherwise it stays quiet while the
stage runs and writes exactly one line when the stage ends::

    with progress(cfg.epochs, "pretrain lam-small", unit="epoch") as bar:
        for epoch in range(cfg.epochs):
            ...
            bar.set_postfix(val_nmse_db=f"{v:.2f}")
            bar.update()
        bar.summary = f"best val {best:.2f} dB"

    # in a log: "pretrain lam-small: 30 epochs in 61 s, best val -6.00 dB"

``enabled=False`` turns both off (the ``progress=False`` switches of the training
loops and the experiment). Needs only the standard library and tqdm.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any, TextIO

__all__ = ["Progress", "is_terminal", "progress"]


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is an interactive terminal (False for files, pipes, closed streams)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 10 else f"{s:.0f} s"


class Progress:
    """A stage's progress; see the module docstring. Use ``progress()`` to make one."""

    def __init__(
        self,
        total: int | None,
        desc: str,
        *,
        unit: str = "it",
        enabled: bool = True,
        stream: TextIO | None = None,
        leave: bool = False,
    ) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self.n = 0
        self.summary = ""
        self.postfix: dict[str, Any] = {}
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self._t0 = time.perf_counter()
        self._closed = False
        self._bar = None
        if enabled and is_terminal(self.stream):
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream, leave=leave)

    @property
    def interactive(self) -> bool:
        """True when a tqdm bar is drawn (the stream is a terminal)."""
        return self._bar is not None

    def update(self, n: int = 1) -> None:
        self.n += n
        if self._bar is not None:
            self._bar.update(n)

    def set_postfix(self, **values: Any) -> None:
        """Values shown beside the bar on a terminal (a log line shows ``summary`` instead)."""
        self.postfix = values
        if self._bar is not None:
            self._bar.set_postfix(values)

    def line(self, *, stopped: bool = False) -> str:
        """The one line a log gets for this stage."""
        whole = self.total in (None, self.n)
        count = f"{self.n}" if whole else f"{self.n} of {self.total}"
        unit = self.unit if whole and self.n == 1 else self.unit + "s"
        text = f"{self.desc}: {count} {unit} in {_seconds(time.perf_counter() - self._t0)}"
        if stopped:
            text += ", stopped"
        return text + (f", {self.summary}" if self.summary else "")

    def close(self, *, stopped: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        elif self.enabled:
            print(self.line(stopped=stopped), file=self.stream, flush=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(stopped=exc_type is not None)


def progress(
    total: int | None,
    desc: str,
    *,
    unit: str = "it",
    enabled: bool = True,
    stream: TextIO | None = None,
    leave: bool = False,
) -> Progress:
    """A context-managed progress bar for one stage (see the module docstring).

    ``stream`` defaults to ``sys.stderr`` as it is when called; ``leave`` keeps the
    finished bar on the terminal."""
    return Progress(total, desc, unit=unit, enabled=enabled, stream=stream, leave=leave)
