"""Lowering a quantized tree (mlp, cnn, rnn) to one core: weight SRAM contents and a program.

Memory plan
-----------
* Weight SRAM: the SETLUT table first if the tree has an Elman cell (`isa.lut_words`
  words), then one MATVEC region (`isa.pack_matvec`) per op of the kernel plan, back to back
  in op order. `CoreProgram.weights` holds only the used words, loaded at weight word 0.
* Scratchpad: the kernel plan's layout (`nfcore.compiler.lower.kernels`); for an mlp two
  ping-pong buffers, A at word 0 (the input, outputs of layers 1, 3, ...) and B after A
  (outputs of layers 0, 2, ...), so a MATVEC never reads and writes the same buffer.
* Program: SETLUT (rnn), then per op its MATVEC (preceded by a LOOP for convs and the
  cell; a dense layer over 1024 rows or columns: one MATVEC per row chunk and column block,
  the blocks added by VADD), then HALT.

`emit_core` writes the program of any contiguous run of ops (or row slices of ops), which
is what `nfcore.compiler.lower.split` gives each core of a split tree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nfcore.arch import isa
from nfcore.compiler.lower.kernels import MAX_VECTOR, KernelPlan, plan_kernels
from nfcore.compiler.quant.mlp import QuantizedMLP
from nfcore.compiler.quant.tree import QuantizedTree
from nfcore.config import CoreConfig
from nfcore.errors import CompileError

__all__ = ["MAX_VECTOR", "CoreProgram", "LayerPlacement", "Piece", "emit_core", "lower_mlp",
           "lower_tree"]


@dataclass(frozen=True)
class LayerPlacement:
    """Where one layer lives on the core and what its MATVEC costs."""

    rows: int
    cols: int
    relu: bool
    w_addr: int
    """Weight SRAM word address of the layer's region."""
    w_words: int
    """Weight SRAM words of the region."""
    x_addr: int
    """Scratchpad word address of the layer's input vector."""
    y_addr: int
    """Scratchpad word address of the layer's output vector."""
    cycles: int
    """Cycles of the layer's MATVEC by the timing contract."""


@dataclass(frozen=True, eq=False)
class CoreProgram:
    """Everything a core needs to run one tree: weights, program, and the I/O addresses.

    Invariants: `weights` is loaded at weight SRAM word 0 and has at most
    `core.weight_words` rows; `program` ends in HALT and fits `core.imem_depth`; the input
    and output vectors are int8 at scratchpad word addresses `input_addr`, `output_addr`.
    """

    lanes: int
    weights: npt.NDArray[np.uint8]
    """(used words, lanes) bytes, loaded from weight SRAM word 0."""
    program: list[int]
    """64-bit instruction words; the last is HALT."""
    input_addr: int
    input_len: int
    """int8 elements of the input vector."""
    output_addr: int
    output_len: int
    """int8 elements of the output vector."""
    layers: tuple[LayerPlacement, ...]

    weight_addr: int = 0
    """Weight SRAM word where `weights` starts (always 0 for a single-tree core)."""
    plan: KernelPlan | None = None
    """The kernel plan (input packing); None for an mlp loaded from a format-1 image."""

    def pack_input(self, x_int: npt.NDArray[np.integer]) -> npt.NDArray[np.int8]:
        """The vectors (n, input_len) to write at `input_addr` for int8 inputs
        (n, *input_shape): channel padding (cnn) and sequence slots (rnn) included."""
        if self.plan is None:
            return np.asarray(x_int, dtype=np.int8).reshape(len(x_int), -1)
        return self.plan.pack_input(x_int)

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """(rows, cols) of each layer."""
        return [(p.rows, p.cols) for p in self.layers]

    @property
    def cycles(self) -> int:
        """Cycles of one run of `program` by the timing contract, HALT included."""
        return program_cycles(self.instructions(), self.lanes)

    @property
    def weight_bytes(self) -> int:
        return int(self.weights.size)

    def instructions(self) -> list[isa.Instruction]:
        return [isa.decode(w) for w in self.program]




@dataclass(frozen=True)
class Piece:
    """Rows lo .. hi - 1 of op `op` of a kernel plan (lo a multiple of lanes)."""

    op: int
    lo: int
    hi: int


def lower_mlp(q: QuantizedMLP, core: CoreConfig) -> CoreProgram:
    """Map `q` onto one core with configuration `core` (see `lower_tree`)."""
    return lower_tree(QuantizedTree.from_mlp(q), core)


def lower_tree(q: QuantizedTree, core: CoreConfig, tree_id: int | str = 0) -> CoreProgram:
    """Map the whole tree `q` onto one core with configuration `core`.

    Raises `CompileError` naming the tree, the resource and the sizes if a LOOPed op has
    more than 1024 rows or columns, the weights exceed `core.weight_sram_bytes`, the scratchpad plan
    exceeds `core.act_sram_bytes`, the program exceeds `core.imem_depth`, or `q` was
    checked for a wider accumulator than `core.acc_bits`.
    """
    plan = plan_for_core(q, core, tree_id)
    pieces = [Piece(i, 0, op.rows) for i, op in enumerate(plan.ops)]
    weights, program, layers = emit_core(plan, pieces)
    check_weight_sram(plan, pieces, core, tree_id)
    program.append(isa.halt())
    check_imem(program, core, tree_id)
    return CoreProgram(
        lanes=core.lanes, weights=weights, program=[i.encode() for i in program],
        input_addr=plan.input_addr, input_len=plan.input_len,
        output_addr=plan.output_addr, output_len=plan.output_len, layers=tuple(layers),
        plan=plan,
    )


def plan_for_core(q: QuantizedTree, core: CoreConfig, tree_id: int | str) -> KernelPlan:
    """The kernel plan of `q`, checked against the core's accumulator and scratchpad."""
    if q.acc_bits > core.acc_bits:
        raise CompileError(
            f"tree {tree_id}: the model was quantized for acc_bits = {q.acc_bits} but "
            f"core.acc_bits = {core.acc_bits}; quantize with acc_bits={core.acc_bits}"
        )
    plan = plan_kernels(q, core.lanes, tree_id)
    if plan.act_words > core.act_words:
        raise CompileError(
            f"tree {tree_id}: activation buffers need {plan.act_words} words "
            f"({plan.act_words * core.lanes} bytes: {plan.buffers}) but core.act_sram_bytes "
            f"= {core.act_sram_bytes} ({core.act_words} words); raise core.act_sram_bytes or "
            f"narrow the widest layers"
        )
    return plan


def emit_core(plan: KernelPlan, pieces: list[Piece]
              ) -> tuple[npt.NDArray[np.uint8], list[isa.Instruction], list[LayerPlacement]]:
    """Weight SRAM words (from word 0), instructions (no HALT) and placements of `pieces`
    run in order on one core."""
    lanes = plan.lanes
    regions: list[npt.NDArray[np.uint8]] = []
    program: list[isa.Instruction] = []
    if plan.lut is not None and _uses_lut(plan, pieces):
        regions.append(plan.lut.view(np.uint8).reshape(-1, lanes))
        program.append(isa.setlut(w_addr=0))
    w_addr = sum(len(r) for r in regions)
    layers = []
    for p in pieces:
        op = plan.ops[p.op]
        region = op.region(lanes, p.lo, p.hi)
        instrs = op.instructions(w_addr, lanes, p.lo, p.hi)
        program += instrs
        layers.append(LayerPlacement(
            rows=p.hi - p.lo, cols=op.cols, relu=op.relu, w_addr=w_addr, w_words=len(region),
            x_addr=op.x_addr, y_addr=op.y_addr + p.lo // lanes,
            cycles=op.cycles(lanes, p.lo, p.hi)))
        regions.append(region)
        w_addr += len(region)
    return np.concatenate(regions, axis=0), program, layers


def _uses_lut(plan: KernelPlan, pieces: list[Piece]) -> bool:
    return plan.lut is not None and any(plan.ops[p.op].uses_lut for p in pieces)


def _piece_words(plan: KernelPlan, p: Piece) -> int:
    return (p.hi - p.lo) * plan.ops[p.op].words_per_row(plan.lanes)


def weight_words(plan: KernelPlan, pieces: list[Piece]) -> int:
    """Weight SRAM words `emit_core` uses for `pieces` (the LUT table included)."""
    lut = isa.lut_words(plan.lanes) if _uses_lut(plan, pieces) else 0
    return lut + sum(_piece_words(plan, p) for p in pieces)


def check_weight_sram(plan: KernelPlan, pieces: list[Piece], core: CoreConfig,
                      tree_id: int | str) -> None:
    """Raise `CompileError` (naming the tree, each region and the SRAM size) if `pieces`
    do not fit the core's weight SRAM."""
    total = weight_words(plan, pieces)
    if total <= core.weight_words:
        return
    lanes = core.lanes
    parts = [f"LUT: {isa.lut_words(lanes) * lanes} B"] if _uses_lut(plan, pieces) else []
    parts += [f"{plan.ops[p.op].name} {p.hi - p.lo}x{plan.ops[p.op].cols}: "
              f"{_piece_words(plan, p) * lanes} B" for p in pieces]
    raise CompileError(
        f"tree {tree_id}: weights need {total * lanes} bytes ({total} words of {lanes} lanes; "
        f"{', '.join(parts)}) but core.weight_sram_bytes = {core.weight_sram_bytes}; raise "
        f"core.weight_sram_bytes or split the tree across cores (nfcore.compiler.lower.split)"
    )


def check_imem(program: list[isa.Instruction], core: CoreConfig, tree_id: int | str,
               where: str = "") -> None:
    if len(program) <= core.imem_depth:
        return
    counts: dict[str, int] = {}
    for i in program:
        counts[i.op.name] = counts.get(i.op.name, 0) + 1
    shown = ", ".join(f"{n} {name}" for name, n in counts.items())
    raise CompileError(
        f"tree {tree_id}{where}: needs {len(program)} instructions ({shown}) but "
        f"core.imem_depth = {core.imem_depth}; raise core.imem_depth or use fewer layers"
    )


def program_cycles(program: list[isa.Instruction], lanes: int) -> int:
    """Cycles of a program without SEND/RECV waits by the timing contract: a LOOP's body
    instructions count once per iteration (no nesting)."""
    total, k = 0, 0
    while k < len(program):
        instr = program[k]
        total += isa.cycles(instr, lanes)
        if instr.op is isa.Opcode.LOOP:
            body = program[k + 1 : k + 1 + instr.body]
            total += instr.count * sum(isa.cycles(i, lanes) for i in body)
            k += instr.body
        k += 1
    return total
