"""Plain-text tables the benchmarks print."""

from __future__ import annotations

__all__ = ["table"]


def table(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows of cells as right-aligned columns, two spaces apart (the first row: the head)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
