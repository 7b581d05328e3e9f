"""Partitioning: a tree split over a chain of cores computes exactly what one core does."""

from __future__ import annotations

import numpy as np
import pytest
from compiler_helpers import random_dense, random_tree, tree_inputs

from forest.export import ConvLayer, ElmanCell, TreeExport
from nfcore.arch import isa
from nfcore.compiler import lower_tree, partition_tree, quantize_tree
from nfcore.compiler.golden_run import run_tree
from nfcore.compiler.lower.kernels import plan_kernels
from nfcore.compiler.lower.split import choose_partition
from nfcore.config import CoreConfig
from nfcore.errors import CompileError

MESH = [(x, y) for y in range(4) for x in range(4)]


def _big_tree(rng: np.random.Generator, kind: str) -> TreeExport:
    """A tree whose weights exceed a 1 KiB core: wide layers, sizes not multiples of 8."""
    if kind == "mlp":
        return TreeExport(kind="mlp", input_shape=(37,), head=random_dense(rng, [37, 45, 29, 6]))
    if kind == "rnn":
        base = random_tree(rng, "rnn", small=True)
        assert base.cell is not None
        return TreeExport(kind="rnn", input_shape=base.input_shape, cell=base.cell,
                          head=random_dense(rng, [base.cell.hidden_size, 53, 21, 5]))
    if kind == "cnn-wide-conv":  # the conv itself is split by output channels
        w = rng.normal(scale=0.2, size=(37, 11, 3)).astype(np.float32)
        conv = ConvLayer(w, rng.normal(scale=0.1, size=37).astype(np.float32), 2)
        return TreeExport(kind="cnn", input_shape=(9, 11), convs=[conv],
                          head=random_dense(rng, [4 * 37, 5]))
    base = random_tree(rng, "cnn")
    n_feat = base.head[0][0].shape[1]
    return TreeExport(kind="cnn", input_shape=base.input_shape, convs=base.convs,
                      head=random_dense(rng, [n_feat, 27, 4]))


@pytest.mark.parametrize("kind", ["mlp", "cnn", "rnn", "cnn-wide-conv"])
@pytest.mark.parametrize("seed", range(3))
def test_partitioned_equals_unpartitioned_bit_for_bit(kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    tree = _big_tree(rng, kind)
    q = quantize_tree(tree, tree_inputs(rng, tree, 60))
    # a block of `lanes` rows of the cnn head's first layer (up to 16 words a row) must fit
    small = CoreConfig(weight_sram_bytes=2048 if kind.startswith("cnn") else 1024,
                       act_sram_bytes=1 << 13)
    big = CoreConfig(weight_sram_bytes=1 << 16, act_sram_bytes=1 << 13)
    x_int = q.quantize_input(tree_inputs(rng, tree, 6))
    ref = q.forward_int(x_int)
    whole = partition_tree(q, big, MESH)
    split = partition_tree(q, small, MESH)
    assert len(whole.cores) == 1 and len(split.cores) >= 2
    out_whole, cyc_whole = run_tree(whole, big, x_int)
    out_split, cyc_split = run_tree(split, small, x_int)
    np.testing.assert_array_equal(out_whole, ref)
    np.testing.assert_array_equal(out_split, ref)
    assert cyc_whole == [lower_tree(q, big).cycles] * len(x_int)
    assert min(cyc_split) > cyc_whole[0]  # the chain adds sends, receives and hops
    for k, code in enumerate(split.cores):
        ops = [i.op for i in code.instructions()]
        assert len(code.weights) <= small.weight_words
        assert (isa.Opcode.RECV in ops) == (k > 0)
        assert (isa.Opcode.SEND in ops) == (k < len(split.cores) - 1)
    # every row of every op is computed exactly once
    rows = {}
    for code in split.cores:
        for p in code.pieces:
            rows.setdefault(p.op, []).append((p.lo, p.hi))
    for j, op in enumerate(split.plan.ops):
        spans = sorted(rows[j])
        assert spans[0][0] == 0 and spans[-1][1] == op.rows
        pairs = zip(spans, spans[1:], strict=False)
        assert all(a[1] == b[0] and b[0] % small.lanes == 0 for a, b in pairs)
    if kind == "cnn-wide-conv":
        assert len(rows[0]) >= 2


def test_partition_uses_the_cores_in_the_order_given() -> None:
    rng = np.random.default_rng(0)
    tree = _big_tree(rng, "mlp")
    q = quantize_tree(tree, tree_inputs(rng, tree, 20))
    core = CoreConfig(weight_sram_bytes=1024)
    cores = [(3, 2), (0, 0), (2, 3), (1, 1), (3, 3)]
    parts = choose_partition(plan_kernels(q, core.lanes), core, cores)
    assert [p.coord for p in parts] == cores[: len(parts)]
    tp = partition_tree(q, core, cores)
    x_int = q.quantize_input(tree_inputs(rng, tree, 3))
    np.testing.assert_array_equal(run_tree(tp, core, x_int)[0], q.forward_int(x_int))
    sends = [i for i in tp.cores[0].instructions() if i.op is isa.Opcode.SEND]
    assert {(i.dest_x, i.dest_y) for i in sends} == {cores[1]}


def test_too_few_cores_is_refused() -> None:
    rng = np.random.default_rng(0)
    tree = _big_tree(rng, "mlp")
    q = quantize_tree(tree, tree_inputs(rng, tree, 20))
    core = CoreConfig(weight_sram_bytes=1024)
    with pytest.raises(CompileError, match=r"tree 9: needs 5 cores of core\.weight_sram_bytes "
                                           r"= 1024 for 4024 bytes of weights, but only 2 cores"):
        partition_tree(q, core, MESH[:2], tree_id=9)


def test_a_cell_larger_than_a_core_is_refused() -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(24, 30)).astype(np.float32)
    tree = TreeExport(kind="rnn", input_shape=(5, 6),
                      cell=ElmanCell(w, np.zeros(24, np.float32), 6, 24),
                      head=random_dense(rng, [24, 3]))
    q = quantize_tree(tree, rng.normal(size=(10, 5, 6)))
    with pytest.raises(CompileError, match=r"tree 4: weights need 1216 bytes .*LUT: 256 B, "
                                           r"Elman cell 24x32: 960 B\) but "
                                           r"core\.weight_sram_bytes = 1024"):
        partition_tree(q, CoreConfig(weight_sram_bytes=1024), MESH, tree_id=4)


def test_served_chain_receives_from_and_returns_to_the_host() -> None:
    """`serve_chain`: the first core's program starts with the input RECV, the last core's
    ends with a SEND to the host and HALT; too long a program is refused by name."""
    from nfcore.compiler.lower.host_io import serve_chain

    rng = np.random.default_rng(3)
    tree = TreeExport(kind="mlp", input_shape=(37,), head=random_dense(rng, [37, 45, 29, 6]))
    core = CoreConfig(lanes=8, weight_sram_bytes=256 * 8, act_sram_bytes=64 * 8,
                      imem_depth=32, acc_bits=32)
    q = quantize_tree(tree, tree_inputs(rng, tree, 20), tree_id="t")
    tp = partition_tree(q, core, [(0, 0), (1, 0), (1, 1)], tree_id="t")
    assert len(tp.cores) > 1
    served = serve_chain(tp, core, tag=9)
    first, last = served.cores[0].instructions(), served.cores[-1].instructions()
    assert first[0] == isa.recv(n=isa.words_for(tp.plan.input_len, 8),
                                addr=tp.plan.input_addr, tag=9)
    assert last[-2:] == [isa.send_to_host(n=isa.words_for(tp.plan.output_len, 8),
                                          addr=tp.plan.output_addr, tag=9), isa.halt()]
    assert first[1:] == tp.cores[0].instructions()  # the rest of the first core unchanged
    with pytest.raises(CompileError, match="imem_depth"):
        tight = CoreConfig(lanes=8, weight_sram_bytes=256 * 8, act_sram_bytes=64 * 8,
                           imem_depth=len(tp.cores[0].program), acc_bits=32)
        serve_chain(tp, tight, tag=9)
