"""Splitting a tree that does not fit one core's weight SRAM across a chain of cores.

Scheme (by output rows, concatenated; chosen for a fixed packet order): the kernel plan's
ops run in order, each reading only the previous op's output. `choose_partition` fills the
given cores one after the other with the ops in order; when an op does not fit the rest of a
core, its output rows are split at a multiple of `lanes` (so the next core's part of the
output starts at a word boundary) and the next core computes the remaining rows. Every core
keeps the single-core scratchpad layout, so a row slice is the same MATVEC with fewer rows,
a later weight region and a y-address moved by lo / lanes words: each output value is
computed by the same integer arithmetic as unpartitioned, hence bit-exact.

At the cut between core k and core k + 1 (before op j, or inside op j after row lo), core k
SENDs what core k + 1 still needs: op j's whole input span and, when the cut is inside op
j, the output words written so far (the first lo / lanes words; for a LOOPed op, whose
rows interleave with the positions, its whole output span, over which core k + 1 then
writes its rows). Core k + 1 RECVs the same spans at the same addresses. Each core receives only
from its predecessor, in program order (tags 0, 1, ... per cut), so the order in which
packets arrive is fixed whatever the network does; the last core is the join core and holds
the logits. The chain is a pipeline: core k can start the next request while core k + 1
works (the golden array runs one request at a time).

The Elman cell is not split: every step needs all of h, which would cost an all-gather per
step; a cell (plus its LUT) larger than one core is refused. Convs split by output
channels like dense layers (each part keeps the LOOP over positions).

`choose_partition` is the one place that decides the split; it takes the list of available
cores (mesh coordinates, in the order to use them) so a placer can pass its choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nfcore.arch import isa, noc
from nfcore.compiler.lower.kernels import KernelPlan
from nfcore.compiler.lower.program import (
    Piece,
    check_imem,
    check_weight_sram,
    emit_core,
    plan_for_core,
    program_cycles,
    weight_words,
)
from nfcore.compiler.quant.tree import QuantizedTree
from nfcore.config import CoreConfig
from nfcore.errors import CompileError

Coord = tuple[int, int]
MAX_PACKET_WORDS = 1 << noc.LENGTH_BITS


@dataclass(frozen=True)
class CorePart:
    """The pieces of the plan one core runs."""

    coord: Coord
    pieces: tuple[Piece, ...]


@dataclass(frozen=True, eq=False)
class CoreCode:
    """What one core of a tree holds: weight SRAM words (from word 0) and its program."""

    coord: Coord
    weights: npt.NDArray[np.uint8]
    program: list[int]
    pieces: tuple[Piece, ...]

    def instructions(self) -> list[isa.Instruction]:
        return [isa.decode(w) for w in self.program]


@dataclass(frozen=True, eq=False)
class TreeProgram:
    """A tree lowered to one or more cores. The host writes the packed input at
    `plan.input_addr` of the first core and reads the logits at `plan.output_addr` of the
    last."""

    tree_id: str
    kind: str
    lanes: int
    plan: KernelPlan
    cores: tuple[CoreCode, ...]

    @property
    def input_coord(self) -> Coord:
        return self.cores[0].coord

    @property
    def output_coord(self) -> Coord:
        return self.cores[-1].coord

    def compute_cycles(self) -> list[int]:
        """Per core, its contract cycles without network waits."""
        return [program_cycles(c.instructions(), self.lanes) for c in self.cores]


def choose_partition(plan: KernelPlan, core: CoreConfig, cores: Sequence[Coord],
                     tree_id: int | str = 0) -> list[CorePart]:
    """Split `plan` over the fewest leading cores of `cores` whose weight SRAM holds it.

    Raises `CompileError` naming the tree if an unsplittable op (or a row block of `lanes`
    rows) does not fit an empty core, or more cores are needed than `cores` offers.
    """
    cap, lanes = core.weight_words, core.lanes
    parts: list[list[Piece]] = [[]]
    for j, op in enumerate(plan.ops):
        lo = 0
        while lo < op.rows:
            cur = parts[-1]
            avail = cap - weight_words(plan, cur)
            if op.uses_lut and not any(plan.ops[p.op].uses_lut for p in cur):
                avail -= isa.lut_words(lanes)
            fit = max(avail, 0) // op.words_per_row(lanes)
            if fit >= op.rows - lo:
                cur.append(Piece(j, lo, op.rows))
                lo = op.rows
            elif op.splittable and fit >= lanes:
                take = fit // lanes * lanes
                cur.append(Piece(j, lo, lo + take))
                lo += take
                parts.append([])
            elif cur:
                parts.append([])
            else:
                rows = op.rows - lo if not op.splittable else min(lanes, op.rows - lo)
                check_weight_sram(plan, [Piece(j, lo, lo + rows)], core, tree_id)
                raise AssertionError("unreachable: the piece fits")  # pragma: no cover
    parts = [p for p in parts if p]
    if len(parts) > len(cores):
        total = weight_words(plan, [Piece(j, 0, op.rows) for j, op in enumerate(plan.ops)])
        raise CompileError(
            f"tree {tree_id}: needs {len(parts)} cores of core.weight_sram_bytes = "
            f"{core.weight_sram_bytes} for {total * lanes} bytes of weights, but only "
            f"{len(cores)} cores are available")
    return [CorePart(coord, tuple(p)) for coord, p in zip(cores, parts, strict=False)]


def partition_tree(q: QuantizedTree, core: CoreConfig, cores: Sequence[Coord],
                   tree_id: int | str = 0) -> TreeProgram:
    """Lower `q` to as few of `cores` as hold it (one core if it fits), with the SEND/RECV
    that chain the parts. Raises `CompileError` for any resource that does not fit, naming
    the tree, the core and the sizes."""
    if not cores:
        raise CompileError(f"tree {tree_id}: no cores available")
    if len(set(cores)) != len(cores):
        raise CompileError(f"tree {tree_id}: the available cores repeat a coordinate")
    plan = plan_for_core(q, core, tree_id)
    parts = choose_partition(plan, core, cores, tree_id)
    codes = []
    for k, part in enumerate(parts):
        program: list[isa.Instruction] = []
        if k > 0:
            program += [isa.recv(n=n, addr=a, tag=t)
                        for t, (a, n) in enumerate(_cut_packets(plan, part.pieces[0]))]
        weights, body, _ = emit_core(plan, list(part.pieces))
        program += body
        if k + 1 < len(parts):
            dest = parts[k + 1].coord
            program += [isa.send(n=n, addr=a, dest_x=dest[0], dest_y=dest[1], tag=t)
                        for t, (a, n) in enumerate(_cut_packets(plan, parts[k + 1].pieces[0]))]
        program.append(isa.halt())
        where = f" (part {k} on core {part.coord})" if len(parts) > 1 else ""
        check_imem(program, core, tree_id, where)
        codes.append(CoreCode(coord=part.coord, weights=weights,
                              program=[i.encode() for i in program], pieces=part.pieces))
    return TreeProgram(tree_id=str(tree_id), kind=q.kind, lanes=core.lanes, plan=plan,
                       cores=tuple(codes))


def _cut_packets(plan: KernelPlan, first: Piece) -> list[tuple[int, int]]:
    """(addr, words) of the packets that carry what the core starting at `first` needs."""
    op = plan.ops[first.op]
    spans = [op.x_span(plan.lanes)]
    if first.lo > 0 and op.count > 1:  # rows < lo of every position: the whole output span
        spans.append(op.y_span(plan.lanes))
    elif first.lo > 0:  # rows < lo are the first lo / lanes words
        spans.append((op.y_addr, first.lo // plan.lanes))
    packets = []
    for addr, words in spans:
        for start in range(0, words, MAX_PACKET_WORDS):
            packets.append((addr + start, min(MAX_PACKET_WORDS, words - start)))
    return packets
