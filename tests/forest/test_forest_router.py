"""Router: top-k picks, confidence-weighted averaging, training on regions."""

from __future__ import annotations

import math

import pytest
import torch

from forest.errors import ForestError
from forest.router import (
    Router,
    average,
    balance_loss,
    fit_router,
    router_accuracy,
    router_picks,
    top_k,
)


def test_picks_stay_within_k_distinct_and_allowed() -> None:
    gen = torch.Generator().manual_seed(0)
    scores = torch.rand(200, 9, generator=gen)
    for k in (1, 2, 5, 9):
        trees, weights = top_k(scores, k)
        assert trees.shape == weights.shape == (200, k)
        assert all(len(set(row.tolist())) == k for row in trees)
        torch.testing.assert_close(weights.sum(1), torch.ones(200))
        # the k picked are the k best
        assert torch.equal(scores.gather(1, trees).min(1).values,
                           torch.topk(scores, k, dim=1).values[:, -1])
    allowed = torch.tensor([i % 3 == 0 for i in range(9)])
    trees, _ = top_k(scores, 3, allowed)
    assert set(trees.flatten().tolist()) <= {0, 3, 6}


def test_ties_go_to_the_lower_index() -> None:
    trees, weights = top_k(torch.tensor([[0.2, 0.4, 0.4, 0.0]]), 2)
    assert trees.tolist() == [[1, 2]] and weights.tolist() == [[0.5, 0.5]]


@pytest.mark.parametrize("k", [0, 4])
def test_k_out_of_range_is_refused(k: int) -> None:
    with pytest.raises(ForestError, match=f"top-k = {k} must be between 1 and the 3"):
        top_k(torch.rand(2, 3), k)


def test_averaging_equals_a_hand_computed_case() -> None:
    # Router scores 0.5, 0.3, 0.2 over three trees; k = 2 picks trees 0 and 1 with weights
    # 0.5/0.8 and 0.3/0.8. Tree 0's logits (ln 3, 0) give probs (0.75, 0.25); tree 1's
    # (0, ln 4) give (0.2, 0.8). Average: 0.625*0.75 + 0.375*0.2 = 0.54375, and 0.45625.
    scores = torch.tensor([[0.5, 0.3, 0.2]])
    trees, weights = top_k(scores, 2)
    assert trees.tolist() == [[0, 1]]
    torch.testing.assert_close(weights, torch.tensor([[0.625, 0.375]]))
    logits = torch.tensor([[[math.log(3.0), 0.0], [0.0, math.log(4.0)]]])
    probs = average(logits, weights)
    torch.testing.assert_close(probs, torch.tensor([[0.54375, 0.45625]]))


def test_tree_scores_are_region_probabilities() -> None:
    router = Router(2, torch.tensor([0, 1, 0, 1]))  # two kinds share two regions
    emb = torch.randn(5, 2)
    scores = router.tree_scores(emb)
    probs = torch.softmax(router(emb), 1)
    torch.testing.assert_close(scores, probs[:, [0, 1, 0, 1]])


def test_centroid_init_routes_to_the_nearest_centroid_and_training_keeps_it() -> None:
    gen = torch.Generator().manual_seed(0)
    centroids = torch.tensor([[4.0, 0.0], [-4.0, 0.0], [0.0, 4.0]])
    label = torch.randint(3, (300,), generator=gen)
    emb = centroids[label] + 0.5 * torch.randn(300, 2, generator=gen)
    router = Router(2, torch.arange(3))
    router.init_from_centroids(centroids)
    with torch.no_grad():
        assert float((router(emb).argmax(1) == label).float().mean()) > 0.95
    acc = fit_router(router, emb, label, steps=50, lr=1e-2, gen=gen)
    assert acc > 0.95


def test_training_that_hurts_keeps_the_centroid_start() -> None:
    gen = torch.Generator().manual_seed(0)
    centroids = torch.tensor([[4.0, 0.0], [-4.0, 0.0], [0.0, 4.0]])
    label = torch.randint(3, (300,), generator=gen)
    emb = centroids[label] + 0.5 * torch.randn(300, 2, generator=gen)
    router = Router(2, torch.arange(3))
    router.init_from_centroids(centroids)
    start = router.linear.weight.detach().clone()
    start_acc = router_accuracy(router, emb, label)
    # A step size far too large: one Adam step of 50 per weight wrecks the router; undone.
    acc = fit_router(router, emb, label, steps=1, lr=50.0, gen=gen)
    assert torch.equal(router.linear.weight, start) and acc == start_acc > 0.95


def test_balance_loss_makes_every_region_serve_where_labels_alone_do_not() -> None:
    # Uninformative embeddings and skewed region labels: cross-entropy alone learns the
    # prior and leaves a region without rows; the load-balancing loss spreads them.
    gen = torch.Generator().manual_seed(0)
    emb = torch.randn(400, 4, generator=gen)
    label = torch.multinomial(torch.tensor([0.55, 0.25, 0.15, 0.05]), 400, replacement=True,
                              generator=gen)
    centroids = torch.stack([emb[label == r].mean(0) for r in range(4)])
    served = {}
    for balance in (0.0, 1.0):
        router = Router(4, torch.arange(4))
        router.init_from_centroids(centroids)
        fit_router(router, emb, label, steps=300, lr=1e-2,
                   gen=torch.Generator().manual_seed(1), balance=balance)
        served[balance] = len(set(router_picks(router, emb).tolist()))
    assert served == {0.0: 3, 1.0: 4}


def test_balance_loss_is_one_when_uniform_and_the_region_count_when_collapsed() -> None:
    uniform = torch.zeros(8, 4)
    uniform[torch.arange(8), torch.arange(8) % 4] = 1e-3  # argmax spreads evenly
    assert math.isclose(float(balance_loss(uniform)), 1.0, rel_tol=1e-3)
    collapsed = torch.tensor([[50.0, 0.0, 0.0, 0.0]]).repeat(8, 1)
    assert math.isclose(float(balance_loss(collapsed)), 4.0, rel_tol=1e-3)


def test_picks_equal_a_stable_sort_cut_at_k_when_scores_tie() -> None:
    gen = torch.Generator().manual_seed(1)
    scores = torch.randint(0, 4, (300, 12), generator=gen).float() / 4  # many ties
    for k in (1, 3, 7, 12):
        trees, _ = top_k(scores, k)
        expected = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
        assert torch.equal(trees, expected)


def test_the_export_is_the_router_as_a_one_layer_mlp() -> None:
    """What the compiler compiles computes the router's region logits, and the scores of
    those logits are its tree scores."""
    import numpy as np

    from forest.export import reference_forward

    torch.manual_seed(0)
    router = Router(6, torch.tensor([0, 0, 1, 2, 2]))
    export = router.export()
    assert (export.kind, export.input_shape, len(export.head)) == ("mlp", (6,), 1)
    assert export.head[0][2] is False, "logits: no ReLU"
    emb = torch.randn(8, 6)
    logits = reference_forward(export, emb.numpy())
    np.testing.assert_allclose(logits, router(emb).detach().numpy(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(router.scores_of_logits(torch.as_tensor(logits)),
                               router.tree_scores(emb), rtol=1e-5, atol=1e-6)
