"""Quantization: accuracy against the float tree, requant parameters, refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from compiler_helpers import Trained

from nfcore.arch import isa
from nfcore.compiler.quant.mlp import quantize_mlp, requant_params
from nfcore.errors import CompileError


def test_int8_accuracy_within_one_point_of_float(trained: Trained) -> None:
    d = trained.data
    q = quantize_mlp(trained.tree.layers(), d.x_train)
    int8_acc = float(np.mean(q.predict(d.x_test) == d.y_test))
    assert trained.float_acc >= 0.95
    assert int8_acc >= trained.float_acc - 0.01, (d.name, trained.float_acc, int8_acc)


def test_int8_logits_track_float_logits(trained: Trained) -> None:
    d = trained.data
    q = quantize_mlp(trained.tree.layers(), d.x_train)
    with torch.no_grad():
        logits = trained.tree(torch.from_numpy(d.x_test.copy())).numpy()
    approx = q.dequantize_output(q.forward_int(q.quantize_input(d.x_test)))
    assert np.mean(np.abs(approx - logits)) < q.output_scale  # under one output step
    assert np.mean(approx.argmax(axis=1) == logits.argmax(axis=1)) >= 0.98


def test_scales_and_ranges(trained: Trained) -> None:
    q = quantize_mlp(trained.tree.layers(), trained.data.x_train)
    x = trained.data.x_train
    assert q.input_scale == pytest.approx(np.percentile(np.abs(x), 99.9) / 127)
    for prev, layer in zip(q.layers, q.layers[1:], strict=False):
        assert layer.in_scale == prev.out_scale
    for layer in q.layers:
        assert layer.weights.dtype == np.int8 and np.abs(layer.weights).max() == 127
        assert layer.mult.dtype == np.uint16 and layer.shift.max() <= isa.MAX_SHIFT
        assert layer.mult.min() >= 1 << 15  # as large as fits: 16 significant bits
    assert q.shapes == [(w.shape[0], w.shape[1]) for w, _, _ in trained.tree.layers()]
    with torch.no_grad():  # the logits are scaled by max-abs so that none saturates
        logits = trained.tree(torch.from_numpy(x.copy())).numpy()
    assert q.output_scale == pytest.approx(np.abs(logits).max() / 127, rel=1e-5)


@pytest.mark.parametrize("ratio", [1e-9, 3.3e-4, 0.0123, 0.5, 0.99999, 1.0, 7.7, 40000.0])
def test_requant_params_are_close_and_maximal(ratio: float) -> None:
    mult, shift = requant_params(ratio)
    assert 0 <= shift <= isa.MAX_SHIFT and 1 << 15 <= mult < 1 << 16
    assert math.isclose(mult / 2**shift, ratio, rel_tol=2**-15)


def test_requant_params_edges() -> None:
    assert requant_params(0.0) == (0, 0)
    mult, shift = requant_params(2.0**-60)  # below the largest shift: fewer mult bits
    assert shift == isa.MAX_SHIFT and mult == round(2.0**-13)
    assert requant_params(65535.0) == (65535, 0)
    with pytest.raises(CompileError, match="uint16"):
        requant_params(70000.0)


def test_quantize_input_rounds_and_saturates() -> None:
    w = np.eye(2, dtype=np.float32)
    q = quantize_mlp([(w, np.zeros(2, np.float32), False)], np.array([[1.27, -1.27]]),
                     calib_percentile=100.0)
    assert q.input_scale == pytest.approx(0.01)
    got = q.quantize_input(np.array([[0.005, 0.0151], [5.0, -5.0]]))
    assert got.tolist() == [[0, 2], [127, -128]]


def test_accumulator_overflow_names_the_layer() -> None:
    rng = np.random.default_rng(0)
    layers = [(rng.normal(size=(8, 64)), np.zeros(8), True),
              (rng.normal(size=(4, 8)), np.zeros(4), False)]
    x = rng.normal(size=(50, 64))
    quantize_mlp(layers, x, acc_bits=32)
    with pytest.raises(CompileError, match=r"layer 0 \(8x64\).*acc_bits = 16.*core\.acc_bits"):
        quantize_mlp(layers, x, acc_bits=16)


def test_bad_models_are_refused() -> None:
    w, b = np.ones((3, 4)), np.zeros(3)
    with pytest.raises(CompileError, match="no layers"):
        quantize_mlp([], np.ones((2, 4)))
    with pytest.raises(CompileError, match="layer 1 takes 5 inputs but layer 0 gives 3"):
        quantize_mlp([(w, b, True), (np.ones((2, 5)), np.zeros(2), False)], np.ones((2, 4)))
    with pytest.raises(CompileError, match=r"calib_x must have shape \(n >= 1, 4\)"):
        quantize_mlp([(w, b, False)], np.ones((2, 3)))
    with pytest.raises(CompileError, match="NaN"):
        quantize_mlp([(w * np.nan, b, False)], np.ones((2, 4)))


def test_zero_rows_and_dead_layers_quantize() -> None:
    w = np.array([[0.0, 0.0], [1.0, -2.0]])
    q = quantize_mlp([(w, np.array([0.0, -100.0]), True)], np.array([[1.0, 1.0]]))
    # row 0 is all zero and row 1 is always negative: every output is 0
    assert q.forward_int(np.array([[127, -128], [5, 5]])).tolist() == [[0, 0], [0, 0]]
