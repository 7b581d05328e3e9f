"""Offline datasets, split and standardized the same way every time.

The scikit-learn sets ship inside scikit-learn, the UCR/UEA sequence sets (`basic_motions`,
`japanese_vowels`) inside sktime (`forest.ucr`), and the synthetic ones (`sequence`,
`multitask`, `multitask_seq`) are generated from a seed (`forest.synthetic`), so nothing is
downloaded. Each is split into train and test sets (stratified by class; the multitask sets by
task, so every task is in both), and standardized with the mean and standard deviation of the
training set only (the test set never leaks into the scaling). That scaling is
`Dataset.scaling` (`forest.scaling.InputScaling`); a trained forest keeps it, so rows in the
data's own units can be served.

Rows of `x` are always flat (n, n_features); `Dataset.input_shape` says how a tree reads a row:
(n_features,) for tabular data, (length, channels) channel-last for sequences. `digits` is
(8, 8): the image as a sequence of 8 rows of 8 pixels, which is what CNN and RNN trees read.
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
from forest.scaling import InputScaling
from forest.synthetic import RawData, make_multitask, make_multitask_seq, make_sequence
from forest.ucr import UCR_SETS, load_ucr

_LOADERS: dict[str, Callable[..., Any]] = {
    "breast_cancer": skd.load_breast_cancer,
    "digits": skd.load_digits,
    "iris": skd.load_iris,
    "wine": skd.load_wine,
}

SYNTHETIC: tuple[str, ...] = ("multitask", "multitask_seq", "sequence")

DATASETS: tuple[str, ...] = tuple(sorted((*_LOADERS, *SYNTHETIC, *UCR_SETS)))
"""Names `load_dataset` accepts."""

TEST_FRACTION = 0.25
DEFAULT_TASKS = 16
"""Tasks of `multitask` unless `n_tasks` says otherwise."""


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
    input_shape: tuple[int, ...] = ()
    """How a tree reads one row: (n_features,) or (length, channels); () means flat."""
    task_train: npt.NDArray[np.int64] | None = None
    """(n_train,) task id of each training row, for data made of tasks, else None."""
    task_test: npt.NDArray[np.int64] | None = None
    """(n_test,) task id of each test row, or None."""
    n_tasks: int = 0
    scaling: InputScaling | None = None
    """How raw rows were standardized: x_train = scaling.apply(raw training rows)."""

    @property
    def shape(self) -> tuple[int, ...]:
        """`input_shape`, or (n_features,) when the rows are plain feature vectors."""
        return self.input_shape or (self.n_features,)


def load_dataset(name: str, seed: int = 0, test_fraction: float = TEST_FRACTION, *,
                 n_tasks: int = DEFAULT_TASKS,
                 samples_per_task: int | None = None) -> Dataset:
    """Load dataset `name`, split by `seed`, standardized on train.

    `sequence`, `multitask` and `multitask_seq` are generated from `seed` too; `n_tasks` and
    `samples_per_task` size the multitask sets (None: the generator's default; see
    `forest.synthetic.make_multitask` and `make_multitask_seq`).
    Raises `ForestError` naming the available datasets if `name` is unknown.
    """
    if name not in DATASETS:
        raise ForestError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if not 0.0 < test_fraction < 1.0:
        raise ForestError(f"test_fraction = {test_fraction} must be between 0 and 1")
    raw = _raw(name, seed, n_tasks, samples_per_task)
    x, y = raw.x, raw.y
    t_tr: npt.NDArray[np.int64] | None = None
    t_te: npt.NDArray[np.int64] | None = None
    if raw.task is not None:
        # Rows come grouped by task: the last `test_fraction` of each task's rows are test.
        per_task = len(y) // raw.n_tasks
        n_test = max(1, round(per_task * test_fraction))
        is_test = (np.arange(len(y)) % per_task) >= per_task - n_test
        x_tr, x_te, y_tr, y_te = x[~is_test], x[is_test], y[~is_test], y[is_test]
        t_tr, t_te = raw.task[~is_test], raw.task[is_test]
        t_tr.setflags(write=False)
        t_te.setflags(write=False)
    else:
        x_tr, x_te, y_tr, y_te = train_test_split(
            x, y, test_size=test_fraction, stratify=y, random_state=seed
        )
    scaling = InputScaling.fit(x_tr)
    x_train, x_test = scaling.apply(x_tr), scaling.apply(x_te)
    for a in (x_train, y_tr, x_test, y_te):
        a.setflags(write=False)
    return Dataset(
        name=name,
        x_train=x_train,
        y_train=y_tr,
        x_test=x_test,
        y_test=y_te,
        n_features=int(x.shape[1]),
        n_classes=raw.n_classes,
        input_shape=raw.input_shape,
        task_train=t_tr,
        task_test=t_te,
        n_tasks=raw.n_tasks,
        scaling=scaling,
    )


def _raw(name: str, seed: int, n_tasks: int, samples_per_task: int | None) -> RawData:
    if name == "sequence":
        return make_sequence(seed=seed)
    sized = {} if samples_per_task is None else {"samples_per_task": samples_per_task}
    if name == "multitask":
        return make_multitask(n_tasks=n_tasks, seed=seed, **sized)
    if name == "multitask_seq":
        return make_multitask_seq(n_tasks=n_tasks, seed=seed, **sized)
    if name in UCR_SETS:
        return load_ucr(name)
    bunch = _LOADERS[name]()
    x = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.int64)
    # digits: an 8x8 image read as 8 rows (sequence steps) of 8 pixels (channels).
    shape = (8, 8) if name == "digits" else (int(x.shape[1]),)
    return RawData(x, y, None, shape, int(y.max()) + 1, 0)
