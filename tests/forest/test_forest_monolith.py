"""The monolith: a ladder of (width, depth), early stopping on a validation split carved from
the training split, stopping at the first rung that reaches the target."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from forest.datasets import Dataset, load_dataset
from forest.errors import ForestError
from forest.monolith import (
    MonolithFit,
    monolith_spec,
    size_monolith,
    train_monolith,
    validation_split,
)

QUICK = MonolithFit(max_epochs=150, patience=20, batch_size=32)


@pytest.fixture(scope="module")
def iris() -> Dataset:
    return load_dataset("iris")


def test_validation_rows_come_from_the_training_split_only(iris: Dataset) -> None:
    marked = replace(iris, x_test=np.asarray(iris.x_test) + 100.0)  # no test row in train
    x_fit, y_fit, x_val, y_val = validation_split(marked, 0.2, seed=0)
    assert len(x_val) == 23
    rows = sorted(r.tobytes() for r in torch.cat([x_fit, x_val]).numpy())
    assert rows == sorted(r.tobytes() for r in np.asarray(iris.x_train))
    assert sorted(np.bincount(y_val.numpy()).tolist()) == [7, 8, 8]  # stratified


def test_early_stopping_stops_after_patience_without_a_better_validation_pass(
        iris: Dataset) -> None:
    x_fit, y_fit, x_val, y_val = validation_split(iris, 0.2, seed=0)
    # Validation labels that no pass can learn: the best pass is early, then it stops.
    noise = torch.randint(3, y_val.shape, generator=torch.Generator().manual_seed(1))
    spec = monolith_spec("mlp", iris.shape, iris.n_classes, 8, 1)
    fit = MonolithFit(max_epochs=500, patience=5, batch_size=32)
    t = train_monolith(spec, (x_fit, y_fit, x_val, noise), fit, seed=0)
    assert t.epochs == t.best_epoch + 5 < 500
    # On the true labels it learns, and the kept weights are those of the best pass.
    t = train_monolith(spec, (x_fit, y_fit, x_val, y_val), QUICK, seed=0)
    with torch.no_grad():
        acc = float((t.tree(x_val.reshape(len(x_val), -1)).argmax(1) == y_val).float().mean())
    assert acc == t.val_accuracy > 0.8 and t.best_epoch <= t.epochs


def test_ladder_stops_at_the_first_rung_that_reaches_the_target(iris: Dataset) -> None:
    result = size_monolith(iris, "mlp", 0.8, QUICK, seed=0,
                           ladder=((1, 1), (2, 1), (16, 2), (64, 2)))
    vals = [r.val_accuracy for r in result.tried]
    assert result.reached_on_validation and vals[-1] >= 0.8
    assert all(v < 0.8 for v in vals[:-1]) and len(vals) < 4
    last = result.tried[-1]
    assert result.spec == monolith_spec("mlp", iris.shape, iris.n_classes, last.width,
                                        last.depth)
    assert result.accuracy == last.test_accuracy
    assert result.matched == (last.test_accuracy >= 0.8)
    assert result.n_parameters == result.tree.n_parameters == last.n_parameters


def test_the_test_split_does_not_choose(iris: Dataset) -> None:
    scrambled = replace(iris, y_test=np.roll(iris.y_test, 1))
    a = size_monolith(iris, "mlp", 0.9, QUICK, seed=0, ladder=((2, 1), (16, 1)))
    b = size_monolith(scrambled, "mlp", 0.9, QUICK, seed=0, ladder=((2, 1), (16, 1)))
    assert [(r.width, r.val_accuracy) for r in a.tried] == \
        [(r.width, r.val_accuracy) for r in b.tried]


def test_unreachable_target_keeps_the_best_on_validation_and_says_so(iris: Dataset) -> None:
    result = size_monolith(iris, "mlp", 1.01, QUICK, seed=0, ladder=((1, 1), (8, 1), (2, 1)))
    assert not result.matched and not result.reached_on_validation
    assert [r.width for r in result.tried] == [1, 8, 2]
    best = max(result.tried, key=lambda r: r.val_accuracy)
    assert result.accuracy == best.test_accuracy and result.n_parameters == best.n_parameters
    assert result.to_dict()["matched"] is False and len(result.trees) == 3


def test_monolith_kinds_have_the_documented_shapes() -> None:
    assert monolith_spec("mlp", (13,), 3, 16).hidden == (16, 16)
    assert monolith_spec("mlp", (13,), 3, 16, depth=3).hidden == (16, 16, 16)
    cnn = monolith_spec("cnn", (8, 8), 10, 16, depth=2)
    assert cnn.convs == ((16, 3, 1),) * 2 and cnn.hidden == (16,)
    rnn = monolith_spec("rnn", (16, 3), 4, 16, depth=2)
    assert rnn.rnn_hidden == 16 and rnn.hidden == (16,)
    with pytest.raises(ForestError, match="depth = 0"):
        monolith_spec("mlp", (13,), 3, 16, depth=0)
