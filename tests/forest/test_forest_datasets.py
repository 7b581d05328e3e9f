"""Datasets: offline, stratified, standardized on the training set only, repeatable."""

from __future__ import annotations

import numpy as np
import pytest

from forest.datasets import DATASETS, load_dataset
from forest.errors import ForestError

SHAPES = {"iris": (4, 3), "wine": (13, 3), "breast_cancer": (30, 2), "digits": (64, 10)}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shapes_dtypes_and_standardization(name: str) -> None:
    d = load_dataset(name)
    assert (d.n_features, d.n_classes) == SHAPES[name] and d.name == name
    assert d.x_train.dtype == np.float32 and d.x_test.dtype == np.float32
    assert d.y_train.dtype == np.int64 and d.y_test.dtype == np.int64
    assert d.x_train.shape[1] == d.x_test.shape[1] == d.n_features
    n = len(d.x_train) + len(d.x_test)
    assert len(d.x_test) == pytest.approx(0.25 * n, abs=1)
    np.testing.assert_allclose(d.x_train.mean(axis=0), 0, atol=1e-5)
    std = d.x_train.std(axis=0)
    assert np.all((np.abs(std - 1) < 1e-4) | (std == 0))  # constant features stay 0
    assert not d.x_train.flags.writeable


def test_split_is_stratified() -> None:
    d = load_dataset("wine")
    train = np.bincount(d.y_train) / len(d.y_train)
    test = np.bincount(d.y_test) / len(d.y_test)
    np.testing.assert_allclose(train, test, atol=0.03)


def test_scaling_uses_the_training_set_only() -> None:
    d = load_dataset("digits")
    assert abs(float(d.x_test.mean())) > 1e-4  # the test set is not re-centred


def test_same_seed_same_split_other_seed_other_split() -> None:
    a, b, c = load_dataset("wine", 0), load_dataset("wine", 0), load_dataset("wine", 1)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.y_train, c.y_train) or not np.array_equal(a.x_train, c.x_train)


def test_unknown_name_lists_the_choices() -> None:
    with pytest.raises(ForestError, match="unknown dataset 'mnist'; choose one of "
                                          "breast_cancer, digits, iris, wine"):
        load_dataset("mnist")
    assert DATASETS == ("breast_cancer", "digits", "iris", "wine")
