"""Selective precision: per-layer int8 drops measured on a forest, and the budget check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from forest.datasets import load_dataset
from forest.export import reference_forward
from forest.io import load_forest
from nfcore.compiler.quant.precision import (
    FORMATS,
    LayerPrecision,
    check_budget,
    measure,
    stage_names,
    tree_logits,
)
from nfcore.compiler.quant.tree import quantize_tree
from nfcore.errors import CompileError


@pytest.fixture(scope="module")
def setup(forest_dir: Path):
    forest = load_forest(forest_dir)
    data = load_dataset("digits")
    feats = forest.features(data.x_test)
    exports = [forest.tree(t).export() for t in range(forest.n_trees)]
    calib = forest.features(data.x_train[:300]).numpy()
    quants = [quantize_tree(e, calib, tree_id=t) for t, e in enumerate(exports)]
    return forest, data, feats, exports, quants


def test_float_stages_are_the_reference_and_int8_stages_the_integer_model(setup) -> None:
    _, _, feats, exports, quants = setup
    x = feats[:40].numpy()
    for e, q in zip(exports, quants, strict=True):
        np.testing.assert_allclose(tree_logits(e, q, x, None), reference_forward(e, x),
                                   atol=1e-4)
        # the last stage int8 gives int8 steps of the output scale
        last = tree_logits(e, q, x, len(stage_names(e)) - 1) / q.output_scale
        np.testing.assert_allclose(last, np.rint(last), atol=1e-6)


def test_measure_gives_one_int8_drop_per_kind_and_layer(setup) -> None:
    forest, data, feats, exports, quants = setup
    picks, weights = forest.route(feats)
    layers, acc = measure(exports, quants, feats.numpy(), picks.numpy(), weights.numpy(),
                          data.y_test)
    assert {(p.kind, p.layer) for p in layers} == {
        ("cnn", "conv0"), ("cnn", "dense0"), ("mlp", "dense0"), ("mlp", "dense1"),
        ("rnn", "cell"), ("rnn", "dense0")}
    assert all(p.format in FORMATS and p.trees == 2 for p in layers)
    assert acc["float"] == pytest.approx(forest.accuracy(data.x_test, data.y_test))
    assert abs(acc["int8_drop_pp"]) < 5.0
    assert all(abs(p.drop_pp) < 5.0 for p in layers)


def test_budget_names_each_layer_over_it_and_says_int4_is_missing() -> None:
    layers = [LayerPrecision("mlp", "dense0", 3, "int8", 0.4),
              LayerPrecision("cnn", "conv0", 3, "int8", 2.5)]
    check_budget(layers, 2.5)
    with pytest.raises(CompileError, match=r"cnn conv0: 2\.50 pp.*no packed int4") as info:
        check_budget(layers, 1.0)
    assert "mlp dense0" not in str(info.value)
