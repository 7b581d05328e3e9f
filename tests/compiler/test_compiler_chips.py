"""The forest over chips (`nfcore.compiler.layout.chips`): every tree placed once, no core over
its SRAM, the most popular trees on the host chip, and a forest too large refused by name."""

from __future__ import annotations

import numpy as np
import pytest

from nfcore.compiler.layout.chips import partition_chips
from nfcore.errors import CompileError


@pytest.mark.parametrize("seed", range(5))
def test_every_tree_placed_once_and_no_core_over_its_sram(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, cores, sram = 200, 9, 4096
    parts = [[int(b) for b in rng.integers(100, 1500, size=rng.integers(1, 4))]
             for _ in range(n)]
    popularity = rng.random(n).tolist()
    slots = partition_chips(parts, popularity, 16, cores, sram)
    assert len(slots) == n
    used: dict[tuple[int, int], int] = {}
    for tree, slot in zip(parts, slots, strict=True):
        assert len(slot.cores) == len(tree) == len(set(slot.cores))  # a core per part
        for core, nbytes in zip(slot.cores, tree, strict=True):
            assert 0 <= core < cores
            used[slot.chip, core] = used.get((slot.chip, core), 0) + nbytes
    assert max(used.values()) <= sram
    assert sum(used.values()) == sum(map(sum, parts))


def test_the_host_chip_holds_the_most_popular_trees() -> None:
    # 12 equal trees, 4 per chip: chip 0 takes the 4 most popular, chip 1 the next 4.
    popularity = [0.1, 0.9, 0.3, 0.8, 0.2, 0.7, 0.05, 0.6, 0.5, 0.4, 0.01, 0.02]
    slots = partition_chips([[1000]] * 12, popularity, 3, 2, 2000)
    by_rank = np.argsort(-np.asarray(popularity))
    assert [slots[t].chip for t in by_rank] == [0] * 4 + [1] * 4 + [2] * 4
    # within chip 0 the hottest trees take distinct cores first
    assert {slots[by_rank[0]].cores, slots[by_rank[1]].cores} == {(0,), (1,)}


def test_a_smaller_tree_fills_room_left_on_an_earlier_chip() -> None:
    slots = partition_chips([[1500], [1500], [400]], [3.0, 2.0, 1.0], 2, 1, 2000)
    assert [s.chip for s in slots] == [0, 1, 0]


def test_a_forest_too_large_names_chips_count() -> None:
    with pytest.raises(CompileError, match=r"chips.count = 2: tree \d+ .* up to 64"):
        partition_chips([[1000]] * 5, [1.0] * 5, 2, 2, 1000)
