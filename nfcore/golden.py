"""The golden model: executes a core program bit-exactly in numpy and counts its cycles.

It is the reference that the RTL and the SimPy model are checked against. It follows the
semantics and the timing contract of `nfcore.isa` and nothing else.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from nfcore import isa
from nfcore.config import CoreConfig
from nfcore.errors import ExecutionError
from nfcore.isa import Activation, Instruction, Opcode

MAX_STEPS = 1 << 20


@dataclass
class RunResult:
    """What one run of a program did."""

    cycles: int
    """Cycles by the timing contract, from the first running cycle to done."""
    trace: list[Instruction] = field(default_factory=list)
    """Executed instructions in order, HALT included."""

    @property
    def op_counts(self) -> Counter[str]:
        return Counter(i.op.name for i in self.trace)


class CoreState:
    """The memories of one core. Words are `lanes` bytes; activations are int8."""

    def __init__(self, core: CoreConfig) -> None:
        self.core = core
        self.lanes = core.lanes
        self.weights = np.zeros((core.weight_words, core.lanes), dtype=np.uint8)
        self.act = np.zeros((core.act_words, core.lanes), dtype=np.uint8)
        self.program: list[int] = []

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
        """Run the loaded program from instruction 0 until HALT."""
        result = RunResult(cycles=0)
        pc = 0
        for _ in range(max_steps):
            if pc >= len(self.program):
                raise ExecutionError(f"program ran past its end at pc {pc} without HALT")
            instr = isa.decode(self.program[pc])
            result.trace.append(instr)
            result.cycles += isa.cycles(instr, self.lanes)
            if instr.op is Opcode.HALT:
                return result
            self.execute(instr)
            pc += 1  # noqa: SIM113 (a program counter, not a step count)
        raise ExecutionError(f"program did not halt within {max_steps} instructions")

    def execute(self, instr: Instruction) -> None:
        if instr.op is Opcode.MATVEC:
            self._matvec(instr)
        elif instr.op is Opcode.VADD:
            self._vadd(instr)
        else:  # pragma: no cover - decode() only yields implemented opcodes
            raise ExecutionError(f"cannot execute {instr}")

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
        y = requantize(acc, mult, shift, Activation(i.act))
        self.write_vector(i.y_addr, y)

    def _vadd(self, i: Instruction) -> None:
        n = isa.words_for(i.n, self.lanes)
        for operand in (i.a_addr, i.b_addr):
            if operand != i.y_addr:
                self._check_disjoint("VADD", (operand, n), (i.y_addr, n))
        a = self.read_vector(i.a_addr, i.n).astype(np.int64)
        b = self.read_vector(i.b_addr, i.n).astype(np.int64)
        y = a + b
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
    """int8 outputs of accumulators: round-half-up fixed-point scaling, activation, clamp.

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
