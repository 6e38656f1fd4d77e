"""The on-disk feature cache: one ``.npy`` per (stimulus, extractor, parameters), written atomically."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from nforge_app._cache_budget import touch
from nforge_app._files import atomic_path, text_sha256
from nforge_app.features._base import FeatureExtractor

logger = logging.getLogger(__name__)

# Striped locks: a fixed number, so the table never grows, and two threads asking for the same key
# always meet on the same lock (two different keys rarely do, and then they only wait, never break).
_N_LOCKS = 64


class FeatureCache:
    """Features stored under ``root/<extractor_id>/<key[:2]>/<key>.npy``.

    The key is the sha256 of the stimulus hash, the extractor id and its parameters, so changing any
    parameter that changes the numbers gives a new file. Files are written through a temporary file and
    an atomic rename: readers in other threads or processes see either nothing or a whole file. In one
    process, two threads asking for the same features compute them once.

    Parameters
    ----------
    root : Path
        Folder of the cache (created on first write).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._locks = [threading.Lock() for _ in range(_N_LOCKS)]

    def key(self, stimulus_hash: str, extractor: FeatureExtractor) -> str:
        """The cache key of ``extractor``'s output for the stimulus with content hash ``stimulus_hash``."""
        return text_sha256(stimulus_hash, extractor.extractor_id, json.dumps(extractor.params(), sort_keys=True))

    def path(self, stimulus_hash: str, extractor: FeatureExtractor) -> Path:
        """Where that output is (or would be) stored."""
        key = self.key(stimulus_hash, extractor)
        return self.root / extractor.extractor_id / key[:2] / f"{key}.npy"

    def get_or_compute(self, stimulus_hash: str, extractor: FeatureExtractor,
                       compute: Callable[[], np.ndarray]) -> np.ndarray:
        """Return the cached features, or call ``compute()``, store its result and return it.

        Parameters
        ----------
        stimulus_hash : str
            Content hash of the stimulus (``Stimulus.content_hash``).
        extractor : FeatureExtractor
            Supplies ``extractor_id`` and ``params()`` for the key.
        compute : callable
            Makes the array when it is not cached. If it raises, nothing is written and the error
            propagates.

        Returns
        -------
        ndarray
            The features. A cached file that cannot be read is logged, recomputed and replaced.
        """
        path = self.path(stimulus_hash, extractor)
        with self._locks[int(path.stem[:8], 16) % _N_LOCKS]:
            cached = self._read(path)
            if cached is not None:
                return cached
            array = np.asarray(compute())
            with atomic_path(path) as tmp, open(tmp, "wb") as handle:
                # Saving to a handle keeps numpy from appending its own ".npy" to the temporary name.
                np.save(handle, array, allow_pickle=False)
            return array

    @staticmethod
    def _read(path: Path) -> np.ndarray | None:
        if not path.is_file():
            return None
        try:
            array = np.load(path, allow_pickle=False)
            touch(path)
            return array
        except (OSError, ValueError, EOFError) as error:
            logger.warning("feature cache file %s is unreadable (%s); recomputing it", path, error)
            return None
