"""Dense layers wider or taller than one MATVEC: column blocks added by VADD, row chunks,
on one core and split over a chain, bit-exact with the integer reference."""

from __future__ import annotations

import numpy as np
import pytest
from compiler_helpers import random_dense

from forest.export import TreeExport
from nfcore.arch import isa
from nfcore.arch.isa import Activation
from nfcore.compiler import partition_tree, quantize_tree
from nfcore.compiler.golden_run import run_tree
from nfcore.compiler.quant.mlp import col_blocks, requantize_blocks
from nfcore.config import CoreConfig
from nfcore.golden.core import requantize

MESH = [(x, y) for y in range(4) for x in range(4)]


def _quantized(widths: list[int], seed: int = 0):
    rng = np.random.default_rng(seed)
    tree = TreeExport(kind="mlp", input_shape=(widths[0],), head=random_dense(rng, widths))
    q = quantize_tree(tree, rng.normal(size=(40, widths[0])))
    return q, q.quantize_input(rng.normal(size=(4, widths[0])))


def _ops(instrs: list[isa.Instruction], op: isa.Opcode) -> list[isa.Instruction]:
    return [i for i in instrs if i.op is op]


def test_col_blocks_cover_the_columns_in_matvec_sized_blocks() -> None:
    assert col_blocks(1024) == [(0, 1024)]
    assert col_blocks(2500) == [(0, 1024), (1024, 2048), (2048, 2500)]


def test_a_2048_column_layer_split_over_a_chain_equals_the_reference() -> None:
    q, x = _quantized([2048, 40, 10])
    core = CoreConfig(lanes=8, weight_sram_bytes=1 << 15, act_sram_bytes=1 << 12)
    program = partition_tree(q, core, MESH)
    assert len(program.cores) >= 2  # 40 rows of 2048 columns do not fit one 32 KiB core
    first = program.cores[0].instructions()
    assert [i.cols for i in _ops(first, isa.Opcode.MATVEC)] == [1024, 1024]
    (vadd,) = _ops(first, isa.Opcode.VADD)
    assert vadd.act == Activation.RELU  # the layer's activation on the last VADD only
    out, _ = run_tree(program, core, x)
    np.testing.assert_array_equal(out, q.forward_int(x))


def test_a_tall_and_wide_layer_on_one_core_runs_in_row_chunks() -> None:
    q, x = _quantized([1500, 1100, 10], seed=1)
    core = CoreConfig(lanes=32, weight_sram_bytes=1 << 19, act_sram_bytes=1 << 13)
    program = partition_tree(q, core, MESH)
    rows = [(i.rows, i.cols) for c in program.cores
            for i in _ops(c.instructions(), isa.Opcode.MATVEC)]
    assert max(r for r, _ in rows) <= 1024 and max(c for _, c in rows) <= 1024
    out, _ = run_tree(program, core, x)
    np.testing.assert_array_equal(out, q.forward_int(x))


def test_a_tall_narrow_layer_on_one_core_needs_no_partial_sums() -> None:
    q, x = _quantized([30, 1100], seed=2)
    core = CoreConfig(lanes=16, weight_sram_bytes=1 << 17, act_sram_bytes=1 << 12)
    program = partition_tree(q, core, MESH)
    (only,) = program.cores
    instrs = only.instructions()
    assert [i.rows for i in _ops(instrs, isa.Opcode.MATVEC)] == [1024, 76]
    assert not _ops(instrs, isa.Opcode.VADD)
    out, cycles = run_tree(program, core, x)
    np.testing.assert_array_equal(out, q.forward_int(x))
    assert cycles == [program.compute_cycles()[0]] * len(x)


@pytest.mark.parametrize("act", [Activation.NONE, Activation.RELU])
def test_blocks_stay_within_their_rounding_of_one_requantization(act: Activation) -> None:
    rng = np.random.default_rng(3)
    parts = [rng.integers(-3000, 3000, size=(200, 5)) for _ in range(2)]
    mult, shift = np.full(5, 40000), np.full(5, 22)  # about 1/105: no block saturates
    blocked = requantize_blocks(parts, mult, shift, act).astype(int)
    whole = requantize(parts[0] + parts[1], mult, shift, act).astype(int)
    assert np.abs(blocked - whole).max() <= 1  # < (2 blocks + 1) / 2 steps
    assert (blocked != whole).any()  # and it is not one requantization
