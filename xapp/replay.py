"""``csi-xapp replay``: feed captured messages through the core, offline.

Input: one JSON object per line, ``{"mtype": int, "meid": str|null, "payload_b64": str}``
(what ``ransim capture`` writes, or a capture from a RIC). Output: every reply the core
gives, in the same format plus ``"in_reply_to"`` (the input line number), then a final
line ``{"summary": {...}}`` with the counters: served, dropped by reason, A1 results.
The summary is always written: a line that is not a captured message is counted
(``capture_line_invalid``) and skipped, and a failing final flush is counted.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from xapp.core import CsiXapp

__all__ = ["read_messages", "replay", "summary", "write_message"]


def write_message(f: TextIO, mtype: int, payload: bytes, meid: str | None, **extra: Any) -> None:
    f.write(
        json.dumps(
            {
                "mtype": int(mtype),
                "meid": meid,
                "payload_b64": base64.b64encode(payload).decode(),
                **extra,
            }
        )
        + "\n"
    )


def read_messages(
    lines: Iterable[str], on_bad: Callable[[int, str], None] | None = None
) -> Iterator[tuple[int, int, str | None, bytes]]:
    """``(line number, mtype, meid, payload)``; a line that is not a message raises
    ValueError naming the line, or with ``on_bad(line number, why)`` is skipped."""
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            msg = (
                i,
                int(obj["mtype"]),
                obj.get("meid"),
                base64.b64decode(obj["payload_b64"], validate=True),
            )
        except (ValueError, KeyError, TypeError) as exc:
            if on_bad is None:
                raise ValueError(f"line {i} is not a captured message: {exc}") from None
            on_bad(i, str(exc))
            continue
        yield msg


def summary(core: CsiXapp) -> dict[str, Any]:
    c = core.counters.snapshot()
    return {
        "served": c.get("served", 0),
        "dropped": {
            k[len("dropped_") :]: v for k, v in sorted(c.items()) if k.startswith("dropped_")
        },
        "a1": {k: c.get(f"a1_{k}", 0) for k in ("ok", "error", "deleted")},
        "counters": dict(sorted(c.items())),
        "active_policies": sorted(core.policies),
    }


def replay(
    core: CsiXapp,
    input_path: str | Path,
    output_path: str | Path,
    on_bad: Callable[[int, str], None] | None = None,
) -> dict[str, Any]:
    """Feed the capture through ``core``; returns the summary (also the output's last
    line). ``on_bad(line number, why)`` hears of each line that is not a message."""

    def bad_line(line_no: int, why: str) -> None:
        core.counters.count("capture_line_invalid")
        if on_bad is not None:
            on_bad(line_no, why)

    with open(input_path) as fin, open(output_path, "w") as fout:
        try:
            for line_no, mtype, meid, payload in read_messages(fin, bad_line):
                for r_mtype, r_payload in core.handle(mtype, payload, meid):
                    write_message(fout, r_mtype, r_payload, meid, in_reply_to=line_no)
        finally:  # whatever stopped the capture, the summary of what was served
            try:
                core.flush()
            except Exception as exc:
                core.counters.count("internal_error")
                core.counters.log_limited("replay-flush", "final flush failed: %r", exc)
            result = summary(core)
            fout.write(json.dumps({"summary": result}) + "\n")
    return result
