"""The shard format (version 1): one ``.npz`` file of ``N`` labelled samples of one
environment, written with ``np.savez`` and read with ``allow_pickle=False``.

Members of the archive:

    labels     [N, 2, 32, 32] float32   the full CSI the UEs reported
    codewords  [N, M] float32 or float16  the UEs' compressed reports (read as float32)
    cells      [N] <U (fixed unicode)   the cell of each report
    t_ns       [N] int64                report time, ns since the epoch
    meta       [] <U (fixed unicode)    JSON, checked against schemas/csi-data-shard.json

Names, in the folder of their environment (``<root>/<environment dir>/``)::

    <t_ns: 20 digits>-<writer id>-<seq: 8 digits>-n<N>.npz

where ``t_ns`` is the later of the shard's creation time and its newest report time,
so that names sort by time, a shard never holds a sample newer than its name says,
and listing a folder tells every shard's age and size without opening it. Temporary
files start with ``.`` and are never read. An environment's folder name is the
environment id with every character outside ``[A-Za-z0-9._~-]`` percent-encoded
(``cell:cell-101`` -> ``cell%3Acell-101``), and a leading ``.`` too.
"""

from __future__ import annotations

import io
import json
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

import numpy as np

from datastore.samples import CSI_SHAPE, LabelledSamples, SampleError
from schemas import SchemaValidationError, validate

__all__ = [
    "CODEWORD_DTYPES",
    "FORMAT",
    "FORMAT_VERSION",
    "META_SCHEMA",
    "ShardError",
    "ShardInfo",
    "UnsupportedShard",
    "decode_shard",
    "encode_shard",
    "env_dir",
    "env_from_dir",
    "is_temp_name",
    "parse_shard_name",
    "shard_name",
    "temp_name",
]

FORMAT = "lasco-csi-shard"
FORMAT_VERSION = 1
META_SCHEMA = "csi-data-shard"
CODEWORD_DTYPES = ("float32", "float16")
MEMBERS = frozenset({"labels", "codewords", "cells", "t_ns", "meta"})

_WRITER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_NAME = re.compile(r"^(\d{20})-([A-Za-z0-9][A-Za-z0-9._-]*)-(\d{8})-n(\d+)\.npz$")
_TEMP = re.compile(r"^\.tmp-(\d{20})-")


class ShardError(ValueError):
    """A shard that cannot be read: not an archive, truncated, or arrays and metadata
    that do not agree (the reader skips it and counts it as corrupt)."""


class UnsupportedShard(ShardError):
    """A shard of a format version newer than this reader knows (skipped, counted)."""


@dataclass(frozen=True)
class ShardInfo:
    """One shard as its name tells it.

    Attributes:
        path: its path in the store's filesystem.
        t_ns: the shard's time (ns since the epoch): not before its creation nor before
            its newest report.
        writer_id: the writer that wrote it.
        seq: the writer's sequence number of it.
        n: its number of samples.
    """

    path: str
    t_ns: int
    writer_id: str
    seq: int
    n: int

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]


def check_writer_id(writer_id: str) -> str:
    """``writer_id`` when it can be part of a shard name, else ValueError."""
    if not _WRITER.match(writer_id):
        raise ValueError(
            f"writer id {writer_id!r} must be 1-128 of [A-Za-z0-9._-], starting alphanumeric"
        )
    return writer_id


def shard_name(t_ns: int, writer_id: str, seq: int, n: int) -> str:
    """The file name of a shard (see the module's documentation)."""
    return f"{int(t_ns):020d}-{check_writer_id(writer_id)}-{int(seq):08d}-n{int(n)}.npz"


def parse_shard_name(path: str) -> ShardInfo | None:
    """The :class:`ShardInfo` of a path whose file name is a shard's, else None
    (temporary files and anything else)."""
    m = _NAME.match(path.rstrip("/").rsplit("/", 1)[-1])
    if m is None:
        return None
    return ShardInfo(path, int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4)))


def temp_name(final_name: str, token: str) -> str:
    """The temporary name a shard is written under before it is moved into place."""
    return f".tmp-{final_name}.{token}"


def is_temp_name(name: str) -> int | None:
    """The time (ns) in a temporary file's name, None when it is not one."""
    m = _TEMP.match(name)
    return int(m.group(1)) if m else None


def env_dir(environment: str) -> str:
    """The folder name of an environment (percent-encoded; never hidden)."""
    if not environment:
        raise ValueError("an environment id cannot be empty")
    quoted = urllib.parse.quote(environment, safe="")
    return "%2E" + quoted[1:] if quoted.startswith(".") else quoted


def env_from_dir(name: str) -> str:
    """The environment id of a folder name (the inverse of :func:`env_dir`)."""
    return urllib.parse.unquote(name)


def encode_shard(
    samples: LabelledSamples,
    *,
    created_ns: int,
    writer_id: str,
    seq: int,
    codeword_dtype: str = "float32",
) -> tuple[dict[str, Any], bytes]:
    """``(metadata, archive bytes)`` of a shard of ``samples`` (non-empty).

    Codewords are stored as ``codeword_dtype`` (``float32`` or ``float16``); cells as a
    fixed unicode array; the metadata as a JSON string in the member ``meta``.
    """
    if codeword_dtype not in CODEWORD_DTYPES:
        raise ValueError(f"codeword dtype {codeword_dtype!r} is not one of {CODEWORD_DTYPES}")
    if not len(samples):
        raise SampleError("a shard holds at least one sample")
    t = np.asarray(samples.t_ns, np.int64)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "environment": samples.environment,
        "projection_id": samples.projection_id,
        "n": len(samples),
        "m": int(samples.codewords.shape[1]),
        "codeword_dtype": codeword_dtype,
        "created_ns": int(created_ns),
        "writer_id": check_writer_id(writer_id),
        "seq": int(seq),
        "t_min_ns": int(t.min()),
        "t_max_ns": int(t.max()),
    }
    validate(META_SCHEMA, meta)
    buf = io.BytesIO()
    np.savez(
        buf,
        labels=np.ascontiguousarray(samples.labels, np.float32),
        codewords=np.ascontiguousarray(samples.codewords, codeword_dtype),
        cells=np.asarray([str(c) for c in samples.cells], dtype=str).reshape(-1),
        t_ns=t,
        meta=np.array(json.dumps(meta, sort_keys=True)),
    )
    return meta, buf.getvalue()


def decode_shard(data: bytes) -> tuple[LabelledSamples, dict[str, Any]]:
    """``(samples, metadata)`` of a shard's bytes; codewords as float32, cells as an
    object array of str. ShardError when it is not a whole, consistent shard of a known
    version (UnsupportedShard when its version is newer)."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            if set(z.files) != MEMBERS:
                raise ShardError(f"members {sorted(z.files)}, expected {sorted(MEMBERS)}")
            arrays = {k: z[k] for k in MEMBERS}
    except ShardError:
        raise
    except Exception as exc:  # a truncated or foreign file fails in many ways
        raise ShardError(f"not a readable archive: {exc!r}") from None
    try:
        meta = json.loads(str(arrays["meta"]))
    except (ValueError, TypeError) as exc:
        raise ShardError(f"metadata is not JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ShardError("metadata does not name the shard format")
    version = meta.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise UnsupportedShard(f"format version {version}; this reader knows {FORMAT_VERSION}")
    try:
        validate(META_SCHEMA, meta)
    except SchemaValidationError as exc:
        raise ShardError(str(exc)) from None
    return _samples(arrays, meta), meta


def _samples(a: dict[str, np.ndarray], meta: dict[str, Any]) -> LabelledSamples:
    n, m = meta["n"], meta["m"]
    checks = [
        (a["labels"].dtype == np.float32 and a["labels"].shape == (n, *CSI_SHAPE), "labels"),
        (
            a["codewords"].dtype == np.dtype(meta["codeword_dtype"])
            and a["codewords"].shape == (n, m),
            "codewords",
        ),
        (a["cells"].dtype.kind == "U" and a["cells"].shape == (n,), "cells"),
        (a["t_ns"].dtype == np.int64 and a["t_ns"].shape == (n,), "t_ns"),
    ]
    bad = [name for ok, name in checks if not ok]
    if bad:
        raise ShardError(f"arrays {bad} do not match the metadata (n={n}, m={m})")
    try:
        return LabelledSamples(
            meta["environment"],
            meta["projection_id"],
            a["labels"],
            a["codewords"].astype(np.float32, copy=False),
            a["cells"].astype(object),
            a["t_ns"],
        )
    except SampleError as exc:
        raise ShardError(str(exc)) from None
