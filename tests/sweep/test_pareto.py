"""Pareto extraction on a hand-made set."""

import math

import pytest

from nfcore.sweep.pareto import pareto_front


def test_front_of_a_hand_made_set() -> None:
    # (latency, energy): 0, 2 and 4 trade off; 1 is beaten by 0 on both; 3 by 2 on energy
    # at equal latency; 5 equals 4 (duplicates are both kept); 6 has a NaN.
    costs = [(1.0, 10.0), (2.0, 11.0), (3.0, 5.0), (3.0, 6.0), (6.0, 1.0), (6.0, 1.0),
             (math.nan, 0.0)]
    assert pareto_front(costs) == [0, 2, 4, 5]


def test_single_point_and_one_objective() -> None:
    assert pareto_front([[3.0, 3.0]]) == [0]
    assert pareto_front([[2.0], [1.0], [1.0]]) == [1, 2]


def test_rejects_a_flat_list() -> None:
    with pytest.raises(ValueError, match="2-D"):
        pareto_front([1.0, 2.0])
