"""Predictions of the four models stay what they were: bit-identical to tests/data/golden_predictions.npz.

The golden file was made by ``tests/_golden.py`` with the code before the trunk/readout split (see its
docstring); on a machine of another fingerprint the kept columns are compared to float32 rounding instead.
"""

from __future__ import annotations

import numpy as np
import pytest

from _golden import CASES, GOLDEN, build_cases, fingerprint, kept_columns, sha256

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN) as stored:
        arrays = dict(stored)
    return arrays, str(arrays["fingerprint"]) == fingerprint()


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return build_cases(tmp_path_factory.mktemp("golden"))


def assert_matches_golden(prediction, golden, name: str) -> None:
    """``prediction`` equals the golden case ``name``: bit for bit on the same machine, else to rounding."""
    arrays, same_machine = golden
    stored = {key.split("__", 1)[1]: value for key, value in arrays.items() if key.startswith(f"{name}__")}
    np.testing.assert_array_equal(prediction.indices, stored["indices"])
    np.testing.assert_array_equal(prediction.times_s, stored["times_s"])
    columns = kept_columns(prediction.data.shape[1])
    np.testing.assert_array_equal(columns, stored["columns"])
    for field in ("data", "spread"):
        value = getattr(prediction, field)
        assert (value is None) == (field not in stored), field
        if value is None:
            continue
        if same_machine:
            assert np.array_equal(value[:, columns], stored[field]), f"{name} {field} differs from the golden"
            assert sha256(value) == str(stored[f"{field}_sha256"]), f"{name} {field} differs from the golden"
        else:
            np.testing.assert_allclose(value[:, columns], stored[field], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", CASES)
def test_predict_and_the_readout_of_the_transform_are_bit_identical_to_the_golden(cases, golden, name):
    model, features, stimulus, subject, indices = cases[name]
    assert_matches_golden(model.predict(features, stimulus, subject, indices), golden, name)
    hidden = model.transform(features, stimulus, subject)
    assert_matches_golden(model.readout(hidden, subject, indices), golden, name)
