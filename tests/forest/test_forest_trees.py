"""Trees: structure, specs, the batched forward, and exports that compute what the modules do."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from forest.errors import ForestError
from forest.export import reference_forward
from forest.trees import (
    CNNTree,
    MLPTree,
    RNNTree,
    TreeSpec,
    batched_forward,
    build_tree,
    init_params,
)


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


# -- CNN and RNN trees, specs, and the batched forward -------------------------------------

SPECS = [
    TreeSpec("mlp", (8, 8), 10, hidden=(16,)),
    TreeSpec("cnn", (8, 8), 10, hidden=(12,), convs=((8, 3, 1), (6, 2, 2))),
    TreeSpec("rnn", (16, 3), 4, hidden=(8,), rnn_hidden=12),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.kind)
def test_batched_forward_equals_each_tree_and_its_numpy_export(spec: TreeSpec) -> None:
    gen = torch.Generator().manual_seed(0)
    params = init_params(spec, 4, gen)
    x = torch.randn(4, 5, *spec.input_shape, generator=gen)
    batched = batched_forward(spec, params, x)
    assert batched.shape == (4, 5, spec.n_classes)
    for t in range(4):
        tree = build_tree(spec, {k: v[t] for k, v in params.items()})
        assert tree.n_parameters == spec.n_parameters
        with torch.no_grad():
            one = tree(x[t])
        torch.testing.assert_close(one, batched[t], rtol=1e-5, atol=1e-5)
        ref = reference_forward(tree.export(), x[t].numpy())
        np.testing.assert_allclose(ref, one.numpy(), rtol=1e-4, atol=1e-4)


def test_cnn_matches_torch_conv1d_on_channel_last_rows() -> None:
    # digits: Conv1d with in_channels=8 over length 8, kernels spanning k whole rows.
    torch.manual_seed(1)
    tree = CNNTree(TreeSpec("cnn", (8, 8), 10, convs=((5, 3, 2),)))
    x = torch.randn(7, 8, 8)  # [batch, row, pixel]
    conv = tree.convs[0]
    h = torch.relu(conv(x.transpose(1, 2))).transpose(1, 2)  # channel-last [7, 3, 5]
    expected = tree.linears[0](h.reshape(7, -1))
    torch.testing.assert_close(tree(x), expected)
    (layer,) = tree.conv_layers()
    assert layer.weight.shape == (5, 8, 3) and layer.bias.shape == (5,) and layer.stride == 2
    assert tree.head_layers()[0][0].shape == (10, 3 * 5)


def test_rnn_is_an_elman_cell_over_the_steps() -> None:
    torch.manual_seed(2)
    tree = RNNTree(TreeSpec("rnn", (4, 2), 3, rnn_hidden=5))
    cell = tree.elman_cell()
    assert cell.weight.shape == (5, 2 + 5) and cell.bias.shape == (5,)
    assert (cell.input_size, cell.hidden_size) == (2, 5)
    x = np.random.default_rng(0).normal(size=(1, 4, 2))
    h = np.zeros(5)
    for t in range(4):
        h = np.tanh(cell.weight @ np.concatenate([x[0, t], h]) + cell.bias)
    (w, b, relu), = tree.head_layers()
    assert not relu
    with torch.no_grad():
        got = tree(torch.from_numpy(x).float())[0].numpy()
    np.testing.assert_allclose(got, w @ h + b, rtol=1e-5, atol=1e-5)


def test_mlp_tree_spec_round_trips_and_stays_compatible() -> None:
    tree = MLPTree(6, (7,), 3)
    assert tree.spec == TreeSpec("mlp", (6,), 3, hidden=(7,))
    assert TreeSpec.from_dict(tree.spec.to_dict()) == tree.spec
    assert [k for k in tree.state_dict()] == list(tree.spec.param_shapes())
    assert tree.export().head[0][0].shape == (7, 6)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"kind": "gru", "input_shape": (4, 2), "n_classes": 2}, "kind 'gru' unknown"),
    ({"kind": "cnn", "input_shape": (4,), "n_classes": 2, "convs": ((2, 1, 1),)},
     "read \\(length, channels\\)"),
    ({"kind": "cnn", "input_shape": (4, 2), "n_classes": 2, "convs": ((2, 5, 1),)},
     "kernel 5 is longer"),
    ({"kind": "mlp", "input_shape": (4,), "n_classes": 2, "rnn_hidden": 3},
     "rnn_hidden must be > 0 for rnn trees only"),
    ({"kind": "mlp", "input_shape": (4,), "n_classes": 0}, "positive integers"),
])
def test_bad_specs_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ForestError, match=message):
        TreeSpec(**kwargs)
