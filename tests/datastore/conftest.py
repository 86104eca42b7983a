"""Stores for the data-store tests: a real local folder and fsspec's in-memory filesystem,
and ``flaky://``, an in-memory filesystem whose writes can be made to fail."""

import uuid

import fsspec
import numpy as np
import pytest
from fsspec.implementations.memory import MemoryFile, MemoryFileSystem

from datastore import LabelledSamples

M = 8


class FlakyFileSystem(MemoryFileSystem):
    """In memory, with ``fail`` (class-wide) choosing how writes fail:

    - None: they do not;
    - "write": opening a file for writing raises PermissionError (an unwritable store);
    - "mid-write": half of the bytes are written, then OSError (a truncated upload);
    - "move": the move into place raises OSError (after the temporary file was written).
    """

    protocol = "flaky"
    store: dict = {}  # noqa: RUF012 (fsspec's own layout: one store per class)
    pseudo_dirs = [""]  # noqa: RUF012
    fail: str | None = None

    @classmethod
    def _strip_protocol(cls, path):
        return super()._strip_protocol(path.removeprefix("flaky://"))

    def _open(self, path, mode="rb", **kwargs):
        if "w" in mode and self.fail == "write":
            raise PermissionError(f"read-only store: {path}")
        f = super()._open(path, mode, **kwargs)
        if "w" in mode and self.fail == "mid-write":
            f = _HalfFile(self, f.path)
            f.commit()  # visible under its (temporary) name, as a torn upload would be
        return f

    def mv(self, path1, path2, **kwargs):
        if self.fail == "move":
            raise OSError(f"move failed: {path1}")
        return super().mv(path1, path2, **kwargs)


class _HalfFile(MemoryFile):
    def write(self, data):
        super().write(data[: len(data) // 2])
        raise OSError("connection reset while writing")


fsspec.register_implementation("flaky", FlakyFileSystem, clobber=True)


@pytest.fixture()
def flaky():
    """``(uri, the filesystem class)`` of a fresh ``flaky://`` root; writes work until
    the test sets ``FlakyFileSystem.fail``."""
    FlakyFileSystem.fail = None
    yield f"flaky://{uuid.uuid4().hex}", FlakyFileSystem
    FlakyFileSystem.fail = None


@pytest.fixture(params=["folder", "memory"])
def uri(request, tmp_path):
    """A fresh store: a real local folder, or a root in fsspec's memory filesystem."""
    if request.param == "folder":
        return str(tmp_path / "data")
    return f"memory://{uuid.uuid4().hex}"


def samples(
    env="101", n=4, t0=0, *, proj="gauss-0-512", cell="cell-1", m=M, seed=None
) -> LabelledSamples:
    """``n`` samples with report times ``t0 .. t0 + n - 1``; each label's first value is its
    report time, so a test can tell which samples came back."""
    rng = np.random.default_rng(t0 if seed is None else seed)
    labels = rng.standard_normal((n, 2, 32, 32)).astype(np.float32)
    t = np.arange(t0, t0 + n, dtype=np.int64)
    labels[:, 0, 0, 0] = t
    return LabelledSamples(
        env,
        proj,
        labels,
        rng.standard_normal((n, m)).astype(np.float32),
        np.array([cell] * n, dtype=object),
        t,
    )


class Clock:
    """A settable wall clock in ns (``clock_ns`` of a writer)."""

    def __init__(self, t_ns: int = 10**18) -> None:
        self.t_ns = t_ns

    def __call__(self) -> int:
        return self.t_ns

    def advance(self, seconds: float) -> None:
        self.t_ns += int(seconds * 1e9)
