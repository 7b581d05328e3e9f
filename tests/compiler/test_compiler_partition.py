"""Partition plans: stages, row and column splits, their traffic and sizes."""

import pytest
from place_helpers import SIZER, mlp

from nfcore.compiler.layout.input import TreeShape
from nfcore.compiler.layout.partition import HOST, PartKind, TreePlan, plan_tree
from nfcore.errors import CompileError


def _check_plan(tree: TreeShape, plan: TreePlan, cap: int) -> None:
    """Every part fits; every layer's rows (row split) or columns (column split) are
    covered exactly once; flows reference existing parts; the output part returns it."""
    assert all(p.weight_bytes <= cap for p in plan.parts)
    n = len(plan.parts)
    assert all(f.src in range(-1, n) and f.dst in range(-1, n) for f in plan.flows)
    assert sum(f.nbytes for f in plan.flows if f.src == HOST) >= tree.in_bytes
    assert [f for f in plan.flows if f.dst == HOST] == [
        type(plan.flows[0])(plan.output_part, HOST, tree.out_bytes)]
    covered = set()
    for p in plan.parts:
        if p.kind is PartKind.ROW_SLICE:
            covered |= {(p.layers, "r", r) for r in range(*p.rows)}
        elif p.kind is PartKind.COL_SLICE:
            covered |= {(p.layers, "c", c) for c in range(*p.cols)}
        elif p.kind is not PartKind.JOIN:
            covered |= {((i, i + 1), "all", 0) for i in range(*p.layers)}
    for i, layer in enumerate(tree.layers):
        key = (i, i + 1)
        rows = {c for c in covered if c[0] == key and c[1] == "r"}
        cols = {c for c in covered if c[0] == key and c[1] == "c"}
        whole = (key, "all", 0) in covered
        assert [whole, len(rows) == layer.rows, len(cols) == layer.cols].count(True) == 1


def test_small_tree_is_one_part() -> None:
    tree = mlp("small", [32, 16, 4])
    plan = plan_tree(tree, 0, 4096, SIZER)
    assert [p.kind for p in plan.parts] == [PartKind.WHOLE]
    assert plan.parts[0].weight_bytes == tree.weight_bytes
    assert [(f.src, f.dst, f.nbytes) for f in plan.flows] == [(HOST, 0, 32), (0, HOST, 4)]


def test_layers_group_into_stages_that_fit() -> None:
    tree = mlp("deep", [64, 64, 64, 64, 64, 4])  # 5 layers of 4,608 B (the last 288 B)
    plan = plan_tree(tree, 3, 10_000, SIZER)
    assert plan.tree == 3
    assert [p.kind for p in plan.parts] == [PartKind.STAGE] * 2
    assert [p.layers for p in plan.parts] == [(0, 2), (2, 5)]
    assert [p.weight_bytes for p in plan.parts] == [9216, 9504]
    assert [(f.src, f.dst, f.nbytes) for f in plan.flows] == [
        (HOST, 0, 64), (0, 1, 64), (1, HOST, 4)]
    _check_plan(tree, plan, 10_000)


def test_tall_layer_splits_by_rows() -> None:
    tree = mlp("tall", [64, 512, 8])  # layer 0: 512 rows x 9 words x 8 B = 36,864 B
    cap = 16384
    plan = plan_tree(tree, 0, cap, SIZER)
    slices = [p for p in plan.parts if p.kind is PartKind.ROW_SLICE]
    assert len(slices) == 3  # 227 rows of 72 B fit a core
    join = plan.parts.index(next(p for p in plan.parts if p.kind is PartKind.JOIN))
    assert plan.parts[join].weight_bytes == 0
    for i, _ in enumerate(slices):
        assert any(f.src == HOST and f.dst == i and f.nbytes == 64 for f in plan.flows)
    assert sum(f.nbytes for f in plan.flows if f.dst == join) == 512
    _check_plan(tree, plan, cap)


def test_wide_layer_with_few_outputs_splits_by_columns() -> None:
    tree = mlp("wide", [4096, 16])  # 16 rows x 513 words x 8 B = 65,664 B
    cap = 16384
    plan = plan_tree(tree, 0, cap, SIZER)
    slices = [p for p in plan.parts if p.kind is PartKind.COL_SLICE]
    # rows: 5 slices x 4,096 B in + 16 out = 20,496 B; columns: 4,096 in + n x 16 x 4 B
    assert len(slices) == 5
    join = plan.output_part
    assert plan.parts[join].kind is PartKind.JOIN
    assert plan.parts[join].weight_bytes == SIZER.join_bytes(16)
    assert sum(f.nbytes for f in plan.flows if f.src == HOST) == 4096
    assert all(f.nbytes == 16 * 4 for f in plan.flows if f.dst == join)
    assert all(p.cols[0] % SIZER.lanes == 0 for p in slices)
    _check_plan(tree, plan, cap)


def test_unsplittable_layer_names_tree_layer_and_sizes() -> None:
    # Layer 1 is 2048 x 2048: one output row needs 2,056 B and a one-word column slice
    # (a header and a weight word per row) 32 KiB, both over a 1 KiB core.
    tree = mlp("huge", [8, 2048, 2048, 4])
    with pytest.raises(CompileError, match=r"tree 'huge' layer 1 \(2048x2048, 4210688 bytes\) "
                       r"cannot be split to fit core.weight_sram_bytes = 1024: one output row "
                       r"needs 2056 bytes and a one-word column slice needs 32768 bytes"):
        plan_tree(tree, 0, 1024, SIZER)
