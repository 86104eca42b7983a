"""The data store: labelled CSI samples the xApp collects, per environment, as bounded and
atomically written shards on any fsspec URL, for the rApp to adapt on (numpy and fsspec only).

    >>> writer = DataWriter("s3://lasco/data", shard_samples=1024, max_buffer_samples=16384)
    >>> writer.add(samples)              # hot path: buffers, drops the oldest beyond the bound
    >>> writer.flush()                   # background: full shards, then retention
    >>> DataReader("s3://lasco/data").read("101", max_samples=20000)   # the newest, oldest first

See docs/data-store.md for the format, the layout, retention and failures.
"""

from datastore.reader import DataReader
from datastore.samples import CSI_SHAPE, LabelledSamples, SampleError
from datastore.shard import (
    FORMAT,
    FORMAT_VERSION,
    ShardError,
    ShardInfo,
    UnsupportedShard,
    decode_shard,
    encode_shard,
)
from datastore.writer import COUNTERS, DataWriter, default_writer_id

__all__ = [
    "COUNTERS",
    "CSI_SHAPE",
    "FORMAT",
    "FORMAT_VERSION",
    "DataReader",
    "DataWriter",
    "LabelledSamples",
    "SampleError",
    "ShardError",
    "ShardInfo",
    "UnsupportedShard",
    "decode_shard",
    "default_writer_id",
    "encode_shard",
]
