"""Scores of predictions against measured responses."""

from __future__ import annotations

import numpy as np
import pytest

from nforge_app.analysis import mean_pearson, voxelwise_pearson


def test_voxelwise_pearson_matches_corrcoef():
    rng = np.random.default_rng(0)
    pred, true = rng.standard_normal((3, 30, 5)), rng.standard_normal((3, 30, 5))
    true[..., 0] += 2 * pred[..., 0]
    r = voxelwise_pearson(pred, true)
    assert r.shape == (3, 5)
    expected = [[np.corrcoef(pred[i, :, v], true[i, :, v])[0, 1] for v in range(5)] for i in range(3)]
    np.testing.assert_allclose(r, expected, atol=1e-12)
    pred[..., 1] = 4.0  # constant output
    assert voxelwise_pearson(pred, true)[0, 1] == 0.0
    with pytest.raises(ValueError, match="same shape"):
        voxelwise_pearson(pred, true[:, :-1])


def test_mean_pearson_joins_windows_per_subject():
    rng = np.random.default_rng(1)
    pred, true = rng.standard_normal((2, 3, 10, 4)), rng.standard_normal((2, 3, 10, 4))
    joined = [np.concatenate([a[0], a[1]], axis=1) for a in (pred, true)]  # (S, 20, V)
    per = [[np.corrcoef(joined[0][s, :, v], joined[1][s, :, v])[0, 1] for v in range(4)] for s in range(3)]
    assert mean_pearson(pred, true) == pytest.approx(np.mean(per))
