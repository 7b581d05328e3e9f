"""compile_forest's calibration bookkeeping: which rows calibrate which tree."""

from __future__ import annotations

import numpy as np
import pytest

from nfcore.compiler.compile_forest import _routed_rows


@pytest.mark.parametrize("top_k", [1, 2, 4])
def test_routed_rows_are_each_trees_rows_in_the_seeded_order(top_k: int) -> None:
    rng = np.random.default_rng(top_k)
    picks = np.stack([rng.choice(50, top_k, replace=False) for _ in range(1000)])
    order = rng.permutation(1000)
    routed = _routed_rows(picks, order, 50)
    assert len(routed) == 50
    for t in range(50):
        # The definition: the rows whose picks hold t, as they come in `order`.
        assert np.array_equal(routed[t], order[np.any(picks[order] == t, axis=1)])


def test_a_tree_no_row_picks_gets_no_rows() -> None:
    routed = _routed_rows(np.array([[0], [0], [2]]), np.array([2, 0, 1]), 4)
    assert [r.tolist() for r in routed] == [[0, 1], [], [2], []]
