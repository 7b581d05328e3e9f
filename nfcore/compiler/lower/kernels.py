"""The kernel plan of a quantized tree: its MATVECs (with LOOP strides), scratchpad addresses
and weight regions, independent of which core runs which part.

Every tree kind becomes a list of `MatvecOp`s that run in order, each reading only the
output of the op before it (or the input), so a partition can cut the list anywhere.

Scratchpad layouts (L = lanes, words(n) = ceil(n / L)):

* mlp: ping-pong buffers A (word 0) and B (after A): the input and the outputs of layers
  1, 3, ... in A, the outputs of layers 0, 2, ... in B.
* cnn: every vector is channel-last with each position padded to whole words
  (cw = words(channels) words per position), so a window of k positions is k * cw whole
  words and a conv is ``LOOP count=P x_stride=stride*cw y_stride=ow`` over one MATVEC of
  ``cols = k * cw * L`` (zero weight columns in the channel padding). Conv outputs and
  head outputs alternate between A and B as for mlp. The head's first layer reads the last
  conv's padded output flat (index p * ow * L + o); its weight columns are permuted to that
  layout at compile time, with zero columns in the gaps.
* rnn: the input sequence is laid out as T + 1 slots of S = words(in) + words(hidden)
  words; slot t holds [x_t (padded); h_{t-1}] and the host writes h_0 = 0 in slot 0. The
  cell is ``SETLUT`` then ``LOOP count=T x_stride=S y_stride=S`` over one MATVEC act=LUT
  that reads slot t and writes h_t into the h part of slot t + 1: no copies, and the MATVEC
  never overwrites its input. The head reads h_T from slot T; its outputs ping-pong in A
  and B after the slots.

A dense op wider than one MATVEC (more than `MAX_VECTOR` columns) runs as one MATVEC per
column block (`QuantizedLayer.col_blocks`) on the same rows: block 0 writes the output, each
later block writes the partial-sum buffer P (after the plan's other buffers, one row chunk
long) and a VADD adds P into the output in place, the last VADD applying the layer's
activation. An op taller than one MATVEC runs in row chunks of `MAX_VECTOR` rows. Both keep
the op one op of the plan (one weight region, rows split between cores as before); LOOPed
ops (convs, the Elman cell) and the cnn head's padded first layer are not split this way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from nfcore.arch import isa
from nfcore.arch.isa import Activation, Instruction
from nfcore.compiler.quant.mlp import MAX_VECTOR, QuantizedLayer, col_blocks
from nfcore.compiler.quant.tree import QuantizedTree
from nfcore.errors import CompileError

MAX_STRIDE = 511
"""Largest LOOP stride (the field is 10-bit signed)."""


@dataclass(frozen=True, eq=False)
class MatvecOp:
    """One MATVEC, repeated `count` times by a LOOP with strides when `count` > 1."""

    name: str
    rows: int
    cols: int
    act: Activation
    weights: npt.NDArray[np.int8]
    """(rows, cols) as laid out in the region (padding columns are zero)."""
    layer: QuantizedLayer
    """bias, mult and shift per row."""
    x_addr: int
    y_addr: int
    count: int = 1
    x_stride: int = 0
    y_stride: int = 0
    splittable: bool = True
    """Whether its rows may be split between cores (not the recurrent cell)."""
    psum_addr: int = 0
    """Scratchpad word of the partial-sum buffer (used when there are several blocks)."""

    @property
    def uses_lut(self) -> bool:
        return self.act == Activation.LUT

    @property
    def relu(self) -> bool:
        return self.act == Activation.RELU

    @property
    def blocks(self) -> list[tuple[int, int]]:
        """Column ranges [lo, hi) of its MATVECs: the layer's column blocks for a dense op
        (not LOOPed, columns unpadded), else all columns in one."""
        if self.count == 1 and self.cols == self.layer.cols:
            return col_blocks(self.cols)
        return [(0, self.cols)]

    def words_per_row(self, lanes: int) -> int:
        return sum(1 + isa.words_for(hi - lo, lanes) for lo, hi in self.blocks)

    def _row_chunks(self, lo: int, hi: int) -> list[tuple[int, int]]:
        return [(r, min(r + MAX_VECTOR, hi)) for r in range(lo, hi, MAX_VECTOR)]

    def region(self, lanes: int, lo: int = 0, hi: int | None = None
               ) -> npt.NDArray[np.uint8]:
        """The packed weight region of rows lo .. hi - 1: per row chunk, per column block,
        one `isa.pack_matvec` region (the bias in block 0), in the order of `instructions`."""
        q, parts = self.layer, []
        for r0, r1 in self._row_chunks(lo, self.rows if hi is None else hi):
            for b, (c0, c1) in enumerate(self.blocks):
                bias = q.bias[r0:r1] if b == 0 else np.zeros(r1 - r0, dtype=np.int32)
                parts.append(isa.pack_matvec(self.weights[r0:r1, c0:c1], bias,
                                             q.mult[r0:r1], q.shift[r0:r1], lanes))
        return np.concatenate(parts, axis=0)

    def instructions(self, w_addr: int, lanes: int, lo: int = 0, hi: int | None = None
                     ) -> list[Instruction]:
        """The LOOP (if repeated), MATVECs and VADDs of rows lo .. hi - 1 (lo a multiple of
        lanes), with the region at weight word `w_addr`."""
        hi = self.rows if hi is None else hi
        if self.count > 1:
            return [isa.loop(body=1, count=self.count, x_stride=self.x_stride,
                             y_stride=self.y_stride, x_mask=1, y_mask=1),
                    isa.matvec(rows=hi - lo, cols=self.cols, w_addr=w_addr,
                               x_addr=self.x_addr, y_addr=self.y_addr + lo // lanes,
                               act=self.act)]
        blocks, out = self.blocks, []
        single = len(blocks) == 1
        for r0, r1 in self._row_chunks(lo, hi):
            y = self.y_addr + r0 // lanes
            for b, (c0, c1) in enumerate(blocks):
                out.append(isa.matvec(rows=r1 - r0, cols=c1 - c0, w_addr=w_addr,
                                      x_addr=self.x_addr + c0 // lanes,
                                      y_addr=y if b == 0 else self.psum_addr,
                                      act=self.act if single else Activation.NONE))
                w_addr += isa.matvec_region_words(r1 - r0, c1 - c0, lanes)
                if b > 0:
                    last = b == len(blocks) - 1
                    out.append(isa.vadd(n=r1 - r0, a_addr=y, b_addr=self.psum_addr,
                                        y_addr=y, act=self.act if last else Activation.NONE))
        return out

    def cycles(self, lanes: int, lo: int = 0, hi: int | None = None) -> int:
        return sum(isa.cycles(i, lanes) * (self.count if i.op is isa.Opcode.MATVEC else 1)
                   for i in self.instructions(0, lanes, lo, hi))

    def x_span(self, lanes: int) -> tuple[int, int]:
        """(first word, words) of the scratchpad the op reads over all iterations."""
        return self.x_addr, (self.count - 1) * self.x_stride + isa.words_for(self.cols, lanes)

    def y_span(self, lanes: int) -> tuple[int, int]:
        """(first word, words) of the scratchpad the op writes over all iterations."""
        return self.y_addr, (self.count - 1) * self.y_stride + isa.words_for(self.rows, lanes)


@dataclass(frozen=True, eq=False)
class KernelPlan:
    """The ops of one tree and its I/O layout on the scratchpad."""

    kind: str
    lanes: int
    ops: tuple[MatvecOp, ...]
    lut: npt.NDArray[np.int8] | None
    """The SETLUT table (rnn), loaded at weight word 0 of the core that runs the cell."""
    input_addr: int
    positions: int
    """Input positions (1 for mlp) ..."""
    channels: int
    """... of `channels` int8 values each ..."""
    position_bytes: int
    """... padded with zeros to `position_bytes` bytes: the packed input vector."""
    output_addr: int
    output_len: int
    act_words: int
    """Scratchpad words the plan uses (0 .. act_words - 1)."""
    buffers: str
    """How the scratchpad is used, for error messages."""

    @property
    def input_len(self) -> int:
        """int8 elements of the packed input vector the host writes at `input_addr`."""
        return self.positions * self.position_bytes

    def pack_input(self, x_int: npt.NDArray[np.integer]) -> npt.NDArray[np.int8]:
        """Packed input vectors (n, input_len) of int8 inputs (n, *input_shape)."""
        x = np.asarray(x_int).reshape(len(x_int), self.positions, self.channels)
        out = np.zeros((len(x), self.positions, self.position_bytes), dtype=np.int8)
        out[:, :, : self.channels] = x
        return out.reshape(len(x), -1)


def plan_kernels(q: QuantizedTree, lanes: int, tree_id: int | str = 0) -> KernelPlan:
    """The kernel plan of `q` for cores of `lanes` lanes. Raises `CompileError` naming the
    tree and the op if a LOOPed MATVEC (or the cnn head's padded first layer) exceeds 1024
    rows or columns or a LOOP stride or count exceeds the ISA's fields; dense layers of any
    size run in row chunks and column blocks."""
    if q.kind == "mlp":
        plan = _plan_mlp(q, lanes)
    elif q.kind == "cnn":
        plan = _plan_cnn(q, lanes)
    else:
        plan = _plan_rnn(q, lanes)
    for op in plan.ops:
        if (op.count > 1 and op.rows > MAX_VECTOR) or (op.cols > MAX_VECTOR
                                                        and len(op.blocks) == 1):
            raise CompileError(
                f"tree {tree_id}: {op.name} is {op.rows}x{op.cols}; a LOOPed MATVEC (conv, "
                f"Elman cell) or the cnn head's padded first layer takes at most {MAX_VECTOR} "
                f"rows and {MAX_VECTOR} columns (narrow the layer)")
        if op.count > MAX_VECTOR or max(op.x_stride, op.y_stride) > MAX_STRIDE:
            raise CompileError(
                f"tree {tree_id}: {op.name} loops {op.count} times with strides "
                f"{op.x_stride}, {op.y_stride} words; a LOOP takes at most {MAX_VECTOR} "
                f"iterations and strides up to {MAX_STRIDE} words")
    return _with_psum_buffer(plan)


def _with_psum_buffer(plan: KernelPlan) -> KernelPlan:
    """`plan` with a partial-sum buffer after its buffers if an op has several column
    blocks: one row chunk of the widest such op."""
    split = [op for op in plan.ops if len(op.blocks) > 1]
    if not split:
        return plan
    words = max(isa.words_for(min(op.rows, MAX_VECTOR), plan.lanes) for op in split)
    ops = tuple(replace(op, psum_addr=plan.act_words) if len(op.blocks) > 1 else op
                for op in plan.ops)
    return replace(plan, ops=ops, act_words=plan.act_words + words,
                   buffers=f"{plan.buffers}, then {words} words of partial sums")


def _pingpong(base: int, words: list[int]) -> tuple[list[int], int, str]:
    """Addresses of vectors 0, 1, 2, ... alternating between buffers A and B from `base`;
    the words the two take and a description."""
    buf_a = max(words[0::2])
    buf_b = max(words[1::2], default=0)
    addrs = [base if k % 2 == 0 else base + buf_a for k in range(len(words))]
    return addrs, buf_a + buf_b, f"ping {buf_a}, pong {buf_b} words"


def _dense_ops(layers: tuple[QuantizedLayer, ...], addrs: list[int], label: str,
               first_weights: npt.NDArray[np.int8] | None = None) -> list[MatvecOp]:
    ops = []
    for k, layer in enumerate(layers):
        w = layer.weights if k or first_weights is None else first_weights
        ops.append(MatvecOp(name=f"{label} {k}", rows=layer.rows, cols=int(w.shape[1]),
                            act=layer.act, weights=w, layer=layer, x_addr=addrs[k],
                            y_addr=addrs[k + 1]))
    return ops


def _plan_mlp(q: QuantizedTree, lanes: int) -> KernelPlan:
    sizes = [q.in_elements] + [layer.rows for layer in q.head]
    addrs, total, desc = _pingpong(0, [isa.words_for(n, lanes) for n in sizes])
    return KernelPlan(kind="mlp", lanes=lanes, ops=tuple(_dense_ops(q.head, addrs, "layer")),
                    lut=None, input_addr=0, positions=1, channels=sizes[0],
                    position_bytes=sizes[0], output_addr=addrs[-1], output_len=sizes[-1],
                    act_words=total,
                    buffers=f"{desc} for vectors of {sizes} elements")


def _plan_cnn(q: QuantizedTree, lanes: int) -> KernelPlan:
    length, channels = q.input_shape
    lengths, cws = [length], [isa.words_for(channels, lanes)]
    for conv in q.convs:
        lengths.append(conv.out_length(lengths[-1]))
        cws.append(isa.words_for(conv.out_channels, lanes))
    words = [n * cw for n, cw in zip(lengths, cws, strict=True)]
    words += [isa.words_for(layer.rows, lanes) for layer in q.head]
    addrs, total, desc = _pingpong(0, words)
    ops: list[MatvecOp] = []
    for i, conv in enumerate(q.convs):
        cw, k = cws[i], conv.kernel
        w = np.zeros((conv.out_channels, k, cw * lanes), dtype=np.int8)
        w[:, :, : conv.in_channels] = conv.layer.weights.reshape(conv.out_channels, k, -1)
        ops.append(MatvecOp(name=f"conv {i}", rows=conv.out_channels, cols=k * cw * lanes,
                            act=conv.layer.act, weights=w.reshape(conv.out_channels, -1),
                            layer=conv.layer, x_addr=addrs[i], y_addr=addrs[i + 1],
                            count=lengths[i + 1], x_stride=conv.stride * cw,
                            y_stride=cws[i + 1]))
    # The head reads [p, o] at byte p * ow * L + o, not p * out_ch + o: permute its columns.
    p_out, ow, out_ch = lengths[-1], cws[-1], q.convs[-1].out_channels
    first = q.head[0].weights.reshape(q.head[0].rows, p_out, out_ch)
    head_w = np.zeros((q.head[0].rows, p_out, ow * lanes), dtype=np.int8)
    head_w[:, :, :out_ch] = first
    ops += _dense_ops(q.head, addrs[len(q.convs):], "head layer",
                      head_w.reshape(q.head[0].rows, -1))
    return KernelPlan(kind="cnn", lanes=lanes, ops=tuple(ops), lut=None, input_addr=0,
                    positions=length, channels=channels, position_bytes=cws[0] * lanes,
                    output_addr=addrs[-1], output_len=q.out_features, act_words=total,
                    buffers=f"{desc} for vectors of {words} words")


def _plan_rnn(q: QuantizedTree, lanes: int) -> KernelPlan:
    cell = q.cell
    assert cell is not None
    steps = q.input_shape[0]
    xw, hw = isa.words_for(cell.input_size, lanes), isa.words_for(cell.hidden_size, lanes)
    slot = xw + hw
    w = np.zeros((cell.hidden_size, xw * lanes + cell.hidden_size), dtype=np.int8)
    w[:, : cell.input_size] = cell.layer.weights[:, : cell.input_size]
    w[:, xw * lanes :] = cell.layer.weights[:, cell.input_size :]
    cell_op = MatvecOp(name="Elman cell", rows=cell.hidden_size, cols=int(w.shape[1]),
                       act=Activation.LUT, weights=w, layer=cell.layer, x_addr=0,
                       y_addr=slot + xw, count=steps, x_stride=slot, y_stride=slot,
                       splittable=False)
    seq_words = (steps + 1) * slot
    words = [isa.words_for(layer.rows, lanes) for layer in q.head]
    addrs, total, desc = _pingpong(seq_words, words)
    head = _dense_ops(q.head, [steps * slot + xw, *addrs], "head layer")
    return KernelPlan(kind="rnn", lanes=lanes, ops=(cell_op, *head), lut=cell.lut,
                    input_addr=0, positions=steps, channels=cell.input_size,
                    position_bytes=slot * lanes, output_addr=addrs[-1],
                    output_len=q.out_features, act_words=seq_words + total,
                    buffers=f"{steps + 1} sequence slots of {slot} words, then {desc}")
