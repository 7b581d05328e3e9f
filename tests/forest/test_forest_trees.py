"""MLPTree: structure, and an export that computes what the module computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from forest.errors import ForestError
from forest.trees import MLPTree


def _numpy_forward(layers: list, x: np.ndarray) -> np.ndarray:
    for w, b, relu in layers:
        x = x @ w.T + b
        if relu:
            x = np.maximum(x, 0)
    return x


@pytest.mark.parametrize("hidden", [(), (7,), (16, 5)])
def test_layers_export_matches_forward(hidden: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    tree = MLPTree(6, hidden, 3)
    layers = tree.layers()
    assert [(w.shape, b.shape) for w, b, _ in layers] == [
        ((o, i), (o,)) for i, o in zip((6, *hidden), (*hidden, 3), strict=True)
    ]
    assert [relu for _, _, relu in layers] == [True] * len(hidden) + [False]
    assert all(w.dtype == np.float32 and b.dtype == np.float32 for w, b, _ in layers)
    x = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    with torch.no_grad():
        expected = tree(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(_numpy_forward(layers, x), expected, rtol=1e-5, atol=1e-5)


def test_export_is_a_copy() -> None:
    tree = MLPTree(2, (3,), 2)
    tree.layers()[0][0][:] = 42.0
    assert not torch.any(tree.linears[0].weight == 42.0)


def test_parameter_count_and_bad_widths() -> None:
    assert MLPTree(4, (8,), 3).n_parameters == 4 * 8 + 8 + 8 * 3 + 3
    with pytest.raises(ForestError, match="positive integers"):
        MLPTree(4, (0,), 3)
