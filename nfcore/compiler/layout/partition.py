"""Partition plans: how a tree larger than one core's weight SRAM is split into parts.

A tree is a chain of layers. The plan, for weight SRAM capacity `cap` bytes per core:

1. A tree of at most `cap` bytes is one part (`WHOLE`).
2. Otherwise consecutive layers are grouped greedily into *stages* of at most `cap` bytes
   (`STAGE` parts; a pipeline: stage s sends its output vector to stage s+1). Greedy
   grouping gives the fewest stages for a chain.
3. A layer that alone exceeds `cap` is a *split stage*, cut either
   * by output rows (`ROW_SLICE`): every slice receives the full input vector and computes
     a contiguous range of output rows (requantized int8, as an unsplit layer would); a
     `JOIN` part concatenates the slices (it holds no weights: receiving each slice at its
     offset is the concatenation), or
   * by input columns (`COL_SLICE`): every slice receives its range of the input and
     computes partial sums of all rows at accumulator width; the `JOIN` adds them and
     applies bias, requantization and activation, so it holds one header word per row.
   The plan takes the cut with fewer bytes on the network per selection:
   rows: `n_row * cols + rows` bytes; columns: `cols + n_col * rows * acc_bytes` bytes
   (ties go to rows, whose join does no arithmetic). Wide-input, narrow-output layers
   split by columns; square and tall layers by rows.

Flows are the bytes that move per selection of the tree: the host sends the input to the
first stage (to every row slice, or each column slice its range), each stage's output goes
to the next, and the last stage's output (its part or its join) goes back to the host.
The plan does not say where parts go; `place` decides that. The SEND/RECV lowering reads
the same plan (parts, flows, row and column ranges).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

from nfcore.arch import isa
from nfcore.compiler.layout.input import ACT_BYTES, TreeShape
from nfcore.config import CoreConfig
from nfcore.errors import CompileError

HOST = -1
"""Flow endpoint that stands for the host port."""


class PartKind(enum.Enum):
    WHOLE = "whole"
    STAGE = "stage"
    ROW_SLICE = "row_slice"
    COL_SLICE = "col_slice"
    JOIN = "join"


@dataclass(frozen=True)
class PartSizer:
    """Packed sizes of parts on the core (the compiler's layout; hardware parameters)."""

    lanes: int
    acc_bytes: int
    """Bytes of one partial sum on the network (the accumulator width)."""

    @classmethod
    def from_config(cls, core: CoreConfig) -> PartSizer:
        return cls(lanes=core.lanes, acc_bytes=math.ceil(core.acc_bits / 8))

    def matvec_bytes(self, rows: int, cols: int) -> int:
        """Weight SRAM bytes of a `rows x cols` MATVEC region (a header word per row)."""
        return isa.matvec_region_words(rows, cols, self.lanes) * self.lanes

    def join_bytes(self, rows: int) -> int:
        """Weight SRAM bytes a column-split join holds: one header word (bias, requant
        multiplier and shift) per output row."""
        return rows * self.lanes


@dataclass(frozen=True)
class Part:
    """One part of a tree: what it computes and the weight SRAM it needs."""

    kind: PartKind
    stage: int
    layers: tuple[int, int]
    """Layer range [first, last) of the tree that the part computes (or joins)."""
    rows: tuple[int, int]
    """Output row range of the stage's last layer that the part produces."""
    cols: tuple[int, int]
    """Input column range of the stage's first layer that the part reads."""
    weight_bytes: int


@dataclass(frozen=True)
class Flow:
    """`nbytes` bytes from part `src` to part `dst` (indices into the tree's parts, or
    `HOST`) each time the tree is selected."""

    src: int
    dst: int
    nbytes: int


@dataclass(frozen=True)
class TreePlan:
    """The parts of one tree and the flows between them."""

    tree: int
    """Index of the tree in the workload."""
    parts: tuple[Part, ...]
    flows: tuple[Flow, ...]
    output_part: int
    """The part that holds the tree's output (sends it to the host)."""

    @property
    def weight_bytes(self) -> int:
        return sum(p.weight_bytes for p in self.parts)

    @property
    def largest_part_bytes(self) -> int:
        return max(p.weight_bytes for p in self.parts)

    @property
    def is_split(self) -> bool:
        return len(self.parts) > 1


def plan_tree(tree: TreeShape, index: int, cap_bytes: int, sizer: PartSizer) -> TreePlan:
    """The partition plan of `tree` (workload index `index`) for cores of `cap_bytes`.

    Raises `CompileError` naming the tree, the layer and the sizes if a layer cannot be cut
    into slices that fit (a single output row and a single word-wide column slice are both
    too large).
    """
    if tree.weight_bytes <= cap_bytes:
        n_layers = len(tree.layers)
        whole = Part(PartKind.WHOLE, 0, (0, n_layers), (0, tree.layers[-1].rows),
                     (0, tree.layers[0].cols), tree.weight_bytes)
        return TreePlan(index, (whole,),
                        (Flow(HOST, 0, tree.in_bytes), Flow(0, HOST, tree.out_bytes)), 0)
    parts: list[Part] = []
    flows: list[Flow] = []
    holder = HOST  # where the current stage's input vector is
    stage = 0
    i = 0
    while i < len(tree.layers):
        layer = tree.layers[i]
        if layer.weight_bytes > cap_bytes:
            holder = _split_layer(tree, i, stage, cap_bytes, sizer, holder, parts, flows)
            i += 1
        else:
            j, size = i, 0
            while j < len(tree.layers) and size + tree.layers[j].weight_bytes <= cap_bytes:
                size += tree.layers[j].weight_bytes
                j += 1
            parts.append(Part(PartKind.STAGE, stage, (i, j), (0, tree.layers[j - 1].rows),
                              (0, layer.cols), size))
            flows.append(Flow(holder, len(parts) - 1, layer.cols * ACT_BYTES))
            holder = len(parts) - 1
            i = j
        stage += 1
    flows.append(Flow(holder, HOST, tree.out_bytes))
    return TreePlan(index, tuple(parts), tuple(flows), holder)


def _split_layer(tree: TreeShape, i: int, stage: int, cap: int, sizer: PartSizer, src: int,
                 parts: list[Part], flows: list[Flow]) -> int:
    """Append the slices and join of layer `i`; return the join's part index."""
    rows, cols = tree.layers[i].rows, tree.layers[i].cols
    row_bytes = sizer.matvec_bytes(1, cols)
    rows_per_slice = cap // row_bytes
    # Column slices are whole words wide: `w` words per row plus the row's header word.
    words_per_slice = cap // (rows * sizer.lanes) - 1
    row_ok = rows_per_slice >= 1
    col_ok = words_per_slice >= 1 and sizer.join_bytes(rows) <= cap
    if not (row_ok or col_ok):
        raise CompileError(
            f"tree {tree.name!r} layer {i} ({rows}x{cols}, {tree.layers[i].weight_bytes} "
            f"bytes) cannot be split to fit core.weight_sram_bytes = {cap}: one output row "
            f"needs {row_bytes} bytes and a one-word column slice needs "
            f"{sizer.matvec_bytes(rows, 1)} bytes; raise core.weight_sram_bytes or narrow "
            f"the layer"
        )
    n_row = math.ceil(rows / rows_per_slice) if row_ok else 0
    n_col = math.ceil(isa.words_for(cols, sizer.lanes) / words_per_slice) if col_ok else 0
    row_traffic = n_row * cols * ACT_BYTES + rows * ACT_BYTES
    col_traffic = cols * ACT_BYTES + n_col * rows * sizer.acc_bytes
    layers = (i, i + 1)
    first = len(parts)
    if row_ok and (not col_ok or row_traffic <= col_traffic):
        join = first + n_row
        for lo, hi in _ranges(rows, n_row, 1):
            parts.append(Part(PartKind.ROW_SLICE, stage, layers, (lo, hi), (0, cols),
                              sizer.matvec_bytes(hi - lo, cols)))
            flows.append(Flow(src, len(parts) - 1, cols * ACT_BYTES))
            flows.append(Flow(len(parts) - 1, join, (hi - lo) * ACT_BYTES))
        parts.append(Part(PartKind.JOIN, stage, layers, (0, rows), (0, cols), 0))
    else:
        join = first + n_col
        for lo, hi in _ranges(cols, n_col, sizer.lanes):
            parts.append(Part(PartKind.COL_SLICE, stage, layers, (0, rows), (lo, hi),
                              sizer.matvec_bytes(rows, hi - lo)))
            flows.append(Flow(src, len(parts) - 1, (hi - lo) * ACT_BYTES))
            flows.append(Flow(len(parts) - 1, join, rows * sizer.acc_bytes))
        parts.append(Part(PartKind.JOIN, stage, layers, (0, rows), (0, cols),
                          sizer.join_bytes(rows)))
    return join


def _ranges(n: int, pieces: int, align: int) -> list[tuple[int, int]]:
    """`pieces` contiguous ranges covering 0..n, balanced in units of `align` elements."""
    units = math.ceil(n / align)
    edges = np.linspace(0, units, pieces + 1).round().astype(int) * align
    edges[-1] = n
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]
