"""The on-disk feature cache: keys, atomic writes, corrupt files, concurrent callers."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest

from nforge_app.features._cache import FeatureCache


class _Extractor:
    extractor_id = "fake-extractor"
    modality = "audio"
    rate_hz = 2.0

    def __init__(self, **params) -> None:
        self._params = params

    def params(self) -> dict:
        return dict(self._params)


def _files(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_cache_stores_once_and_reads_back(tmp_path):
    cache, extractor = FeatureCache(tmp_path), _Extractor(size=3)
    calls = []

    def compute():
        calls.append(1)
        return np.arange(6, dtype=np.float32).reshape(1, 2, 3)

    first = cache.get_or_compute("abc", extractor, compute)
    second = cache.get_or_compute("abc", extractor, compute)
    assert len(calls) == 1
    np.testing.assert_array_equal(first, second)
    assert second.dtype == np.float32
    key = cache.key("abc", extractor)
    assert _files(tmp_path) == [tmp_path / "fake-extractor" / key[:2] / f"{key}.npy"]


def test_cache_key_depends_on_stimulus_and_params_not_their_order(tmp_path):
    cache = FeatureCache(tmp_path)
    base = cache.key("abc", _Extractor(a=1, b=2))
    assert cache.key("abc", _Extractor(b=2, a=1)) == base
    assert cache.key("abd", _Extractor(a=1, b=2)) != base
    assert cache.key("abc", _Extractor(a=1, b=3)) != base


def test_failing_compute_leaves_no_file(tmp_path):
    cache = FeatureCache(tmp_path)

    def compute():
        raise RuntimeError("extractor crashed")

    with pytest.raises(RuntimeError, match="extractor crashed"):
        cache.get_or_compute("abc", _Extractor(), compute)
    assert _files(tmp_path) == []


def test_corrupt_file_is_recomputed_and_replaced(tmp_path, caplog):
    cache, extractor = FeatureCache(tmp_path), _Extractor()
    path = cache.path("abc", extractor)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a numpy file")
    with caplog.at_level(logging.WARNING, logger="nforge_app.features._cache"):
        result = cache.get_or_compute("abc", extractor, lambda: np.ones((1, 1, 4), dtype=np.float32))
    np.testing.assert_array_equal(result, np.ones((1, 1, 4)))
    assert "unreadable" in caplog.text
    np.testing.assert_array_equal(np.load(path), result)


def test_concurrent_callers_compute_once(tmp_path):
    cache, extractor = FeatureCache(tmp_path), _Extractor()
    calls, results = [], []

    def compute():
        calls.append(1)
        time.sleep(0.05)
        return np.full((1, 2, 2), 7.0, dtype=np.float32)

    threads = [threading.Thread(target=lambda: results.append(cache.get_or_compute("abc", extractor, compute)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert len(results) == 8 and all(np.array_equal(r, results[0]) for r in results)
    assert len(_files(tmp_path)) == 1
