"""Files on any fsspec filesystem (local, NFS, s3://, gs://, ...), written atomically on disk."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from spml.atomic import temporary_sibling


class _SiblingFile(io.FileIO):
    """A file written under a temporary sibling name, renamed over the real one only when it
    is closed without an error; an error discards it and leaves the old file untouched."""

    def __init__(self, path: str) -> None:
        self._target = Path(path)
        super().__init__(temporary_sibling(self._target), "wb")

    def discard(self) -> None:
        """Close and delete the partial file."""
        super().close()
        Path(str(self.name)).unlink(missing_ok=True)

    def close(self) -> None:
        if not self.closed:
            super().close()
            os.replace(str(self.name), self._target)

    def __exit__(self, error_type: Any, *rest: Any) -> None:
        self.discard() if error_type is not None else self.close()


class _SiblingText(io.TextIOWrapper):
    """Text over a `_SiblingFile`: an error inside the `with` block discards the file."""

    def __exit__(self, error_type: Any, *rest: Any) -> None:
        try:
            if error_type is None:
                self.flush()  # text still buffered may fail to write: then discard too
        except BaseException:
            self.buffer.discard()
            raise
        if error_type is not None:
            self.buffer.discard()
        self.close()


class AtomicLocalFileSystem(LocalFileSystem):
    """The local filesystem, where a file opened for writing appears only once it is complete,
    so a killed worker or a full disk never leaves a torn file that a later node trusts."""

    def open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if "w" not in mode:
            return super().open(path, mode, **kwargs)
        binary = _SiblingFile(self._strip_protocol(path))
        if "b" in mode:
            return binary
        return _SiblingText(binary, encoding=kwargs.get("encoding"), newline=kwargs.get("newline"))


def filesystem(protocol: str, options: dict[str, Any] | None = None) -> fsspec.AbstractFileSystem:
    """The filesystem of a catalog path's protocol; local disks write atomically."""
    if protocol == "file":
        return AtomicLocalFileSystem(auto_mkdir=True, skip_instance_cache=True)
    return fsspec.filesystem(protocol, **(options or {}))
