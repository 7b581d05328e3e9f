"""Offline tabular datasets, split and standardized the same way every time.

Only datasets that ship inside scikit-learn are used, so nothing is downloaded. Each is
split into train and test sets stratified by class, and standardized with the mean and
standard deviation of the training set only (the test set never leaks into the scaling).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn import datasets as skd
from sklearn.model_selection import train_test_split

from forest.errors import ForestError

_LOADERS: dict[str, Callable[..., Any]] = {
    "breast_cancer": skd.load_breast_cancer,
    "digits": skd.load_digits,
    "iris": skd.load_iris,
    "wine": skd.load_wine,
}

DATASETS: tuple[str, ...] = tuple(sorted(_LOADERS))
"""Names `load_dataset` accepts."""

TEST_FRACTION = 0.25


@dataclass(frozen=True, eq=False)
class Dataset:
    """A classification dataset, split and standardized.

    Features are float32 and standardized (zero mean and unit variance on the training set;
    features that are constant on the training set are only centred). Labels are int64 in
    ``0 .. n_classes - 1``. The arrays are read-only.
    """

    name: str
    x_train: npt.NDArray[np.float32]
    """(n_train, n_features)"""
    y_train: npt.NDArray[np.int64]
    """(n_train,)"""
    x_test: npt.NDArray[np.float32]
    """(n_test, n_features)"""
    y_test: npt.NDArray[np.int64]
    """(n_test,)"""
    n_features: int
    n_classes: int


def load_dataset(name: str, seed: int = 0, test_fraction: float = TEST_FRACTION) -> Dataset:
    """Load scikit-learn's bundled dataset `name`, split by `seed`, standardized on train.

    Raises `ForestError` naming the available datasets if `name` is unknown.
    """
    if name not in _LOADERS:
        raise ForestError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if not 0.0 < test_fraction < 1.0:
        raise ForestError(f"test_fraction = {test_fraction} must be between 0 and 1")
    bunch = _LOADERS[name]()
    x = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, stratify=y, random_state=seed
    )
    mean = x_tr.mean(axis=0)
    std = x_tr.std(axis=0)
    std[std == 0] = 1.0  # constant features (e.g. digits' border pixels): centre only
    arrays = [
        ((x_tr - mean) / std).astype(np.float32),
        y_tr,
        ((x_te - mean) / std).astype(np.float32),
        y_te,
    ]
    for a in arrays:
        a.setflags(write=False)
    return Dataset(
        name=name,
        x_train=arrays[0],
        y_train=arrays[1],
        x_test=arrays[2],
        y_test=arrays[3],
        n_features=int(x.shape[1]),
        n_classes=int(y.max()) + 1,
    )
