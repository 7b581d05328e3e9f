"""The monolith: the narrowest width on the ladder that reaches the target accuracy."""

from __future__ import annotations

from forest.datasets import load_dataset
from forest.fit import FitOptions
from forest.monolith import monolith_spec, size_monolith

QUICK = FitOptions(epochs=150, batch_size=64, min_steps=0)


def test_sizing_stops_at_the_first_width_that_reaches_the_target() -> None:
    data = load_dataset("iris")
    result = size_monolith(data, "mlp", 0.8, QUICK, seed=0, widths=(2, 8, 32))
    assert result.matched and result.accuracy >= 0.8
    assert all(acc < 0.8 for _, acc, _ in result.tried[:-1])
    width = result.tried[-1][0]
    assert result.spec.hidden == (width, width)
    assert result.spec == monolith_spec("mlp", data.shape, data.n_classes, width)
    assert result.n_parameters == result.tree.n_parameters == result.tried[-1][2]


def test_unreachable_target_keeps_the_most_accurate_and_says_so() -> None:
    data = load_dataset("iris")
    result = size_monolith(data, "mlp", 1.01, QUICK, seed=0, widths=(2, 8, 4))
    assert not result.matched and [w for w, _, _ in result.tried] == [2, 8, 4]
    best = max(result.tried, key=lambda r: r[1])
    assert result.accuracy == best[1] and result.n_parameters == best[2]
    assert result.to_dict()["matched"] is False


def test_monolith_kinds_have_the_documented_shapes() -> None:
    assert monolith_spec("mlp", (13,), 3, 16).hidden == (16, 16)
    cnn = monolith_spec("cnn", (8, 8), 10, 16)
    assert cnn.convs == ((16, 3, 1),) and cnn.hidden == (16,)
    assert monolith_spec("rnn", (16, 3), 4, 16).rnn_hidden == 16
