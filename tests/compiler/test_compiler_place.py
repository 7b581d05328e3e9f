"""Placement: capacity always holds, results are deterministic, and good."""

import numpy as np
import pytest
from place_helpers import problem_of

from nfcore.compiler.layout.bounds import lower_bound
from nfcore.compiler.layout.place import (
    AnnealSchedule,
    anneal,
    cluster_order,
    greedy_order,
    greedy_placement,
    snake_order,
)
from nfcore.compiler.layout.synthetic import synthetic_layout_input
from nfcore.compiler.layout.traffic import (
    MeshShape,
    PlacementProblem,
    TrafficModel,
    first_fit,
    random_placement,
)

QUICK = AnnealSchedule(rounds=300)


def _problem(n_trees: int, seed: int, rows: int, cols: int, cap: int) -> PlacementProblem:
    return problem_of(synthetic_layout_input(n_trees, seed=seed), MeshShape(rows, cols, cap))


def test_snake_order_visits_every_core_by_host_distance() -> None:
    order = snake_order(3, 4)
    assert sorted(order.tolist()) == list(range(12))
    d = (order % 4) + (order // 4)
    assert np.all(np.diff(d) >= 0)
    xy = np.stack([order % 4, order // 4], axis=1)
    assert np.all(np.abs(np.diff(xy, axis=0)).sum(axis=1) <= 2)  # neighbours on the curve


@pytest.mark.parametrize("coselect_weight", [0.0, 1.0, 100.0])
def test_greedy_keeps_the_cheaper_of_the_two_orders(coselect_weight: float) -> None:
    w = synthetic_layout_input(300, seed=9)
    prob = problem_of(w, MeshShape(10, 10, 65536), TrafficModel(coselect_weight))
    curve = snake_order(10, 10)
    costs = [prob.cost(first_fit(prob, order, curve)[0])
             for order in (greedy_order(prob), cluster_order(prob))]
    core_of, failed = greedy_placement(prob)
    assert failed.size == 0
    assert prob.cost(core_of) == min(costs)
    for order in (greedy_order(prob), cluster_order(prob)):
        assert sorted(order.tolist()) == list(range(prob.n_parts))


def test_capacity_is_never_exceeded_on_random_cases() -> None:
    rng = np.random.default_rng(11)
    annealed = 0
    for case in range(30):
        n = int(rng.integers(20, 200))
        cap = int(rng.choice([8192, 16384, 65536]))
        w = synthetic_layout_input(n, seed=case, k=int(rng.integers(2, 5)),
                               big_tree_fraction=float(rng.uniform(0, 0.2)))
        # A mesh the parts fill to 50..100 % (first-fit may fail on the fullest ones).
        parts_bytes = problem_of(w, MeshShape(1, 1, cap)).part_bytes.sum()
        cores = int(np.ceil(parts_bytes / (cap * rng.uniform(0.5, 1.0))))
        rows = int(rng.integers(1, int(np.sqrt(cores)) + 1))
        cols = -(-cores // rows)
        prob = problem_of(w, MeshShape(rows, cols, cap))
        core_of, failed = greedy_placement(prob)
        placed = core_of >= 0
        assert placed.sum() + failed.size == prob.n_parts
        used = np.bincount(core_of[placed], weights=prob.part_bytes[placed],
                           minlength=rows * cols)
        assert used.max() <= cap, case
        if failed.size:  # the forest does not fit: paging is residency's job
            continue
        annealed += 1
        res = anneal(prob, core_of, seed=case, schedule=AnnealSchedule(rounds=150))
        used = np.bincount(res.core_of, weights=prob.part_bytes, minlength=rows * cols)
        assert used.max() <= cap, case
        assert res.core_of.min() >= 0 and res.core_of.max() < rows * cols
    assert annealed >= 10


def test_incremental_cost_matches_the_full_cost() -> None:
    prob = _problem(400, 3, 10, 10, 65536)
    start, _ = greedy_placement(prob)
    res = anneal(prob, start, seed=0, schedule=QUICK)
    assert res.moves > 0
    assert prob.cost(res.core_of) - prob.cost(start) == pytest.approx(res.predicted_delta,
                                                                       abs=1e-6)
    assert res.predicted_delta < 0


def test_placement_is_deterministic_under_a_seed() -> None:
    prob = _problem(300, 4, 8, 8, 65536)
    start, _ = greedy_placement(prob)
    a = anneal(prob, start, seed=7, schedule=QUICK).core_of
    b = anneal(prob, start, seed=7, schedule=QUICK).core_of
    c = anneal(prob, start, seed=8, schedule=QUICK).core_of
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_placement_beats_random_and_respects_the_lower_bound() -> None:
    prob = _problem(600, 5, 14, 14, 65536)
    start, failed = greedy_placement(prob)
    assert failed.size == 0
    placed = prob.cost(anneal(prob, start, seed=0, schedule=QUICK).core_of)
    random = prob.cost(random_placement(prob, seed=0))
    bound = lower_bound(prob)
    assert bound <= placed < prob.cost(start) <= random
    assert placed < 0.6 * random
