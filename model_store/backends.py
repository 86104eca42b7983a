"""Where a store keeps its artifacts: a local folder (default), any fsspec URL, or a
read-only HTTP store served by ``model-store serve``.

Layout, the same on every backend::

    <root>/<name>/<version>/manifest.json | model.onnx | manifest.sig | ...
    <root>/<name>/status.json        {"bad": {"<version>": "<reason>"}}

The local backend publishes atomically (a temporary folder, fsync, rename; a rename
onto an existing version fails, so a version is never overwritten). Object stores
(s3://) cannot rename folders: the fsspec backend writes ``manifest.sig`` last, and
a reader verifies the signature, so a half-written version is refused, never used.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Protocol

from model_store.errors import NotFound, StoreError, VersionExists
from model_store.manifest import SIGNATURE_FILE

__all__ = ["Backend", "FsspecBackend", "HttpBackend", "LocalBackend", "open_backend"]

STATUS = "status.json"


class Backend(Protocol):
    def names(self) -> list[str]: ...
    def versions(self, name: str) -> list[int]: ...
    def read(self, name: str, version: int) -> dict[str, bytes]: ...
    def write(self, name: str, version: int, files: dict[str, bytes]) -> None: ...
    def delete(self, name: str, version: int) -> None: ...
    def status(self, name: str) -> dict: ...
    def write_status(self, name: str, status: dict) -> None: ...


def _versions(entries: list[str]) -> list[int]:
    return sorted(int(e) for e in entries if e.isdigit())


class LocalBackend:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalBackend({str(self.root)!r})"

    def names(self) -> list[str]:
        """Model names: folders holding at least one version (not e.g. trusted_keys/)."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and not p.name.startswith(".") and self.versions(p.name)
        )

    def versions(self, name: str) -> list[int]:
        d = self.root / name
        return _versions([p.name for p in d.iterdir() if p.is_dir()]) if d.is_dir() else []

    def read(self, name: str, version: int) -> dict[str, bytes]:
        d = self.root / name / str(version)
        if not d.is_dir():
            raise NotFound(f"{name} version {version} is not in {self.root}")
        return {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}

    def write(self, name: str, version: int, files: dict[str, bytes]) -> None:
        parent = self.root / name
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{version}."))
        try:
            for fname, data in files.items():
                with open(tmp / fname, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            try:
                os.rename(tmp, parent / str(version))
            except OSError:
                raise VersionExists(f"{name} version {version} exists") from None
            dfd = os.open(parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def delete(self, name: str, version: int) -> None:
        shutil.rmtree(self.root / name / str(version))

    def status(self, name: str) -> dict:
        p = self.root / name / STATUS
        return json.loads(p.read_text()) if p.is_file() else {"bad": {}}

    def write_status(self, name: str, status: dict) -> None:
        p = self.root / name / STATUS
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{STATUS}.{os.getpid()}")
        tmp.write_text(json.dumps(status, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, p)


class FsspecBackend:
    """Any fsspec filesystem URL (``s3://bucket/prefix``, ``memory://store``, ...)."""

    def __init__(self, url: str) -> None:
        import fsspec

        self.fs, self.root = fsspec.core.url_to_fs(url)
        self.url = url

    def __repr__(self) -> str:
        return f"FsspecBackend({self.url!r})"

    def _ls(self, path: str) -> list[str]:
        try:
            return [p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(path, detail=False)]
        except FileNotFoundError:
            return []

    def names(self) -> list[str]:
        return sorted(n for n in self._ls(self.root) if not n.startswith("."))

    def versions(self, name: str) -> list[int]:
        return _versions(self._ls(f"{self.root}/{name}"))

    def read(self, name: str, version: int) -> dict[str, bytes]:
        base = f"{self.root}/{name}/{version}"
        entries = self._ls(base)
        if not entries:
            raise NotFound(f"{name} version {version} is not in {self.url}")
        return {e: self.fs.cat_file(f"{base}/{e}") for e in entries}

    def write(self, name: str, version: int, files: dict[str, bytes]) -> None:
        base = f"{self.root}/{name}/{version}"
        if self._ls(base):
            raise VersionExists(f"{name} version {version} exists")
        order = sorted(files, key=lambda f: f == SIGNATURE_FILE)  # the signature last
        for fname in order:
            self.fs.pipe_file(f"{base}/{fname}", files[fname])

    def delete(self, name: str, version: int) -> None:
        self.fs.rm(f"{self.root}/{name}/{version}", recursive=True)

    def status(self, name: str) -> dict:
        try:
            return json.loads(self.fs.cat_file(f"{self.root}/{name}/{STATUS}"))
        except FileNotFoundError:
            return {"bad": {}}

    def write_status(self, name: str, status: dict) -> None:
        self.fs.pipe_file(f"{self.root}/{name}/{STATUS}", json.dumps(status).encode())


class HttpBackend:
    """Read-only client of ``model-store serve`` (``http://host:port``)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url, self.timeout = url.rstrip("/"), timeout

    def __repr__(self) -> str:
        return f"HttpBackend({self.url!r})"

    def _get(self, path: str) -> bytes:
        try:
            with urllib.request.urlopen(f"{self.url}{path}", timeout=self.timeout) as r:
                return r.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise NotFound(f"{self.url}{path}: not found") from None
            raise StoreError(f"{self.url}{path}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise StoreError(f"store {self.url} unreachable: {exc}") from None

    def names(self) -> list[str]:
        return json.loads(self._get("/v1/models"))["names"]

    def versions(self, name: str) -> list[int]:
        return json.loads(self._get(f"/v1/models/{name}"))["versions"]

    def read(self, name: str, version: int) -> dict[str, bytes]:
        listing = json.loads(self._get(f"/v1/models/{name}/{version}"))["files"]
        return {f: self._get(f"/v1/models/{name}/{version}/{f}") for f in listing}

    def status(self, name: str) -> dict:
        return json.loads(self._get(f"/v1/models/{name}"))["status"]

    def _read_only(self, *_: object) -> None:
        raise StoreError(f"{self.url} is a read-only HTTP store")

    write = delete = write_status = _read_only  # type: ignore[assignment]


def open_backend(uri: str | Path) -> Backend:
    """A backend for a folder path, ``file://``, ``http(s)://`` or any fsspec URL."""
    text = str(uri)
    if text.startswith(("http://", "https://")):
        return HttpBackend(text)
    if text.startswith("file://"):
        return LocalBackend(text[len("file://") :])
    if "://" in text:
        return FsspecBackend(text)
    return LocalBackend(text)
