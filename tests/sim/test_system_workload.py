"""Workloads: validation against the chip, programs' cycles and sizes, the synthetic forest."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from nfcore.arch import isa
from nfcore.config import NFCoreConfig
from nfcore.sim.system.workload import (
    SystemWorkload,
    WorkloadError,
    mlp_program,
    place_round_robin,
    synthetic_workload,
    tree_from_chain,
    tree_from_program,
)

CFG = NFCoreConfig.from_dict({"mesh": {"rows": 4, "cols": 4}})


def test_tree_from_program_by_hand() -> None:
    """16 -> 8 -> 4 on 8 lanes: MATVEC 8x16 = 2 + 8 * (1 + 2) + 4 = 30 cycles; MATVEC 4x8 =
    2 + 4 * (1 + 1) + 4 = 14; HALT 2: 46 cycles. Weights (8 * 3 + 4 * 2) * 8 = 256 bytes;
    MACs 128 + 32 = 160."""
    t = tree_from_program(3, (1, 2), mlp_program([16, 8, 4], 8), 8, 16, 4, resident=False)
    assert t.instr_cycles == (30, 14, 2) and t.program_cycles == 46
    assert t.events.cycles == 46 and t.events.mults_int8 == 8 * 2 * 8 + 4 * 1 * 8
    assert (t.weight_bytes, t.macs, t.resident) == (256, 160, False)
    program = mlp_program([16, 8, 4], 8)
    assert program[0].act == isa.Activation.RELU and program[1].act == isa.Activation.NONE


WBUF_WORDS = 512 // 8
"""A 512 B buffer on 8 lanes (the default chip has none: the RTL has none yet)."""


def test_a_loop_reads_its_weights_once_with_a_reuse_buffer() -> None:
    """A LOOP of 6 over a 4 x 8 MATVEC (a region of 4 * (1 + 1) = 8 words): without a buffer
    the SRAM is read 6 * 8 times; with a 512 B buffer once, then 5 * 8 buffer
    reads, in the same cycles, on one core and as a one-stage chain."""
    program = [isa.loop(body=1, count=6, x_stride=1, y_stride=1, x_mask=1, y_mask=1),
               isa.matvec(rows=4, cols=8, w_addr=0, x_addr=0, y_addr=10), isa.halt()]
    plain = tree_from_program(0, (0, 0), program, 8, 8, 4)
    reused = tree_from_program(0, (0, 0), program, 8, 8, 4, wbuf_words=WBUF_WORDS)
    assert plain.events.weight_word_reads == 6 * 8
    assert (reused.events.weight_word_reads, reused.events.wbuf_word_writes,
            reused.events.wbuf_word_reads) == (8, 8, 5 * 8)
    assert reused.program_cycles == plain.program_cycles
    chain = tree_from_chain(0, [((0, 0), program)], 8, 8, 4, wbuf_words=WBUF_WORDS)
    assert chain.events == reused.events


def test_validate_names_what_is_wrong() -> None:
    big = tree_from_program(0, (0, 0), mlp_program([128, 128, 128], 8), 8, 128, 128)
    with pytest.raises(WorkloadError, match=r"off the 4 x 4 mesh"):
        SystemWorkload((replace(big, core_xy=(4, 0)),), ((0,),)).validate(CFG)
    small = NFCoreConfig.from_dict({"core": {"weight_sram_bytes": 8192}})
    with pytest.raises(WorkloadError, match="core.weight_sram_bytes = 8192"):
        SystemWorkload((big,), ((0,),)).validate(small)
    with pytest.raises(WorkloadError, match="paged tree 0"):
        SystemWorkload((replace(big, resident=False),), ((0,),)).validate(small)
    with pytest.raises(WorkloadError, match="request 0 selects"):
        SystemWorkload((big,), ((0, 0),)).validate(CFG)
    with pytest.raises(WorkloadError, match="has id 5"):
        SystemWorkload((replace(big, tree_id=5),), ((0,),)).validate(CFG)


def test_synthetic_workload_is_seeded_and_fits() -> None:
    a = synthetic_workload(CFG, 40, 100, top_k=3, seed=1, paged_fraction=0.25)
    b = synthetic_workload(CFG, 40, 100, top_k=3, seed=1, paged_fraction=0.25)
    c = synthetic_workload(CFG, 40, 100, top_k=3, seed=2, paged_fraction=0.25)
    assert a == b and a.requests != c.requests
    assert sum(not t.resident for t in a.trees) == 10
    assert all(len(set(r)) == 3 for r in a.requests)
    # Skewed router: the most popular resident tree is picked far more than a paged one.
    counts = np.bincount([t for r in a.requests for t in r], minlength=40)
    paged = [t.tree_id for t in a.trees if not t.resident]
    assert counts.max() > 3 * max(counts[paged].max(), 1)
    with pytest.raises(WorkloadError, match="top_k"):
        synthetic_workload(CFG, 3, 1, top_k=4)


def test_placement_moves_on_when_a_core_is_full() -> None:
    assert place_round_robin([60, 30, 60], [True, True, True], 2, 100) == [0, 1, 1]
    with pytest.raises(WorkloadError, match="fits on no core"):
        place_round_robin([60, 60, 60], [True, True, True], 2, 100)
    # A paged tree needs the room resident trees leave: core 0 has 40 bytes, core 1 has 70.
    assert place_round_robin([60, 30, 60], [True, True, False], 2, 100) == [0, 1, 1]
