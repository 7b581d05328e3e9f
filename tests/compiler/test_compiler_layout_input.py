"""The placement input: router statistics and the checks on trees and pairs."""

import numpy as np
import pytest
from place_helpers import mlp, sized_tree, workload_of

from nfcore.compiler.layout.input import LayerShape, LayoutInput, RouterStats, TreeShape
from nfcore.errors import CompileError


def test_stats_from_selections_count_trees_and_pairs() -> None:
    stats = RouterStats.from_selections([[0, 1], [1, 2], [2, 1], [0, 3]], n_trees=4)
    assert stats.k == 2 and stats.requests == 4
    assert stats.freq.tolist() == [0.5, 0.75, 0.5, 0.25]
    pairs = {tuple(p): f for p, f in zip(stats.pairs.tolist(), stats.co_freq, strict=True)}
    assert pairs == {(0, 1): 0.25, (1, 2): 0.5, (0, 3): 0.25}


def test_tree_sizes_come_from_its_layers() -> None:
    t = mlp("a", [20, 16, 3])
    assert t.in_bytes == 20 and t.out_bytes == 3
    assert t.weight_bytes == sum(layer.weight_bytes for layer in t.layers)


@pytest.mark.parametrize("trees, selections, match", [
    ([sized_tree("a", 10), sized_tree("a", 10)], [[0, 1]], "'a' appears twice"),
    ([TreeShape("a", (LayerShape(4, 8, 64), LayerShape(2, 5, 32))), sized_tree("b", 8)],
     [[0, 1]], "layer 1 takes 5 inputs but layer 0 gives 4"),
    ([sized_tree("a", 0), sized_tree("b", 8)], [[0, 1]], "tree 'a' layer 0"),
    ([sized_tree("a", 8), sized_tree("b", 8)], [[0, 0]], "repeat a tree"),
    ([sized_tree("a", 8), sized_tree("b", 8)], [[0, 2]], "outside 0..1"),
])
def test_bad_workloads_name_the_problem(trees: list[TreeShape], selections: list[list[int]],
                                        match: str) -> None:
    with pytest.raises(CompileError, match=match):
        workload_of(trees, selections)


def test_inconsistent_stats_are_refused() -> None:
    trees = (sized_tree("a", 8), sized_tree("b", 8))
    good = RouterStats.from_selections([[0, 1], [0, 1]], 2)
    too_often = RouterStats(k=good.k, requests=2, freq=np.array([0.5, 1.0]),
                            pairs=good.pairs, co_freq=np.array([1.0]))
    with pytest.raises(CompileError, match=r"pair \(0, 1\) is co-selected in 1"):
        LayoutInput(trees, too_often)
    over_k = RouterStats(k=1, requests=2, freq=np.array([1.0, 1.0]), pairs=good.pairs,
                         co_freq=np.array([1.0]))
    with pytest.raises(CompileError, match="sums to 2 but each request selects at most k = 1"):
        LayoutInput(trees, over_k)
