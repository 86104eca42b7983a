"""Small text helpers shared by the study's log lines and its report."""

from __future__ import annotations

__all__ = ["or_dash", "plural", "size"]


def plural(n: int, noun: str) -> str:
    """``1 cell``, ``2 cells``."""
    return f"{n} {noun}{'s' * (n != 1)}"


def size(n: int | str) -> str:
    """A sample size as prose writes it: ``1000`` or ``"1000"`` as ``1,000``; a name such
    as ``all`` unchanged."""
    return f"{int(n):,}" if str(n).isdigit() else str(n)


def or_dash(x: float | None, spec: str = ".2f") -> str:
    """``x`` formatted with ``spec``, or ``-`` for a figure not there."""
    return "-" if x is None else format(x, spec)
