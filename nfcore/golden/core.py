"""The golden model: executes a core program bit-exactly in numpy and counts its cycles.

It is the reference that the RTL and the SimPy model are checked against. It follows the
semantics and the timing contract of `nfcore.arch.isa` and nothing else.

`CoreState.run` runs one core alone; SEND and RECV need a network, which
`nfcore.golden.array` provides (it drives cores with `start`, `fetch` and `execute`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from nfcore.arch import isa
from nfcore.arch.isa import Activation, Instruction, Opcode
from nfcore.config import CoreConfig
from nfcore.errors import ExecutionError

MAX_STEPS = 1 << 20


@dataclass
class RunResult:
    """What one run of a program did."""

    cycles: int
    """Cycles by the timing contract, from the first running cycle to done; includes
    `wait_cycles`."""
    trace: list[Instruction] = field(default_factory=list)
    """Executed instructions in order, HALT included, with LOOP strides applied to their
    address fields (the addresses they used)."""
    wait_cycles: int = 0
    """Cycles RECVs waited for their packet (0 on a single core)."""

    @property
    def op_counts(self) -> Counter[str]:
        return Counter(i.op.name for i in self.trace)


@dataclass
class _Loop:
    """The running LOOP: body instructions start..end (pcs), iterations after this one."""

    start: int
    end: int
    left: int
    instr: Instruction
    iteration: int = 0


class CoreState:
    """The memories of one core. Words are `lanes` bytes; activations are int8."""

    def __init__(self, core: CoreConfig) -> None:
        self.core = core
        self.lanes = core.lanes
        self.weights = np.zeros((core.weight_words, core.lanes), dtype=np.uint8)
        self.act = np.zeros((core.act_words, core.lanes), dtype=np.uint8)
        self.lut = np.zeros(isa.LUT_ENTRIES, dtype=np.int8)
        self.program: list[int] = []
        self.pc = 0
        self._loop: _Loop | None = None

    # -- loading -----------------------------------------------------------------------------

    def load_weights(self, words: npt.NDArray[np.uint8], addr: int = 0) -> None:
        self._check_span("weight SRAM", addr, len(words), self.core.weight_words)
        self.weights[addr : addr + len(words)] = words

    def load_program(self, program: list[int]) -> None:
        if len(program) > self.core.imem_depth:
            raise ExecutionError(
                f"program of {len(program)} instructions exceeds core.imem_depth = "
                f"{self.core.imem_depth}"
            )
        self.program = [int(w) for w in program]

    def write_vector(self, addr: int, values: npt.NDArray[Any]) -> None:
        """Write int8 `values` starting at scratchpad word `addr`."""
        values = np.asarray(values)
        if values.size and (values.min() < -128 or values.max() > 127):
            raise ExecutionError("activation values must be int8 (-128..127)")
        nwords = isa.words_for(len(values), self.lanes)
        self._check_span("activation scratchpad", addr, nwords, self.core.act_words)
        flat = self.act.reshape(-1)
        start = addr * self.lanes
        flat[start : start + len(values)] = values.astype(np.int8).view(np.uint8)

    def read_vector(self, addr: int, n: int) -> npt.NDArray[np.int8]:
        self._check_span("activation scratchpad", addr, isa.words_for(n, self.lanes),
                         self.core.act_words)
        start = addr * self.lanes
        return self.act.reshape(-1)[start : start + n].view(np.int8).copy()

    @staticmethod
    def _check_span(what: str, addr: int, nwords: int, depth: int) -> None:
        if addr < 0 or addr + nwords > depth:
            raise ExecutionError(
                f"{what} words {addr}..{addr + nwords - 1} out of range 0..{depth - 1}"
            )

    # -- execution ---------------------------------------------------------------------------

    def run(self, max_steps: int = MAX_STEPS) -> RunResult:
        """Run the loaded program from instruction 0 until HALT, on this core alone."""
        result = RunResult(cycles=0)
        self.start()
        for _ in range(max_steps):
            instr = self.fetch()
            result.trace.append(instr)
            result.cycles += isa.cycles(instr, self.lanes)
            if instr.op is Opcode.HALT:
                return result
            if instr.op in (Opcode.SEND, Opcode.RECV):
                raise ExecutionError(
                    f"{instr.op.name} at pc {self.pc - 1} needs a network: run the program "
                    "with nfcore.golden.array")
            self.execute(instr)
        raise ExecutionError(f"program did not halt within {max_steps} instructions")

    # -- sequencing ----------------------------------------------------------------------------

    def start(self) -> None:
        """Reset the sequencer to instruction 0, as RUN does (memories and LUT stay)."""
        self.pc = 0
        self._loop = None

    def fetch(self) -> Instruction:
        """Decode the instruction at `pc` with the running LOOP's strides applied to its
        addresses, and move `pc` to the instruction that runs next."""
        pc = self.pc
        if pc >= len(self.program):
            raise ExecutionError(f"program ran past its end at pc {pc} without HALT")
        instr = isa.decode(self.program[pc])
        loop = self._loop
        if instr.op is Opcode.LOOP:
            if loop is not None:
                raise ExecutionError(f"LOOP at pc {pc} inside the body of the LOOP at pc "
                                     f"{loop.start - 1}: loops do not nest")
            self._loop = _Loop(start=pc + 1, end=pc + instr.body, left=instr.count - 1,
                               instr=instr)
        elif loop is not None:
            instr = self._strided(instr, pc - loop.start, loop)
        self.pc = pc + 1
        if loop is not None and pc == loop.end:
            if loop.left:
                loop.left -= 1
                loop.iteration += 1
                self.pc = loop.start
            else:
                self._loop = None
        return instr

    def _strided(self, instr: Instruction, k: int, loop: _Loop) -> Instruction:
        """`instr` (body instruction k) with the loop's strides of this iteration applied."""
        moved = dict(instr.args)
        for strided, mask, stride in ((isa.X_STRIDED, loop.instr.x_mask, loop.instr.x_stride),
                                      (isa.Y_STRIDED, loop.instr.y_mask, loop.instr.y_stride)):
            name = strided.get(instr.op)
            if name is None or not (mask >> k) & 1:
                continue
            addr = moved[name] + stride * loop.iteration
            if not 0 <= addr < self.core.act_words:
                raise ExecutionError(
                    f"LOOP iteration {loop.iteration}: {instr.op.name}.{name} = {addr} is "
                    f"outside the scratchpad 0..{self.core.act_words - 1}")
            moved[name] = addr
        return Instruction(instr.op, tuple(moved.items()))

    # -- execution -----------------------------------------------------------------------------

    def execute(self, instr: Instruction) -> None:
        """Execute a core-local instruction (not HALT, SEND or RECV)."""
        if instr.op is Opcode.MATVEC:
            self._matvec(instr)
        elif instr.op is Opcode.VADD:
            self._vector(instr, lambda a, b: a + b)
        elif instr.op is Opcode.VMUL:
            self._vector(instr, lambda a, b: requantize(a * b, np.ones_like(a),
                                                        np.full_like(a, instr.shift),
                                                        Activation.NONE))
        elif instr.op is Opcode.SETLUT:
            nwords = isa.lut_words(self.lanes)
            self._check_span("SETLUT table", instr.w_addr, nwords, self.core.weight_words)
            table = self.weights[instr.w_addr : instr.w_addr + nwords].reshape(-1)
            self.lut = table[: isa.LUT_ENTRIES].view(np.int8).copy()
        elif instr.op is Opcode.LOOP:
            pass  # sequencing only: `fetch` runs the body
        else:
            raise ExecutionError(f"cannot execute {instr} on its own")

    def send_payload(self, instr: Instruction) -> npt.NDArray[np.uint8]:
        """The `(n, lanes)` payload words of a SEND."""
        self._check_span("SEND payload", instr.addr, instr.n, self.core.act_words)
        return self.act[instr.addr : instr.addr + instr.n].copy()

    def receive(self, instr: Instruction, header: dict[str, int],
                payload: npt.NDArray[np.uint8]) -> None:
        """Store the packet (`noc.decode_header` fields and payload) a RECV takes."""
        if header["tag"] != instr.tag or header["length"] != instr.n:
            raise ExecutionError(
                f"RECV expected tag {instr.tag} and {instr.n} words, got a packet from "
                f"({header['src_x']}, {header['src_y']}) with tag {header['tag']} and "
                f"{header['length']} words")
        self._check_span("RECV payload", instr.addr, instr.n, self.core.act_words)
        self.act[instr.addr : instr.addr + instr.n] = payload

    def _matvec(self, i: Instruction) -> None:
        lanes = self.lanes
        wpr = isa.words_for(i.cols, lanes)
        nwords = isa.matvec_region_words(i.rows, i.cols, lanes)
        self._check_span("MATVEC weight region", i.w_addr, nwords, self.core.weight_words)
        self._check_disjoint("MATVEC", (i.x_addr, wpr), (i.y_addr, isa.words_for(i.rows, lanes)))
        region = self.weights[i.w_addr : i.w_addr + nwords].reshape(i.rows, 1 + wpr, lanes)
        headers = region[:, 0, :].copy()
        bias = headers[:, 0:4].copy().view("<i4").reshape(-1).astype(np.int64)
        mult = headers[:, 4:6].copy().view("<u2").reshape(-1).astype(np.int64)
        shift = headers[:, isa.HEADER_SHIFT_BYTE].astype(np.int64)
        if shift.max(initial=0) > isa.MAX_SHIFT:
            raise ExecutionError(f"MATVEC at w_addr {i.w_addr}: shift above {isa.MAX_SHIFT}")
        w = region[:, 1:, :].reshape(i.rows, wpr * lanes)[:, : i.cols].view(np.int8)
        x = self.read_vector(i.x_addr, i.cols)
        acc = _wrap(bias + w.astype(np.int64) @ x.astype(np.int64), self.core.acc_bits)
        if i.act == Activation.LUT:
            q = requantize(acc, mult, shift, Activation.NONE)
            y = self.lut[q.astype(np.int64) + 128]
        else:
            y = requantize(acc, mult, shift, Activation(i.act))
        self.write_vector(i.y_addr, y)

    def _vector(self, i: Instruction,
                fn: Callable[[npt.NDArray[np.int64], npt.NDArray[np.int64]], Any]) -> None:
        """VADD/VMUL: y = clamp(act(fn(a, b)))."""
        n = isa.words_for(i.n, self.lanes)
        for operand in (i.a_addr, i.b_addr):
            if operand != i.y_addr:
                self._check_disjoint(i.op.name, (operand, n), (i.y_addr, n))
        a = self.read_vector(i.a_addr, i.n).astype(np.int64)
        b = self.read_vector(i.b_addr, i.n).astype(np.int64)
        y = np.asarray(fn(a, b), dtype=np.int64)
        if i.act == Activation.RELU:
            y = np.maximum(y, 0)
        self.write_vector(i.y_addr, np.clip(y, -128, 127))

    @staticmethod
    def _check_disjoint(what: str, a: tuple[int, int], b: tuple[int, int]) -> None:
        if a[0] < b[0] + b[1] and b[0] < a[0] + a[1]:
            raise ExecutionError(
                f"{what}: scratchpad words {a[0]}..{a[0] + a[1] - 1} and "
                f"{b[0]}..{b[0] + b[1] - 1} overlap"
            )


def requantize(acc: npt.NDArray[np.int64], mult: npt.NDArray[np.int64],
               shift: npt.NDArray[np.int64], act: Activation) -> npt.NDArray[np.int8]:
    """int8 outputs of accumulators: round-half-up fixed-point scaling, activation (NONE or
    RELU; LUT is applied by the caller on the NONE result), clamp.

    `acc * mult` fits in 48 bits, so int64 arithmetic is exact.
    """
    p = acc * mult
    rounding = np.where(shift > 0, np.left_shift(1, np.maximum(shift - 1, 0)), 0)
    q = (p + rounding) >> shift
    if act == Activation.RELU:
        q = np.maximum(q, 0)
    return np.clip(q, -128, 127).astype(np.int8)


def _wrap(values: npt.NDArray[np.int64], bits: int) -> npt.NDArray[np.int64]:
    """Two's-complement wrap to `bits` bits, as the accumulator does."""
    half = 1 << (bits - 1)
    return ((values + half) & ((1 << bits) - 1)) - half
