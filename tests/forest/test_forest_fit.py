"""Batched training: a stacked step is the same as stepping each tree alone."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from forest.errors import ForestError
from forest.fit import FitOptions, eval_members, fit_trees
from forest.trees import TreeSpec, batched_forward, build_tree, init_params


def test_grouped_gradients_equal_each_trees_own_gradient() -> None:
    spec = TreeSpec("cnn", (6, 4), 3, hidden=(5,), convs=((4, 2, 1),))
    gen = torch.Generator().manual_seed(0)
    params = {k: v.requires_grad_(True) for k, v in init_params(spec, 3, gen).items()}
    x = torch.randn(3, 8, 6, 4, generator=gen)
    y = torch.randint(3, (3, 8), generator=gen)
    logits = batched_forward(spec, params, x)
    F.cross_entropy(logits.reshape(-1, 3), y.reshape(-1), reduction="none").view(3, 8) \
        .mean(1).sum().backward()
    for t in range(3):
        tree = build_tree(spec, {k: v[t] for k, v in params.items()})
        F.cross_entropy(tree(x[t]), y[t]).backward()
        for name, p in tree.named_parameters():
            assert p.grad is not None and params[name].grad is not None
            torch.testing.assert_close(p.grad, params[name].grad[t], rtol=1e-5, atol=1e-6)


def test_each_tree_learns_its_own_members_only() -> None:
    # Two trees, opposite labels for the same inputs: each must fit its own subset.
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(100, 4, generator=gen)
    y = (x[:, 0] > 0).long()
    feats = torch.cat([x, x])
    labels = torch.cat([y, 1 - y])
    members = torch.stack([torch.arange(100), torch.arange(100, 200)])
    spec = TreeSpec("mlp", (4,), 2, hidden=(8,))
    params = fit_trees(spec, init_params(spec, 2, gen), feats, labels, members,
                       torch.tensor([100, 100]), FitOptions(epochs=30, min_steps=0), gen)
    acc = eval_members(spec, params, feats, labels, members, torch.ones(2, 100, dtype=torch.bool))
    assert acc.min() > 0.9
    none = eval_members(spec, params, feats, labels, members, torch.zeros(2, 100, dtype=torch.bool))
    assert torch.isnan(none).all()


def test_bad_options_and_empty_trees_are_refused() -> None:
    with pytest.raises(ForestError, match="training options out of range"):
        FitOptions(epochs=0)
    spec = TreeSpec("mlp", (2,), 2)
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(ForestError, match="at least one training point"):
        fit_trees(spec, init_params(spec, 1, gen), torch.zeros(3, 2), torch.zeros(3).long(),
                  torch.zeros(1, 1).long(), torch.tensor([0]), FitOptions(), gen)
