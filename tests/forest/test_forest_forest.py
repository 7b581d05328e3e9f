"""NeuralForest inference: grouped execution equals tree-by-tree, routing, parameter counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from forest.datasets import Dataset
from forest.errors import ForestError
from forest.export import reference_forward
from forest.forest import NeuralForest
from forest.router import average


def test_grouped_inference_equals_running_each_picked_tree(
        mixed_forest: NeuralForest, digits: Dataset) -> None:
    x = digits.x_test[:40]
    pred = mixed_forest.predict(x)
    feats = mixed_forest.features(x)
    assert feats.shape == (40, *mixed_forest.feature_shape)
    logits = torch.zeros(40, mixed_forest.top_k, 10)
    for n in range(40):
        for j, t in enumerate(pred.trees[n].tolist()):
            with torch.no_grad():
                logits[n, j] = mixed_forest.tree(t)(feats[n : n + 1])[0]
    torch.testing.assert_close(mixed_forest.tree_logits(feats, pred.trees), logits,
                               rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(pred.probs, average(logits, pred.weights), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(pred.probs.sum(1), torch.ones(40))


def test_every_tree_exports_for_the_compiler(mixed_forest: NeuralForest,
                                             digits: Dataset) -> None:
    feats = mixed_forest.features(digits.x_test[:5]).numpy()
    for t in range(mixed_forest.n_trees):
        tree = mixed_forest.tree(t)
        export = tree.export()
        assert export.kind == mixed_forest.tree_kinds()[t]
        with torch.no_grad():
            expected = tree(torch.from_numpy(feats)).numpy()
        np.testing.assert_allclose(reference_forward(export, feats), expected,
                                   rtol=1e-4, atol=1e-4)


def test_routing_within_k_and_restricted_to_a_kind(mixed_forest: NeuralForest,
                                                   digits: Dataset) -> None:
    feats = mixed_forest.features(digits.x_test)
    for k in (1, 2, 3):
        trees, _ = mixed_forest.route(feats, k)
        assert trees.shape == (len(feats), k)
        assert all(len(set(r)) == k for r in trees.tolist())
    kinds = mixed_forest.tree_kinds()
    trees, _ = mixed_forest.route(feats, 2, kind="mlp")
    assert {kinds[t] for t in trees.flatten().tolist()} == {"mlp"}
    with pytest.raises(ForestError, match="no 'rnn' trees"):
        mixed_forest.route(feats, 1, kind="rnn")


def test_params_touched_counts_the_picked_trees(mixed_forest: NeuralForest) -> None:
    per_tree = mixed_forest.tree_n_parameters()
    trees = torch.tensor([[0, 3], [1, 4]])
    expected = mixed_forest.shared_n_parameters + float(per_tree[trees].sum(1).float().mean())
    assert mixed_forest.params_touched(trees) == expected
    stem = mixed_forest.stem
    assert stem is not None
    assert mixed_forest.shared_n_parameters == stem.n_parameters + sum(
        p.numel() for p in mixed_forest.router.parameters())


def test_shared_features_are_computed_once_per_request(mixed_forest: NeuralForest,
                                                       digits: Dataset,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    stem = mixed_forest.stem
    assert stem is not None and mixed_forest.top_k == 2
    calls: list[int] = []
    original = type(stem).forward

    def counting(self, x):  # type: ignore[no-untyped-def]
        calls.append(len(x))
        return original(self, x)

    monkeypatch.setattr(type(stem), "forward", counting)
    mixed_forest.predict(digits.x_test[:30])
    assert calls == [30]  # one stem pass for 30 requests, shared by router and both trees
