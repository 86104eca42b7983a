"""What reading telemetry and writing events share: the errors, an InfluxDB HTTP client that
never hangs, where a URL points, and a line-protocol parser.

The parser is here because neither influxdb-client (it only writes line protocol) nor the
project's other dependencies parse it; it follows InfluxDB's grammar: ``measurement[,tag=v...]
field=v[,field=v...] [timestamp]``, backslash escapes of comma, equals sign and space in names,
double-quoted string fields with ``\\"`` and ``\\\\``, integers with ``i`` or ``u``, booleans.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx

from lasco.errors import ConfigError

__all__ = [
    "RAPP_MEASUREMENT",
    "XAPP_MEASUREMENT",
    "FieldValue",
    "InfluxHttp",
    "TelemetryError",
    "TelemetryRejected",
    "TelemetryUnavailable",
    "file_path",
    "parse_line",
]

log = logging.getLogger(__name__)

XAPP_MEASUREMENT = "csi_xapp"
"""What the xApp's telemetry writes (``xapp.telemetry``)."""
RAPP_MEASUREMENT = "csi_rapp"
"""What the rApp's events are written as."""

FieldValue = float | int | str | bool


class TelemetryError(Exception):
    """Telemetry could not be read or written."""


class TelemetryUnavailable(TelemetryError):
    """The source cannot answer now (down, 5xx, timeout, missing file): try again later."""


class TelemetryRejected(TelemetryError):
    """The server refused the request (bad query or data, unknown database, credentials):
    trying again as it is will not help."""


def file_path(url: str) -> Path | None:
    """The file a path or ``file://`` URL names; None for an ``http(s)://`` URL."""
    u = urlparse(url)
    if u.scheme in ("http", "https"):
        return None
    if u.scheme == "file":
        return Path(unquote(u.path))
    if u.scheme:
        raise ConfigError(f"telemetry URL {url!r}: expected http(s)://, file:// or a path")
    return Path(url)


class InfluxHttp:
    """An httpx client on one InfluxDB, with the database and retention policy of a ``db/rp``
    bucket. Every request is bounded by ``timeout_s`` (connect, send, each read)."""

    def __init__(self, url: str, bucket: str, token: str = "", timeout_s: float = 2.0) -> None:
        self.db, _, self.rp = bucket.partition("/")
        if not self.db:
            raise ConfigError(f"InfluxDB bucket {bucket!r}: expected database[/retention-policy]")
        headers = {"Authorization": f"Token {token}"} if token else {}
        self.url = url.rstrip("/")
        self.client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)

    def request(self, method: str, path: str, **kw: object) -> httpx.Response:
        """The response; TelemetryUnavailable when none came, or a 5xx, 408, 429 or redirect."""
        try:
            r = self.client.request(method, path, **kw)  # type: ignore[arg-type]
        except httpx.TimeoutException as exc:
            raise TelemetryUnavailable(f"InfluxDB {self.url} timed out: {exc!r}") from exc
        except httpx.HTTPError as exc:
            raise TelemetryUnavailable(f"InfluxDB {self.url} unreachable: {exc!r}") from exc
        if r.status_code >= 500 or r.status_code in (408, 429) or r.is_redirect:
            raise TelemetryUnavailable(f"InfluxDB answered {r.status_code}: {r.text[:200]}")
        return r

    def close(self) -> None:
        self.client.close()


_NAME_ESCAPE = re.compile(r"\\([,= \\])")
_STRING_ESCAPE = re.compile(r'\\(["\\])')
_TRUE = frozenset({"t", "T", "true", "True", "TRUE"})
_FALSE = frozenset({"f", "F", "false", "False", "FALSE"})


def _split(s: str, sep: str, quoted: bool = False, limit: int = -1) -> list[str]:
    """``s`` split on ``sep`` where it is not escaped (nor, when ``quoted``, inside double
    quotes), at most ``limit`` times; the parts keep their escapes."""
    parts: list[str] = []
    start, i, in_quotes = 0, 0, False
    while i < len(s):
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if quoted and c == '"':
            in_quotes = not in_quotes
        elif c == sep and not in_quotes and len(parts) != limit:
            parts.append(s[start:i])
            start = i + 1
        i += 1
    if in_quotes:
        raise ValueError("unterminated string")
    parts.append(s[start:])
    return parts


def _name(s: str) -> str:
    if not s:
        raise ValueError("empty name")
    return _NAME_ESCAPE.sub(r"\1", s)


def _value(s: str) -> FieldValue:
    if len(s) >= 2 and s[0] == '"' and s[-1] == '"':
        return _STRING_ESCAPE.sub(r"\1", s[1:-1])
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    if s[-1:] in ("i", "u"):
        return int(s[:-1])
    return float(s)


def parse_line(line: str) -> tuple[str, dict[str, str], dict[str, FieldValue], int | None]:
    """(measurement, tags, fields, timestamp in the line's precision or None) of one line of
    line protocol; ValueError when it is not one."""
    key, *rest = _split(line.strip(), " ", limit=1)
    sections = _split(rest[0], " ", quoted=True) if rest else []
    if not 1 <= len(sections) <= 2 or not sections[0]:
        raise ValueError(f"expected 'measurement[,tags] fields [time]': {line[:200]!r}")
    head = _split(key, ",")
    tags = {}
    for item in head[1:]:
        k, *v = _split(item, "=")
        if len(v) != 1:
            raise ValueError(f"bad tag {item!r}")
        tags[_name(k)] = _name(v[0])
    fields: dict[str, FieldValue] = {}
    for item in _split(sections[0], ",", quoted=True):
        k, *v = _split(item, "=", quoted=True, limit=1)
        if len(v) != 1 or not v[0]:
            raise ValueError(f"bad field {item!r}")
        fields[_name(k)] = _value(v[0])
    t_ns = int(sections[1]) if len(sections) == 2 else None
    return _name(head[0]), tags, fields, t_ns
