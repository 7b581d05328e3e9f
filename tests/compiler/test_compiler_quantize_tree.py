"""Quantizing whole trees: the int8 model tracks the float tree within the documented
tolerance, the tanh LUT and the folded [x; h] scales behave, bad trees are refused.

Documented tolerance (random float trees, 300 calibration and 300 test inputs): the mean
|int8 logit - float logit| is under 8% of the mean |float logit|, and the argmax agrees on
at least 85% of the inputs (random trees have many near-tied logits, so this is a harsh
test of agreement; trained trees are checked by test_compiler_quantize.py). Measured over
40 seeds: relative error mean 2.8/2.9/3.2% (mlp/cnn/rnn), worst 4.6/5.1/5.0%; argmax
agreement mean 98.4/98.1/97.1%, worst 94.0/94.7/90.0%.
"""

from __future__ import annotations

import numpy as np
import pytest
from compiler_helpers import random_tree, tree_inputs

from forest.export import ConvLayer, ElmanCell, TreeExport, reference_forward
from nfcore.compiler.quant.tree import H_SCALE, PRE_SCALE, quantize_tree, tanh_lut
from nfcore.errors import CompileError

REL_LOGIT_ERROR = 0.08
ARGMAX_AGREEMENT = 0.85


@pytest.mark.parametrize("kind", ["mlp", "cnn", "rnn"])
@pytest.mark.parametrize("seed", range(8))
def test_int8_tracks_float_within_tolerance(kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    tree = random_tree(rng, kind)
    x = tree_inputs(rng, tree, 600)
    q = quantize_tree(tree, x[:300])
    f = reference_forward(tree, x[300:]).astype(np.float64)
    g = q.forward(x[300:])
    assert np.abs(f - g).mean() < REL_LOGIT_ERROR * np.abs(f).mean()
    assert np.mean(f.argmax(1) == g.argmax(1)) >= ARGMAX_AGREEMENT


def test_tanh_lut_covers_minus_four_to_four() -> None:
    lut = tanh_lut().astype(int)
    assert abs(PRE_SCALE - 4 / 127) < 1e-15 and abs(H_SCALE - 1 / 127) < 1e-15
    assert lut[128] == 0 and lut[128 + 127] == 127 and lut[128 - 127] == -127
    assert np.all(np.diff(lut) >= 0)  # monotone
    np.testing.assert_array_equal(lut[1:128], -lut[129:256][::-1])  # odd
    assert lut[0] == -127  # -128 * PRE_SCALE saturates like tanh


@pytest.mark.parametrize("x_range", [0.05, 1.0, 20.0])
def test_hidden_state_error_does_not_depend_on_the_input_scale(x_range: float) -> None:
    """x keeps its own scale; the ratio to h's 1/127 is folded into the weight columns."""
    rng = np.random.default_rng(3)
    tree = random_tree(rng, "rnn")
    assert tree.cell is not None
    x = tree_inputs(rng, tree, 400) * x_range
    cell = TreeExport(kind="rnn", input_shape=tree.input_shape, head=[], cell=tree.cell)
    # the same function of the unscaled input: scale the x columns the other way
    w = tree.cell.weight.copy()
    w[:, : tree.cell.input_size] /= x_range
    scaled = ElmanCell(w, tree.cell.bias, tree.cell.input_size, tree.cell.hidden_size)
    tree2 = TreeExport(kind="rnn", input_shape=tree.input_shape, head=tree.head, cell=scaled)
    q = quantize_tree(tree2, x[:200])
    assert q.cell is not None and q.cell.x_scale == pytest.approx(q.input_scale)
    h_float = reference_forward(cell, x[200:] / x_range)
    h_int = q.cell.forward_int(q.quantize_input(x[200:])) * H_SCALE
    assert np.abs(h_float - h_int).mean() < 0.02  # about 2.5 h steps


def test_conv_weights_are_per_output_channel() -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 3, 2)).astype(np.float32)
    w[1] *= 100  # one loud channel must not cost the others their resolution
    tree = TreeExport(kind="cnn", input_shape=(10, 3),
                      convs=[ConvLayer(w, np.zeros(4, np.float32), 1)],
                      head=[(rng.normal(size=(2, 36)).astype(np.float32),
                             np.zeros(2, np.float32), False)])
    q = quantize_tree(tree, rng.normal(size=(50, 10, 3)))
    assert np.abs(q.convs[0].layer.weights).max(axis=1).tolist() == [127] * 4
    assert q.convs[0].layer.weights.shape == (4, 6)


def test_bad_trees_are_refused() -> None:
    rng = np.random.default_rng(0)
    mlp = random_tree(rng, "mlp")
    with pytest.raises(CompileError, match="tree 7: unknown kind 'gru'"):
        quantize_tree(TreeExport(kind="gru", input_shape=(3,), head=mlp.head), np.ones((2, 3)),
                      tree_id=7)
    with pytest.raises(CompileError, match=r"tree 0: calib_x must be \(n >= 1"):
        quantize_tree(mlp, np.ones((2, mlp.input_shape[0] + 1)))
    cnn = random_tree(rng, "cnn")
    bad = TreeExport(kind="cnn", input_shape=cnn.input_shape, convs=cnn.convs,
                     head=[(np.ones((2, 5), np.float32), np.zeros(2, np.float32), False)])
    with pytest.raises(CompileError, match="tree 2: head layer 0 takes 5 inputs but the cnn "
                                           "features are"):
        quantize_tree(bad, tree_inputs(rng, cnn, 4), tree_id=2)
    with pytest.raises(CompileError, match="an rnn tree needs an Elman cell"):
        quantize_tree(TreeExport(kind="rnn", input_shape=(3, 2), head=mlp.head),
                      np.ones((2, 3, 2)))
