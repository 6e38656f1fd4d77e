"""Small file helpers shared by the caches and the exporters: content hashes and atomic writes."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

_CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def text_sha256(*parts: str) -> str:
    """Hex sha256 of strings joined by NUL (so that ("ab", "c") and ("a", "bc") differ)."""
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    A crash or an exception leaves no partial file at ``path`` (and removes the temporary one).
    ``suffix`` defaults to the target's own suffix so that writers that look at it (ffmpeg, numpy) work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix if suffix is not None else path.suffix,
                               dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)
