"""Training: accurate enough, and the same weights for the same seed (speed: bench_forest)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from forest.datasets import load_dataset
from forest.errors import ForestError
from forest.train import accuracy, train_mlp


@pytest.mark.parametrize(("name", "floor"), [("wine", 0.95), ("digits", 0.95),
                                              ("breast_cancer", 0.93), ("iris", 0.9)])
def test_accuracy(name: str, floor: float) -> None:
    # Its speed is benchmarks/bench_forest.py's figure, not a wall-clock assertion here: a
    # timed test fails on a shared machine for reasons that are not the code's.
    data = load_dataset(name)
    tree, acc = train_mlp(data, hidden=(32,), seed=0)
    assert acc >= floor
    assert acc == accuracy(tree, data.x_test, data.y_test)


def test_same_seed_same_weights_and_threads_restored() -> None:
    data = load_dataset("wine")
    threads = torch.get_num_threads()
    a, acc_a = train_mlp(data, hidden=(8,), epochs=5, seed=3)
    b, acc_b = train_mlp(data, hidden=(8,), epochs=5, seed=3)
    c, _ = train_mlp(data, hidden=(8,), epochs=5, seed=4)
    assert torch.get_num_threads() == threads
    assert acc_a == acc_b
    for (wa, ba, _), (wb, bb, _) in zip(a.layers(), b.layers(), strict=True):
        np.testing.assert_array_equal(wa, wb)
        np.testing.assert_array_equal(ba, bb)
    assert not np.array_equal(a.layers()[0][0], c.layers()[0][0])


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ForestError, match="epochs = 0"):
        train_mlp(load_dataset("iris"), epochs=0)
