"""Residency: the most requested bytes stay resident; impossible trees fail clearly."""

import numpy as np
import pytest
from place_helpers import config, mlp, sized_tree

from nfcore.compiler.layout.input import LayoutInput, RouterStats
from nfcore.compiler.layout.partition import PartSizer, plan_tree
from nfcore.compiler.layout.place import AnnealSchedule
from nfcore.compiler.layout.residency import choose_residency
from nfcore.compiler.layout.stages import compile_layout, mesh_of
from nfcore.errors import CompileError

QUICK = AnnealSchedule(rounds=50)


def _workload(sizes: list[int], freq: list[float], k: int = 2) -> LayoutInput:
    trees = tuple(sized_tree(f"t{i}", b) for i, b in enumerate(sizes))
    stats = RouterStats(k=k, requests=100, freq=np.array(freq),
                        pairs=np.zeros((0, 2), dtype=np.int64), co_freq=np.zeros(0))
    return LayoutInput(trees, stats)


# Requests per byte: b 8.3e-4, a 6.3e-4, d 3.3e-4, c 2.8e-4, e 2.5e-4. With 2,048 bytes,
# b, a and d take 1,700; c (900) no longer fits; e (200) fills the gap.
HAND = _workload([800, 600, 900, 300, 200], [0.5, 0.5, 0.25, 0.1, 0.05])


def test_residency_keeps_the_most_requests_per_byte() -> None:
    cfg = config(1, 2, sram_bytes=1024)
    plans = [plan_tree(t, i, 1024, PartSizer.from_config(cfg.core))
             for i, t in enumerate(HAND.trees)]
    res = choose_residency(HAND, plans, budget_bytes=2048)
    assert res.resident.tolist() == [0, 1, 3, 4]
    assert res.paged.tolist() == [2]
    assert res.resident_bytes == 1900 and res.paged_bytes == 900
    assert res.paged_bytes_per_request == pytest.approx(0.25 * 900)
    assert res.resident_request_share == pytest.approx(1.15 / 1.4)
    everything = choose_residency(HAND, plans, budget_bytes=10_000)
    assert everything.paged.size == 0


def test_layout_pages_the_chosen_trees_and_packs_the_rest() -> None:
    layout = compile_layout(HAND, config(1, 2, sram_bytes=1024), seed=0, schedule=QUICK)
    assert layout.residency.paged.tolist() == [2]
    assert layout.core_used_bytes().tolist() in ([900, 1000], [1000, 900])


def test_layout_pages_trees_that_first_fit_cannot_pack() -> None:
    # 1,800 bytes fit the 2,048-byte budget, but no two 600-byte trees share a 1,024-byte
    # core: the least requested one is paged.
    w = _workload([600, 600, 600], [0.5, 0.3, 0.2])
    layout = compile_layout(w, config(1, 2, sram_bytes=1024), seed=0, schedule=QUICK)
    assert layout.residency.resident.tolist() == [0, 1]
    assert layout.residency.paged.tolist() == [2]


def test_a_tree_larger_than_the_mesh_is_named() -> None:
    big = mlp("big", [64, 512, 8])  # 36,864 + 4,160 bytes: 10 row slices of 4 KiB cores
    w = LayoutInput((big, sized_tree("small", 100)),
                 RouterStats.from_selections([[0, 1]], 2))
    with pytest.raises(CompileError, match=r"tree 'big' needs \d+ bytes in \d+ parts "
                       r"\(largest \d+ bytes\) but the mesh has 4 cores of 4096 bytes"):
        compile_layout(w, config(2, 2, sram_bytes=4096), seed=0, schedule=QUICK)


def test_a_layer_no_split_can_fit_is_named() -> None:
    w = LayoutInput((mlp("wide", [2048, 2048, 4]), sized_tree("small", 100)),
                 RouterStats.from_selections([[0, 1]], 2))
    with pytest.raises(CompileError, match=r"tree 'wide' layer 0 \(2048x2048"):
        compile_layout(w, config(4, 4, sram_bytes=1024), seed=0, schedule=QUICK)
    assert mesh_of(config(4, 4, sram_bytes=1024)).n_cores == 16
