"""The traffic model: hop-bytes of a placement, the lower bound, first-fit packing."""


import numpy as np
import pytest
from place_helpers import problem_of, sized_tree, workload_of

from nfcore.compiler.layout.bounds import lower_bound
from nfcore.compiler.layout.synthetic import synthetic_layout_input
from nfcore.compiler.layout.traffic import (
    MeshShape,
    TrafficModel,
    first_fit,
    random_placement,
)


def test_cost_by_hand_on_a_two_by_two_mesh() -> None:
    # Tree a (16 B in, 4 B out) is in every request, b (32 B in, 8 B out) and c (8 B in,
    # 2 B out) each in half of them, always with a.
    mesh = MeshShape(rows=2, cols=2, cap_bytes=1000)
    assert mesh.host_hops.tolist() == [0, 1, 1, 2]
    w = workload_of([sized_tree("a", 100, 16, 4), sized_tree("b", 100, 32, 8),
                     sized_tree("c", 100, 8, 2)], [[0, 1], [0, 1], [0, 2], [0, 2]])
    prob = problem_of(w, mesh)
    # a at core 0 (0 hops from the host's router), b at core 3 (2 hops), c at core 1 (1).
    core_of = np.array([0, 3, 1])
    host = 1.0 * 20 * 0 + 0.5 * 40 * 2 + 0.5 * 10 * 1
    # co-selection exchange: (a, b) in 1/2 of requests, 4 + 8 B, 2 hops apart;
    # (a, c) in 1/2, 4 + 2 B, 1 hop apart.
    pair = 0.5 * 12 * 2 + 0.5 * 6 * 1
    assert prob.cost(core_of) == pytest.approx(host + pair)
    host_only = problem_of(w, mesh, TrafficModel(coselect_weight=0.0))
    assert host_only.cost(core_of) == pytest.approx(host)


def test_first_fit_and_random_placement_respect_capacity() -> None:
    w = synthetic_layout_input(300, seed=2)
    mesh = MeshShape(rows=10, cols=10, cap_bytes=65536)
    prob = problem_of(w, mesh)
    order = np.arange(prob.n_parts)
    core_of, failed = first_fit(prob, order, np.arange(mesh.n_cores))
    assert failed.size == 0
    prob.check_capacity(core_of)
    rnd = random_placement(prob, seed=1)
    prob.check_capacity(rnd)
    assert np.array_equal(rnd, random_placement(prob, seed=1))
    assert lower_bound(prob) <= prob.cost(rnd)
