"""The input scaling a forest keeps: fitted on the training split, applied as training did."""

from __future__ import annotations

import numpy as np
import pytest

from forest.datasets import Dataset
from forest.errors import ForestError
from forest.scaling import InputScaling


def test_the_dataset_s_scaling_is_the_training_split_s(digits: Dataset) -> None:
    s = digits.scaling
    assert s is not None and s.n_features == 64
    assert np.allclose(digits.x_train.mean(axis=0), 0, atol=1e-5)
    assert (s.std[s.std != 1.0] > 0).all() and s.std[0] == 1.0  # a constant border pixel
    raw = digits.x_test.astype(np.float64) * s.std + s.mean  # back to pixels 0..16
    assert np.allclose(raw, np.rint(raw), atol=1e-4) and raw.max() == pytest.approx(16)
    assert np.array_equal(s.apply(np.rint(raw)), digits.x_test)


def test_round_trip_and_refusals() -> None:
    s = InputScaling.fit(np.array([[0.0, 1.0], [2.0, 1.0]]))
    assert s.mean.tolist() == [1.0, 1.0] and s.std.tolist() == [1.0, 1.0]
    back = InputScaling.from_dict(s.to_dict())
    assert back.mean.tolist() == s.mean.tolist() and back.std.tolist() == s.std.tolist()
    with pytest.raises(ForestError, match="std finite and > 0"):
        InputScaling(np.zeros(2), np.array([1.0, 0.0]))
    with pytest.raises(ForestError, match="n_features 3 but 2 means"):
        InputScaling.from_dict({**s.to_dict(), "n_features": 3})
    with pytest.raises(ForestError, match="rows of 3 features, the scaling has 2"):
        s.apply(np.zeros((1, 3)))
