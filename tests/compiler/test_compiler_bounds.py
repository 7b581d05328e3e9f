"""The lower bound: valid against exhaustive search, and its two pairwise rules."""


import itertools

import numpy as np
import pytest
from place_helpers import problem_of, sized_tree, workload_of

from nfcore.compiler.layout.bounds import coupled_bound, host_bound, lower_bound, pair_bound
from nfcore.compiler.layout.synthetic import synthetic_layout_input
from nfcore.compiler.layout.traffic import (
    MeshShape,
    PlacementProblem,
    TrafficModel,
)


def _optimum(prob: PlacementProblem) -> float:
    """The cheapest capacity-respecting placement, by exhaustive search."""
    mesh = prob.mesh
    return min(
        prob.cost(np.array(a)) for a in itertools.product(range(mesh.n_cores), repeat=prob.n_parts)
        if np.bincount(a, weights=prob.part_bytes, minlength=mesh.n_cores).max() <= mesh.cap_bytes
    )


def test_lower_bound_holds_against_every_placement_of_a_small_case() -> None:
    rng = np.random.default_rng(0)
    for case in range(8):
        n = 5
        trees = [sized_tree(f"t{i}", int(rng.integers(1, 9)) * 100,
                            int(rng.integers(1, 64)), int(rng.integers(1, 16)))
                 for i in range(n)]
        sel = [rng.choice(n, 2, replace=False).tolist() for _ in range(12)]
        mesh = MeshShape(rows=2, cols=3, cap_bytes=1000)
        prob = problem_of(workload_of(trees, sel), mesh)
        bound = lower_bound(prob)
        best = np.inf
        for assign in itertools.product(range(mesh.n_cores), repeat=n):
            core_of = np.array(assign)
            used = np.bincount(core_of, weights=prob.part_bytes, minlength=mesh.n_cores)
            if used.max() <= mesh.cap_bytes:
                best = min(best, prob.cost(core_of))
        assert bound <= best + 1e-9, case
        assert bound > 0


def test_star_bound_counts_partners_that_cannot_all_be_near() -> None:
    # A hub co-selected with five partners of 300 bytes on 1,000-byte cores: at most two
    # share its core and the rest are at least one hop away, although any two parts could
    # share a core (so the per-edge rule alone gives 0).
    trees = [sized_tree("hub", 400)] + [sized_tree(f"p{i}", 300) for i in range(5)]
    sel = [[0, i] for i in range(1, 6)]
    mesh = MeshShape(rows=2, cols=3, cap_bytes=1000)
    prob = problem_of(workload_of(trees, sel), mesh)
    assert pair_bound(prob) > 0
    best = min(
        prob.cost(np.array(a)) for a in itertools.product(range(6), repeat=6)
        if np.bincount(a, weights=prob.part_bytes, minlength=6).max() <= 1000
    )
    assert lower_bound(prob) <= best


def test_lower_bound_counts_a_hop_for_parts_that_cannot_share_a_core() -> None:
    mesh = MeshShape(rows=1, cols=2, cap_bytes=1000)
    apart = workload_of([sized_tree("a", 600), sized_tree("b", 600)], [[0, 1]])
    with_pair = lower_bound(problem_of(apart, mesh))
    without = lower_bound(problem_of(apart, mesh, TrafficModel(coselect_weight=0.0)))
    assert with_pair - without == pytest.approx(1.0 * (4 + 4) * 1)
    together = workload_of([sized_tree("a", 500), sized_tree("b", 500)], [[0, 1]])
    with_pair = lower_bound(problem_of(together, mesh))
    without = lower_bound(problem_of(together, mesh, TrafficModel(coselect_weight=0.0)))
    assert with_pair == pytest.approx(without)


@pytest.mark.parametrize("coselect_weight", [1.0, 5.0, 20.0])
def test_coupled_bound_holds_against_every_placement_of_small_cases(
        coselect_weight: float) -> None:
    rng = np.random.default_rng(1)
    mesh = MeshShape(rows=2, cols=3, cap_bytes=1000)
    for case in range(6):
        trees = [sized_tree(f"t{i}", int(rng.integers(1, 9)) * 100,
                            int(rng.integers(1, 64)), int(rng.integers(1, 16)))
                 for i in range(5)]
        sel = [rng.choice(5, 2, replace=False).tolist() for _ in range(12)]
        prob = problem_of(workload_of(trees, sel), mesh, TrafficModel(coselect_weight))
        assert host_bound(prob) - 1e-9 <= coupled_bound(prob) <= _optimum(prob) + 1e-9, case


def test_lower_bound_equals_the_optimum_of_a_tiny_case() -> None:
    # Three trees that each fill a core of a 1 x 3 row, the first and last co-selected.
    trees = [sized_tree("a", 1000, 16, 4), sized_tree("b", 1000, 8, 4),
             sized_tree("c", 1000, 4, 4)]
    prob = problem_of(workload_of(trees, [[0, 2]]), MeshShape(rows=1, cols=3, cap_bytes=1000))
    assert lower_bound(prob) == pytest.approx(_optimum(prob))


def test_coupled_bound_sees_the_tension_between_host_and_pairwise_terms() -> None:
    # Co-selected trees of different host densities: the separate minima cannot both hold.
    prob = problem_of(synthetic_layout_input(300, seed=0), MeshShape(12, 12, 65536))
    separate = host_bound(prob) + pair_bound(prob)
    assert coupled_bound(prob) > 1.05 * separate
    assert lower_bound(prob) == coupled_bound(prob)
