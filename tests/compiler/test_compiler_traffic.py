"""The traffic model: hop-bytes of a placement, the lower bound, first-fit packing."""

import itertools

import numpy as np
import pytest
from place_helpers import sized_tree, workload_of

from nfcore.compiler.partition import PartSizer, plan_tree
from nfcore.compiler.synthetic import synthetic_workload
from nfcore.compiler.traffic import (
    Mesh,
    PlacementProblem,
    TrafficModel,
    build_problem,
    first_fit,
    lower_bound,
    random_placement,
)
from nfcore.compiler.workload import Workload

SIZER = PartSizer(lanes=8, acc_bytes=4)


def _problem(w: Workload, mesh: Mesh, model: TrafficModel | None = None) -> PlacementProblem:
    plans = [plan_tree(t, i, mesh.cap_bytes, SIZER) for i, t in enumerate(w.trees)]
    return build_problem(w, plans, mesh, model or TrafficModel())


def test_cost_by_hand_on_a_two_by_two_mesh() -> None:
    # Tree a (16 B in, 4 B out) is in every request, b (32 B in, 8 B out) and c (8 B in,
    # 2 B out) each in half of them, always with a.
    mesh = Mesh(rows=2, cols=2, cap_bytes=1000)
    assert mesh.host_hops.tolist() == [1, 2, 2, 3]
    w = workload_of([sized_tree("a", 100, 16, 4), sized_tree("b", 100, 32, 8),
                     sized_tree("c", 100, 8, 2)], [[0, 1], [0, 1], [0, 2], [0, 2]])
    prob = _problem(w, mesh)
    # a at core 0 (1 hop), b at core 3 (3 hops), c at core 1 (2 hops).
    core_of = np.array([0, 3, 1])
    host = 1.0 * 20 * 1 + 0.5 * 40 * 3 + 0.5 * 10 * 2
    # co-selection exchange: (a, b) in 1/2 of requests, 4 + 8 B, 2 hops apart;
    # (a, c) in 1/2, 4 + 2 B, 1 hop apart.
    pair = 0.5 * 12 * 2 + 0.5 * 6 * 1
    assert prob.cost(core_of) == pytest.approx(host + pair)
    host_only = _problem(w, mesh, TrafficModel(coselect_weight=0.0))
    assert host_only.cost(core_of) == pytest.approx(host)


def test_lower_bound_holds_against_every_placement_of_a_small_case() -> None:
    rng = np.random.default_rng(0)
    for case in range(8):
        n = 5
        trees = [sized_tree(f"t{i}", int(rng.integers(1, 9)) * 100,
                            int(rng.integers(1, 64)), int(rng.integers(1, 16)))
                 for i in range(n)]
        sel = [rng.choice(n, 2, replace=False).tolist() for _ in range(12)]
        mesh = Mesh(rows=2, cols=3, cap_bytes=1000)
        prob = _problem(workload_of(trees, sel), mesh)
        bound = lower_bound(prob)
        best = np.inf
        for assign in itertools.product(range(mesh.n_cores), repeat=n):
            core_of = np.array(assign)
            used = np.bincount(core_of, weights=prob.part_bytes, minlength=mesh.n_cores)
            if used.max() <= mesh.cap_bytes:
                best = min(best, prob.cost(core_of))
        assert bound <= best + 1e-9, case
        assert bound > 0


def test_lower_bound_counts_a_hop_for_parts_that_cannot_share_a_core() -> None:
    mesh = Mesh(rows=1, cols=2, cap_bytes=1000)
    apart = workload_of([sized_tree("a", 600), sized_tree("b", 600)], [[0, 1]])
    with_pair = lower_bound(_problem(apart, mesh))
    without = lower_bound(_problem(apart, mesh, TrafficModel(coselect_weight=0.0)))
    assert with_pair - without == pytest.approx(1.0 * (4 + 4) * 1)
    together = workload_of([sized_tree("a", 500), sized_tree("b", 500)], [[0, 1]])
    with_pair = lower_bound(_problem(together, mesh))
    without = lower_bound(_problem(together, mesh, TrafficModel(coselect_weight=0.0)))
    assert with_pair == pytest.approx(without)


def test_first_fit_and_random_placement_respect_capacity() -> None:
    w = synthetic_workload(300, seed=2)
    mesh = Mesh(rows=10, cols=10, cap_bytes=65536)
    prob = _problem(w, mesh)
    order = np.arange(prob.n_parts)
    core_of, failed = first_fit(prob, order, np.arange(mesh.n_cores))
    assert failed.size == 0
    prob.check_capacity(core_of)
    rnd = random_placement(prob, seed=1)
    prob.check_capacity(rnd)
    assert np.array_equal(rnd, random_placement(prob, seed=1))
    assert lower_bound(prob) <= prob.cost(rnd)
