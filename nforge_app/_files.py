"""Small file helpers shared by the caches and the exporters: content hashes and atomic writes."""

from __future__ import annotations

import contextlib
import errno
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


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _read_umask() -> int:
    """The process's umask (read once, at import, while no other thread can create a file in between)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_read_umask()
"""The mode ``open()`` gives a new file here; atomic writes end with it too (``mkstemp`` makes them 0600)."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    A crash or an exception leaves no partial file at ``path`` (and removes the temporary one; a process
    killed midway leaves it, named ``.<name>.<random><suffix>``: ``CacheBudget`` removes such files once
    stale). ``suffix`` defaults to the target's own suffix so that writers that look at it (ffmpeg, numpy)
    work. The file ends with the permissions of any file the user writes (the umask's), not the temporary
    file's owner-only ones. A full disk (or quota) raises :class:`~nforge_app.errors.DiskFullError`, which
    says so.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix if suffix is not None else path.suffix,
                                   dir=path.parent)
    except OSError as error:
        _raise_if_disk_full(error, path)
        raise
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, _FILE_MODE)
        os.replace(tmp_path, path)
    except OSError as error:
        _raise_if_disk_full(error, path)
        raise
    finally:
        tmp_path.unlink(missing_ok=True)


def _raise_if_disk_full(error: OSError, path: Path) -> None:
    if error.errno in _DISK_FULL:
        from nforge_app.errors import DiskFullError

        raise DiskFullError(f"the disk is full: {path.name} could not be written (nothing was kept). Free some space "
                            f"on the disk of {path.parent}, or lower the cache's size (setting cache_max_gb, "
                            "environment variable NFORGE_CACHE_MAX_GB), then try again") from None


MAX_INFLATED_BYTES = 4 * 10**9
"""Most bytes the members of one .npz file may inflate to."""
MAX_INFLATION = 100
"""Most times a member above 64 MB may grow when inflated (float data compresses about 1.1 to 3 times)."""


def check_inflation(name: str, inflated_bytes: float, stored_bytes: float, n_arrays: int = 1) -> None:
    """Refuse arrays stored compressed that would inflate to too much: a zip (or gzip, HDF5) bomb.

    Raises
    ------
    UserInputError
        When they would inflate past :data:`MAX_INFLATED_BYTES`, or past 64 MB at more than
        :data:`MAX_INFLATION` times their stored size; the message names ``name``, the sizes and the limits.
    """
    ratio = inflated_bytes / max(stored_bytes, 1)
    if inflated_bytes > MAX_INFLATED_BYTES or (inflated_bytes > 64 * 2**20 and ratio > MAX_INFLATION):
        from nforge_app.errors import UserInputError

        raise UserInputError(
            f"{name} looks like a zip bomb: its {n_arrays} array(s) would inflate to {inflated_bytes / 1e9:.2f} GB "
            f"({ratio:.0f} times their stored size); accepted: at most {MAX_INFLATED_BYTES / 1e9:g} GB of "
            f"arrays, large ones stored at most {MAX_INFLATION} times smaller")


def check_npz_inflation(path: str | os.PathLike, name: str | None = None) -> None:
    """Refuse an .npz file (a zip archive) whose members would inflate to too much: a zip bomb.

    Reads the zip directory only (the sizes the archive declares; a member that lies about its size is caught
    by ``zipfile`` when read). A file that is not a zip archive is left for the reader to refuse. See
    :func:`check_inflation`.
    """
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return
    name = name or Path(path).name
    for member in members:
        check_inflation(name, member.file_size, member.compress_size, len(members))
    check_inflation(name, sum(m.file_size for m in members), sum(m.compress_size for m in members), len(members))
