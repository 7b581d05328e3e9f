"""Lowering a quantized MLP to one core: weight SRAM contents and a program.

Memory plan
-----------
* Weight SRAM: each layer is one MATVEC region (`isa.pack_matvec`), packed back to back
  from word 0 in layer order. `CoreProgram.weights` holds only the used words; they are
  loaded at weight SRAM word 0 (`CoreState.load_weights(weights)`), the rest of the SRAM
  is unused.
* Scratchpad: two ping-pong buffers. Buffer A starts at word 0 and holds the input and the
  outputs of layers 1, 3, ...; buffer B starts right after A and holds the outputs of
  layers 0, 2, .... A MATVEC therefore never reads and writes the same buffer.
* Program: one MATVEC per layer, then HALT.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nfcore import isa
from nfcore.compiler.quantize import QuantizedMLP
from nfcore.config import CoreConfig
from nfcore.errors import CompileError

MAX_VECTOR = 1 << isa.COUNT_BITS
"""Most rows or columns one MATVEC takes (1024)."""


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

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """(rows, cols) of each layer."""
        return [(p.rows, p.cols) for p in self.layers]

    @property
    def cycles(self) -> int:
        """Cycles of one run of `program` by the timing contract, HALT included."""
        return sum(isa.cycles(i, self.lanes) for i in self.instructions())

    @property
    def weight_bytes(self) -> int:
        return int(self.weights.size)

    def instructions(self) -> list[isa.Instruction]:
        return [isa.decode(w) for w in self.program]


def lower_mlp(q: QuantizedMLP, core: CoreConfig) -> CoreProgram:
    """Map `q` onto one core with configuration `core`.

    Raises `CompileError` naming the limit and what to change if a layer has more than
    1024 rows or columns, the weights exceed `core.weight_sram_bytes`, the activation
    buffers exceed `core.act_sram_bytes`, the program exceeds `core.imem_depth`, or `q` was
    checked for a wider accumulator than `core.acc_bits`.
    """
    lanes = core.lanes
    if q.acc_bits > core.acc_bits:
        raise CompileError(
            f"the model was quantized for acc_bits = {q.acc_bits} but core.acc_bits = "
            f"{core.acc_bits}; quantize with acc_bits={core.acc_bits}"
        )
    for i, layer in enumerate(q.layers):
        if layer.rows > MAX_VECTOR or layer.cols > MAX_VECTOR:
            raise CompileError(
                f"layer {i} is {layer.rows}x{layer.cols}; one MATVEC takes at most "
                f"{MAX_VECTOR} rows and {MAX_VECTOR} columns (split the layer across cores; "
                f"partitioning is not implemented yet)"
            )
    _check_weight_sram(q, core)
    sizes = [q.in_features] + [layer.rows for layer in q.layers]
    buf_a = max(isa.words_for(n, lanes) for n in sizes[0::2])
    buf_b = max(isa.words_for(n, lanes) for n in sizes[1::2])
    if buf_a + buf_b > core.act_words:
        raise CompileError(
            f"activation buffers need {buf_a + buf_b} words ({(buf_a + buf_b) * lanes} "
            f"bytes: ping {buf_a}, pong {buf_b} words for vectors of {sizes} elements) but "
            f"core.act_sram_bytes = {core.act_sram_bytes} ({core.act_words} words); raise "
            f"core.act_sram_bytes or narrow the widest layers"
        )
    n_instr = len(q.layers) + 1
    if n_instr > core.imem_depth:
        raise CompileError(
            f"the program has {n_instr} instructions ({len(q.layers)} MATVEC and HALT) but "
            f"core.imem_depth = {core.imem_depth}; raise core.imem_depth or use fewer layers"
        )
    addr = [0 if k % 2 == 0 else buf_a for k in range(len(sizes))]

    regions: list[npt.NDArray[np.uint8]] = []
    placements: list[LayerPlacement] = []
    program: list[int] = []
    w_addr = 0
    for i, layer in enumerate(q.layers):
        region = isa.pack_matvec(layer.weights, layer.bias, layer.mult, layer.shift, lanes)
        instr = isa.matvec(rows=layer.rows, cols=layer.cols, w_addr=w_addr, x_addr=addr[i],
                           y_addr=addr[i + 1], act=layer.act)
        program.append(instr.encode())
        placements.append(LayerPlacement(
            rows=layer.rows, cols=layer.cols, relu=layer.relu, w_addr=w_addr,
            w_words=len(region), x_addr=addr[i], y_addr=addr[i + 1],
            cycles=isa.cycles(instr, lanes),
        ))
        regions.append(region)
        w_addr += len(region)
    program.append(isa.halt().encode())
    return CoreProgram(
        lanes=lanes,
        weights=np.concatenate(regions, axis=0),
        program=program,
        input_addr=addr[0],
        input_len=sizes[0],
        output_addr=addr[-1],
        output_len=sizes[-1],
        layers=tuple(placements),
    )


def _check_weight_sram(q: QuantizedMLP, core: CoreConfig) -> None:
    words = [isa.matvec_region_words(layer.rows, layer.cols, core.lanes) for layer in q.layers]
    total = sum(words)
    if total > core.weight_words:
        per_layer = ", ".join(
            f"layer {i} {layer.rows}x{layer.cols}: {w * core.lanes} B"
            for i, (layer, w) in enumerate(zip(q.layers, words, strict=True))
        )
        raise CompileError(
            f"weights need {total * core.lanes} bytes ({total} words of {core.lanes} lanes; "
            f"{per_layer}) but core.weight_sram_bytes = {core.weight_sram_bytes}; raise "
            f"core.weight_sram_bytes or narrow the layers (splitting a tree across cores is "
            f"not implemented yet)"
        )
