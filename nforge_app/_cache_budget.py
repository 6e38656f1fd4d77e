"""The caches' size on disk: least recently used files go first once the total passes the limit.

Every folder under the cache root counts (features, predictions, evaluations, the page's predictions,
payloads, exports and paired stimuli, transcripts), except downloaded model weights (``hub``) and the
example media (``examples``), which are not caches of results. A file is never removed while it is in use:
registered with :func:`in_use` by this process, written or read within the last ``min_age_s`` seconds (a
download of it may still be running), or a temporary file of an atomic write. Readers of a cache call
:func:`touch` on a hit, so "used" means read as well as written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

EXCLUDED = ("hub", "examples")
"""Folders of the cache root that are never evicted."""
MIN_AGE_S = 300.0
ENFORCE_EVERY_S = 30.0
STALE_TEMPORARY_S = 6 * 3600.0
"""A temporary file of an atomic write untouched this long was left by a killed process: it is removed."""

_in_use: Counter = Counter()
_in_use_lock = threading.Lock()


@contextlib.contextmanager
def in_use(*paths: str | os.PathLike) -> Iterator[None]:
    """Keep ``paths`` from eviction for the block (nested and concurrent uses are counted)."""
    keys = [os.path.abspath(path) for path in paths]
    with _in_use_lock:
        _in_use.update(keys)
    try:
        yield
    finally:
        with _in_use_lock:
            _in_use.subtract(keys)
            for key in keys:
                if _in_use[key] <= 0:
                    del _in_use[key]


def touch(path: str | os.PathLike) -> None:
    """Mark a cached file as just used (its modification time becomes now); a file gone is no error."""
    with contextlib.suppress(OSError):
        os.utime(path)


class CacheBudget:
    """Keeps the cache under ``max_bytes`` by removing its least recently used files.

    Parameters
    ----------
    root : Path
        The cache root (``Settings.cache_dir``).
    max_bytes : float
        The limit; 0 or ``inf``: none.
    min_age_s : float
        Files used more recently than this are never removed.
    exclude : tuple of str
        Folders of ``root`` that are not counted nor evicted.
    """

    def __init__(self, root: str | os.PathLike, max_bytes: float, min_age_s: float = MIN_AGE_S,
                 exclude: tuple[str, ...] = EXCLUDED) -> None:
        self.root = Path(root)
        self.max_bytes = float(max_bytes) if max_bytes else float("inf")
        self.min_age_s = float(min_age_s)
        self.exclude = tuple(exclude)
        self._lock = threading.Lock()
        self._last = -float("inf")

    @classmethod
    def from_settings(cls, settings) -> CacheBudget:
        """The budget of ``settings.cache_dir``: ``settings.cache_max_gb`` gigabytes."""
        return cls(settings.cache_dir, settings.cache_max_gb * 1e9)

    def files(self) -> list[tuple[float, int, Path]]:
        """Every counted file: (last use, size in bytes, path), oldest use first."""
        found = []
        if not self.root.is_dir():
            return found
        for top in self.root.iterdir():
            if top.name in self.exclude:
                continue
            walk = [(str(top), [], [top.name])] if top.is_file() else os.walk(top)
            for folder, _, names in walk:
                for name in names:
                    path = Path(folder) / name if not top.is_file() else top
                    try:
                        stat = path.lstat()
                    except OSError:
                        continue
                    found.append((max(stat.st_mtime, stat.st_atime), stat.st_size, path))
        found.sort(key=lambda item: item[0])
        return found

    def size(self) -> int:
        """Bytes in the counted files now."""
        return sum(size for _, size, _ in self.files())

    def enforce(self) -> list[Path]:
        """Remove least recently used files until the total is within the limit.

        Returns
        -------
        list of Path
            The files removed (none when within the limit, or when every older file is in use).
        """
        with self._lock:
            files = self.files()
            now = time.time()
            removed = _remove([path for used, _, path in files
                               if path.name.startswith(".") and now - used > STALE_TEMPORARY_S])
            if self.max_bytes == float("inf"):
                return removed
            gone = set(removed)
            files = [item for item in files if item[2] not in gone]
            total = sum(size for _, size, _ in files)
            with _in_use_lock:
                busy = set(_in_use)
            for used, size, path in files:
                if total <= self.max_bytes:
                    break
                if now - used < self.min_age_s or path.name.startswith(".") or os.path.abspath(path) in busy:
                    continue
                try:
                    path.unlink()
                except OSError:
                    continue
                total -= size
                removed.append(path)
            if removed:
                log.info("cache over %.3g GB: removed %d least recently used files", self.max_bytes / 1e9,
                         len(removed))
            return removed

    def maybe_enforce(self) -> list[Path]:
        """:meth:`enforce`, at most once per ``ENFORCE_EVERY_S`` seconds (walking the cache costs time)."""
        now = time.monotonic()
        if now - self._last < ENFORCE_EVERY_S:
            return []
        self._last = now
        return self.enforce()


def _remove(paths: list[Path]) -> list[Path]:
    """Unlink ``paths``; return those removed (one gone already is no error)."""
    removed = []
    for path in paths:
        try:
            path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed
