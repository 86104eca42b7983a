"""The shard format: bytes round trip, metadata against its schema, names and folder
names, and every way a shard can be unreadable."""

import io
import json

import numpy as np
import pytest

from datastore.shard import (
    FORMAT_VERSION,
    ShardError,
    UnsupportedShard,
    decode_shard,
    encode_shard,
    env_dir,
    env_from_dir,
    is_temp_name,
    parse_shard_name,
    shard_name,
    temp_name,
)
from schemas import validate
from tests.datastore.conftest import samples


def _encode(s, **over):
    kw = {"created_ns": 10**18, "writer_id": "csi-xapp-0", "seq": 3, **over}
    return encode_shard(s, **kw)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_a_shard_round_trips_with_its_metadata(dtype):
    s = samples("cell:cell-7", n=5, t0=100)
    meta, data = _encode(s, codeword_dtype=dtype)
    back, meta_back = decode_shard(data)
    assert meta_back == meta
    validate("csi-data-shard", meta)
    assert (meta["n"], meta["m"], meta["t_min_ns"], meta["t_max_ns"]) == (5, 8, 100, 104)
    assert (back.environment, back.projection_id) == (s.environment, s.projection_id)
    np.testing.assert_array_equal(back.labels, s.labels)
    np.testing.assert_array_equal(back.codewords, s.codewords.astype(dtype).astype(np.float32))
    assert back.codewords.dtype == np.float32 and back.t_ns.dtype == np.int64
    assert back.cells.dtype == object and back.cells.tolist() == ["cell-1"] * 5


def test_a_shard_holds_no_pickled_object():
    _, data = _encode(samples())
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        kinds = {k: z[k].dtype.kind for k in z.files}
    assert kinds == {"labels": "f", "codewords": "f", "cells": "U", "t_ns": "i", "meta": "U"}


@pytest.mark.parametrize(
    "t_ns,writer,seq,n",
    [(0, "a", 0, 1), (1_767_225_600_000_000_000, "csi-xapp-0.7_x", 12, 1024)],
)
def test_a_shard_name_sorts_by_time_and_parses_back(t_ns, writer, seq, n):
    name = shard_name(t_ns, writer, seq, n)
    info = parse_shard_name(f"/root/101/{name}")
    assert (info.t_ns, info.writer_id, info.seq, info.n, info.name) == (t_ns, writer, seq, n, name)
    assert shard_name(t_ns + 1, writer, seq, n) > name


@pytest.mark.parametrize(
    "name",
    [
        temp_name(shard_name(5, "w", 0, 4), "abc"),
        "notes.txt",
        "0001-w-00000000-n4.npz",
        shard_name(5, "w", 0, 4) + ".part",
    ],
)
def test_other_files_are_not_shards(name):
    assert parse_shard_name(f"/root/101/{name}") is None


def test_a_temporary_name_tells_its_time():
    assert is_temp_name(temp_name(shard_name(42, "w", 0, 4), "abc")) == 42
    assert is_temp_name(shard_name(42, "w", 0, 4)) is None


@pytest.mark.parametrize("writer", ["", "-lead", "has space", "a/b", "x" * 129])
def test_a_writer_id_must_fit_a_file_name(writer):
    with pytest.raises(ValueError, match="writer id"):
        shard_name(0, writer, 0, 1)


@pytest.mark.parametrize(
    "env,folder",
    [
        ("101", "101"),
        ("cell:cell-101", "cell%3Acell-101"),
        (".hidden", "%2Ehidden"),
        ("a/b", "a%2Fb"),
        ("région", "r%C3%A9gion"),
    ],
)
def test_an_environment_folder_is_safe_and_reversible(env, folder):
    assert env_dir(env) == folder and env_from_dir(folder) == env


def _rewrite(data, **members):
    """The shard ``data`` with members replaced (None: removed)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(members)
    buf = io.BytesIO()
    np.savez(buf, **{k: v for k, v in arrays.items() if v is not None})
    return buf.getvalue()


def _meta(data, **over):
    """The shard's metadata with fields replaced, as its ``meta`` member."""
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return np.array(json.dumps({**json.loads(str(z["meta"])), **over}))


BROKEN = {
    "empty": lambda d: b"",
    "not-a-zip": lambda d: b"this is not a shard",
    "truncated": lambda d: d[: len(d) // 2],
    "missing-member": lambda d: _rewrite(d, cells=None),
    "extra-member": lambda d: _rewrite(d, extra=np.zeros(3)),
    "meta-not-json": lambda d: _rewrite(d, meta=np.array("{not json")),
    "wrong-format": lambda d: _rewrite(d, meta=_meta(d, format="something-else")),
    "meta-off-schema": lambda d: _rewrite(d, meta=_meta(d, codeword_dtype="int8")),
    "n-disagrees": lambda d: _rewrite(d, meta=_meta(d, n=5)),
    "labels-float64": lambda d: _rewrite(d, labels=np.zeros((4, 2, 32, 32))),
    "cells-pickled": lambda d: _rewrite(d, cells=np.array(["a"] * 4, dtype=object)),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_an_unreadable_shard_raises_shard_error(kind):
    _, data = _encode(samples(n=4))
    with pytest.raises(ShardError) as exc:
        decode_shard(BROKEN[kind](data))
    assert not isinstance(exc.value, UnsupportedShard)


def test_a_newer_format_version_is_unsupported():
    _, data = _encode(samples())
    newer = _rewrite(data, meta=_meta(data, format_version=FORMAT_VERSION + 1))
    with pytest.raises(UnsupportedShard, match="format version"):
        decode_shard(newer)


def test_a_reader_ignores_metadata_fields_it_does_not_know():
    _, data = _encode(samples(n=2))
    back, meta = decode_shard(_rewrite(data, meta=_meta(data, added_later="yes")))
    assert len(back) == 2 and meta["added_later"] == "yes"
