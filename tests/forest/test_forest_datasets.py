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
                                          "basic_motions, breast_cancer, digits, iris, "
                                          "japanese_vowels, multitask, multitask_seq, "
                                          "sequence, wine"):
        load_dataset("mnist")
    assert DATASETS == ("basic_motions", "breast_cancer", "digits", "iris", "japanese_vowels",
                        "multitask", "multitask_seq", "sequence", "wine")


def test_input_shapes_say_how_trees_read_rows() -> None:
    assert load_dataset("digits").shape == (8, 8)  # 8 rows (steps) of 8 pixels (channels)
    assert load_dataset("sequence").shape == (16, 3)
    assert load_dataset("wine").shape == (13,)
    d = load_dataset("digits")
    # Row-major: step r of row n is pixels 8r .. 8r+7 of the flat row.
    np.testing.assert_array_equal(d.x_train.reshape(-1, 8, 8)[5, 2], d.x_train[5, 16:24])


def test_sequence_task_is_seeded_and_balanced() -> None:
    a, b, c = load_dataset("sequence", 0), load_dataset("sequence", 0), load_dataset("sequence", 1)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)
    assert a.n_classes == 4 and a.task_train is None
    assert np.bincount(a.y_train).min() > 0.15 * len(a.y_train)


def test_multitask_splits_every_task_into_train_and_test() -> None:
    d = load_dataset("multitask", n_tasks=5, samples_per_task=20)
    assert d.n_tasks == 5 and d.task_train is not None and d.task_test is not None
    np.testing.assert_array_equal(np.bincount(d.task_train), [15] * 5)
    np.testing.assert_array_equal(np.bincount(d.task_test), [5] * 5)
    assert len(d.task_train) == len(d.x_train) and len(d.task_test) == len(d.x_test)


def test_multitask_scales_to_ten_thousand_tasks_reproducibly() -> None:
    a = load_dataset("multitask", n_tasks=10_000, samples_per_task=4, seed=3)
    b = load_dataset("multitask", n_tasks=10_000, samples_per_task=4, seed=3)
    assert a.n_tasks == 10_000 and len(a.x_train) == 30_000
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.y_train, b.y_train)


def test_multitask_rules_differ_between_tasks() -> None:
    # Within a task the label is linear in the payload; pooled over tasks it is not.
    from sklearn.linear_model import LogisticRegression

    from forest.synthetic import make_multitask

    raw = make_multitask(n_tasks=12, samples_per_task=60, payload_dim=6, seed=0)
    payload = raw.x[:, -6:]
    assert raw.task is not None
    own = [LogisticRegression(C=100.0, max_iter=2000)
           .fit(payload[raw.task == t], raw.y[raw.task == t])
           .score(payload[raw.task == t], raw.y[raw.task == t]) for t in range(12)]
    pooled = LogisticRegression(max_iter=2000).fit(payload, raw.y).score(payload, raw.y)
    assert np.mean(own) > 0.95
    assert pooled < 0.6


@pytest.mark.parametrize("kwargs", [{"n_tasks": 0}, {"n_tasks": 200_000},
                                    {"samples_per_task": 1}])
def test_bad_multitask_sizes_are_refused(kwargs: dict) -> None:
    with pytest.raises(ForestError, match="make_multitask"):
        load_dataset("multitask", **kwargs)


def test_multitask_seq_rows_are_sequences_split_by_task_and_seeded() -> None:
    a = load_dataset("multitask_seq", n_tasks=6, samples_per_task=40, seed=2)
    b = load_dataset("multitask_seq", n_tasks=6, samples_per_task=40, seed=2)
    c = load_dataset("multitask_seq", n_tasks=6, samples_per_task=40, seed=3)
    # 2 code steps + 12 signal steps, 4 channels, channel-last flat rows
    assert a.shape == (14, 4) and a.n_features == 56 and a.n_classes == 3 and a.n_tasks == 6
    assert a.task_train is not None and a.task_test is not None
    np.testing.assert_array_equal(np.bincount(a.task_train), [30] * 6)
    np.testing.assert_array_equal(np.bincount(a.task_test), [10] * 6)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.x_train, c.x_train)
    assert np.bincount(a.y_train, minlength=3).min() > 0.2 * len(a.y_train)
    # fewer tasks than rule families still works (only the motif family)
    assert load_dataset("multitask_seq", n_tasks=1, samples_per_task=8).n_tasks == 1


def test_multitask_seq_code_steps_name_the_task_and_position_rules_are_linear() -> None:
    from sklearn.linear_model import LogisticRegression

    from forest.synthetic import RULE_STEPS, SEQ_FAMILIES, make_multitask_seq

    raw = make_multitask_seq(n_tasks=9, samples_per_task=120, seed=0)
    assert raw.task is not None and raw.input_shape == (14, 4)
    seq = raw.x.reshape(len(raw.x), *raw.input_shape)
    # The first 2 steps are the task's code: nearest code centroid recovers the task.
    code = seq[:, :2].reshape(len(seq), -1)
    centroids = np.stack([code[raw.task == t].mean(0) for t in range(9)])
    nearest = ((code[:, None, :] - centroids[None]) ** 2).sum(2).argmin(1)
    assert np.mean(nearest == raw.task) > 0.99
    # A position task's label is linear in its signal (RULE_STEPS steps of it); pooled over
    # the position tasks it is not, so each task needs its own rule.
    pos = [t for t in range(9) if SEQ_FAMILIES[t % 3] == "position"]
    signal = seq[:, 2:].reshape(len(seq), -1)
    own = [LogisticRegression(C=100.0, max_iter=5000)
           .fit(signal[raw.task == t], raw.y[raw.task == t])
           .score(signal[raw.task == t], raw.y[raw.task == t]) for t in pos]
    assert RULE_STEPS < 12 and min(own) > 0.95
    rows = np.isin(raw.task, pos)
    pooled = LogisticRegression(max_iter=5000).fit(signal[rows], raw.y[rows])
    assert pooled.score(signal[rows], raw.y[rows]) < 0.75


@pytest.mark.parametrize("kwargs", [{"n_tasks": 0}, {"samples_per_task": 1}])
def test_bad_multitask_seq_sizes_are_refused(kwargs: dict) -> None:
    with pytest.raises(ForestError, match="make_multitask_seq"):
        load_dataset("multitask_seq", **kwargs)


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a network connection fails the test."""
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a dataset loader tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize(("name", "rows", "classes", "shape"), [
    ("japanese_vowels", 640, 9, (29, 12)),
    ("basic_motions", 80, 4, (100, 6)),
])
def test_ucr_sets_load_offline_with_their_shapes_and_classes(
        no_network: None, name: str, rows: int, classes: int, shape: tuple[int, int]) -> None:
    d = load_dataset(name)
    assert len(d.x_train) + len(d.x_test) == rows and d.n_classes == classes
    assert d.input_shape == shape and d.n_features == shape[0] * shape[1]
    assert set(np.unique(d.y_test)) == set(range(classes))  # stratified: every class in test
    assert np.isfinite(d.x_train).all()
