"""The NF-Core micro-core ISA: encoding, semantics, memory layout and timing contract.

This module is the single source. The golden model (`nfcore.golden.core`), the SimPy model
(`nfcore.sim`), the compiler (`nfcore.compiler`) and the RTL (`nfcore.hdl`) read the field
positions, the weight layout and the cycle counts from here; `docs/isa.md` is rendered from
it (`nfcore isa-doc`) and a test keeps the two equal.

Machine model
-------------
A core has `lanes` (L) MAC lanes and two SRAMs whose words are L bytes wide:

* weight SRAM, `weight_words` words, addressed by word; read one word per cycle;
* activation scratchpad, `act_words` words, addressed by word, written with byte enables;
* a 256-entry int8 -> int8 lookup table (LUT) for activations such as sigmoid and tanh,
  loaded from weight SRAM by SETLUT; it keeps its contents from one run to the next;
* two flit stream ports to the core's router (`net_out`, `net_in`) for SEND and RECV,
  in the packet format of `nfcore.arch.noc`.

Activations are int8. Vectors start at a word boundary: element `i` of a vector at word
address `a` is byte `i % L` of word `a + i // L`.

Every instruction is 64 bits. Bits [5:0] hold the opcode; the other fields depend on it and
are listed in `FORMATS` from bit 6 upward. Fields with `offset = 1` store `value - 1`, so a
10-bit count runs from 1 to 1024; signed fields are two's complement. Reserved bits must be
zero; an instruction with reserved bits set, an unknown opcode or an activation its opcode
does not allow is illegal: the core stops and sets `error`.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from nfcore.arch import noc
from nfcore.errors import ISAError

INSTR_BITS = 64
OPCODE_BITS = 6

# Address field widths; they bound the SRAM sizes a config may ask for.
WEIGHT_ADDR_BITS = 14
ACT_ADDR_BITS = 10
PC_BITS = 10
COUNT_BITS = 10

# The per-row header word of a MATVEC weight region (see `pack_matvec`).
HEADER_BIAS_BYTES = (0, 4)  # int32, little-endian
HEADER_MULT_BYTES = (4, 6)  # uint16, little-endian
HEADER_SHIFT_BYTE = 6  # uint8, 0..MAX_SHIFT
HEADER_BYTES = 8
MAX_SHIFT = 47
MULT_BITS = 16


LUT_ENTRIES = 256
"""Entries of the activation lookup table: one int8 output per int8 input."""
VMUL_MAX_SHIFT = 15
"""Largest VMUL shift: an int8 x int8 product has at most 15 magnitude bits."""
LOOP_MAX_BODY = 8
"""Most instructions a LOOP body may hold (the width of its stride masks)."""


class Opcode(enum.IntEnum):
    """Opcodes: 0x0X compute, 0x10 control, 0x2X network."""

    HALT = 0x00
    MATVEC = 0x01
    VADD = 0x02
    VMUL = 0x03
    SETLUT = 0x04
    LOOP = 0x10
    SEND = 0x20
    RECV = 0x21


class Activation(enum.IntEnum):
    """Activation applied after requantization."""

    NONE = 0
    RELU = 1
    LUT = 2  # y = lut[q + 128] on the clamped int8 q (MATVEC only)


ACTIVATIONS: dict[Opcode, tuple[Activation, ...]] = {
    Opcode.MATVEC: (Activation.NONE, Activation.RELU, Activation.LUT),
    Opcode.VADD: (Activation.NONE, Activation.RELU),
    Opcode.VMUL: (Activation.NONE, Activation.RELU),
}
"""The activations each opcode with an `act` field allows; any other code is illegal.
LUT needs a table read per result; MATVEC makes at most one result every two cycles, so one
read port serves it, while VADD/VMUL make `lanes` results a cycle."""


@dataclass(frozen=True)
class Field:
    name: str
    lsb: int
    width: int
    offset: int = 0
    doc: str = ""
    signed: bool = False
    """Two's complement: the value runs from -2**(width-1) to 2**(width-1) - 1."""

    @property
    def max_value(self) -> int:
        if self.signed:
            return (1 << (self.width - 1)) - 1
        return (1 << self.width) - 1 + self.offset

    @property
    def min_value(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else self.offset

    def store(self, value: int) -> int:
        """The bits this field holds for `value`."""
        return (value - self.offset) & ((1 << self.width) - 1)

    def load(self, bits: int) -> int:
        """The value of the field's stored `bits`."""
        if self.signed and bits >> (self.width - 1):
            return bits - (1 << self.width)
        return bits + self.offset


FORMATS: dict[Opcode, tuple[Field, ...]] = {
    Opcode.HALT: (),
    Opcode.MATVEC: (
        Field("act", 6, 2, doc="Activation after requant (NONE, RELU, LUT)"),
        Field("rows", 8, COUNT_BITS, offset=1, doc="output rows, 1..1024"),
        Field("cols", 18, COUNT_BITS, offset=1, doc="input columns, 1..1024"),
        Field("w_addr", 28, WEIGHT_ADDR_BITS, doc="weight SRAM word address of the region"),
        Field("x_addr", 42, ACT_ADDR_BITS, doc="scratchpad word address of the input"),
        Field("y_addr", 52, ACT_ADDR_BITS, doc="scratchpad word address of the output"),
    ),
    Opcode.VADD: (
        Field("act", 6, 2, doc="Activation after the add (NONE, RELU)"),
        Field("n", 8, COUNT_BITS, offset=1, doc="elements, 1..1024"),
        Field("a_addr", 18, ACT_ADDR_BITS, doc="scratchpad word address of operand a"),
        Field("b_addr", 28, ACT_ADDR_BITS, doc="scratchpad word address of operand b"),
        Field("y_addr", 38, ACT_ADDR_BITS, doc="scratchpad word address of the result"),
    ),
    Opcode.VMUL: (
        Field("act", 6, 2, doc="Activation after the shift (NONE, RELU)"),
        Field("n", 8, COUNT_BITS, offset=1, doc="elements, 1..1024"),
        Field("a_addr", 18, ACT_ADDR_BITS, doc="scratchpad word address of operand a"),
        Field("b_addr", 28, ACT_ADDR_BITS, doc="scratchpad word address of operand b"),
        Field("y_addr", 38, ACT_ADDR_BITS, doc="scratchpad word address of the result"),
        Field("shift", 48, 4, doc=f"right shift of the product, 0..{VMUL_MAX_SHIFT}"),
    ),
    Opcode.SETLUT: (
        Field("w_addr", 6, WEIGHT_ADDR_BITS,
              doc=f"weight SRAM word address of the {LUT_ENTRIES}-byte table"),
    ),
    Opcode.LOOP: (
        Field("body", 6, 3, offset=1,
              doc=f"instructions after LOOP that repeat, 1..{LOOP_MAX_BODY}"),
        Field("count", 9, COUNT_BITS, offset=1, doc="iterations, 1..1024"),
        Field("x_stride", 19, ACT_ADDR_BITS, signed=True,
              doc="words added to the x-address per iteration, -512..511"),
        Field("y_stride", 29, ACT_ADDR_BITS, signed=True,
              doc="words added to the y-address per iteration, -512..511"),
        Field("x_mask", 39, LOOP_MAX_BODY,
              doc="bit k: body instruction k gets the x stride"),
        Field("y_mask", 47, LOOP_MAX_BODY,
              doc="bit k: body instruction k gets the y stride"),
    ),
    Opcode.SEND: (
        Field("n", 6, noc.LENGTH_BITS, offset=1, doc="payload words, 1..1024"),
        Field("addr", 16, ACT_ADDR_BITS, doc="scratchpad word address of the payload"),
        Field("dest_x", 26, noc.COORD_BITS, doc="destination core column"),
        Field("dest_y", 34, noc.COORD_BITS, doc="destination core row"),
        Field("tag", 42, noc.TAG_BITS, doc="message tag, checked by the RECV"),
        Field("to_host", 50, 1,
              doc="1: to the host port (header bit `to_host`); dest_x, dest_y are ignored"),
    ),
    Opcode.RECV: (
        Field("n", 6, noc.LENGTH_BITS, offset=1, doc="payload words, 1..1024"),
        Field("addr", 16, ACT_ADDR_BITS, doc="scratchpad word address to write"),
        Field("tag", 26, noc.TAG_BITS, doc="tag the packet must carry"),
    ),
}

X_STRIDED: dict[Opcode, str] = {
    Opcode.MATVEC: "x_addr", Opcode.VADD: "a_addr", Opcode.VMUL: "a_addr", Opcode.SEND: "addr",
}
"""The field of each opcode that a LOOP's x stride moves (the vector read first)."""
Y_STRIDED: dict[Opcode, str] = {
    Opcode.MATVEC: "y_addr", Opcode.VADD: "y_addr", Opcode.VMUL: "y_addr", Opcode.RECV: "addr",
}
"""The field of each opcode that a LOOP's y stride moves (the vector written)."""

SEMANTICS: dict[Opcode, str] = {
    Opcode.HALT: "Stop. The core reports done; the cycle counter stops.",
    Opcode.MATVEC: (
        "For each row r: acc = bias[r] + sum_c W[r,c] * x[c] (int8 x int8, wrapping at "
        "`acc_bits`); p = acc * mult[r] (mult unsigned 16-bit); q = (p + 2**(shift[r]-1)) "
        ">> shift[r] (arithmetic shift; no rounding term when shift is 0), i.e. round half "
        "up; q = max(q, 0) if act is RELU; y[r] = clamp(q, -128, 127). W, bias, mult and "
        "shift come from the weight region (layout below). The output may not overlap the "
        "input. Bytes of the last output word beyond `rows` are left unchanged."
    ),
    Opcode.VADD: (
        "y[i] = clamp(act(a[i] + b[i]), -128, 127) for i < n. The result may be the same "
        "vector as an operand (in place) but may not overlap one partially."
    ),
    Opcode.VMUL: (
        "p = a[i] * b[i] (int8 x int8); q = (p + 2**(shift-1)) >> shift (no rounding term "
        "when shift is 0: round half up, as MATVEC); y[i] = clamp(act(q), -128, 127) for "
        "i < n. Operands and result may coincide or be disjoint, as for VADD."
    ),
    Opcode.SETLUT: (
        f"Copy the {LUT_ENTRIES}-byte table in weight SRAM words w_addr .. w_addr + "
        f"{LUT_ENTRIES}/lanes - 1 (entry e is byte e % lanes of word w_addr + e // lanes, "
        "int8) into the core's LUT. MATVEC with act LUT then writes y[r] = "
        "LUT[clamp(q, -128, 127) + 128]. The LUT is not reset by RUN."
    ),
    Opcode.LOOP: (
        "Run the next `body` instructions `count` times, then go on after them. In "
        "iteration i (from 0) body instruction k (from 0) runs with x_stride * i added to "
        "its x-address if bit k of x_mask is set and y_stride * i added to its y-address if "
        "bit k of y_mask is set. x-addresses: MATVEC x_addr, VADD/VMUL a_addr, SEND addr; "
        "y-addresses: MATVEC/VADD/VMUL y_addr, RECV addr; mask bits of an instruction "
        "without that address are ignored. The moved address must lie in the scratchpad "
        "(it is computed modulo 2**10). Mask bits at or above `body` must be zero. A LOOP "
        "inside a body is illegal (no nesting). HALT inside a body ends the program."
    ),
    Opcode.SEND: (
        "Send scratchpad words addr .. addr + n - 1 to core (dest_x, dest_y) as one packet "
        "(`nfcore.arch.noc`): a header flit with dest, this core's own coordinates as src, "
        "length n and tag, then the n words, `last` on the final one. With to_host set the "
        "packet goes to the host port instead (the header's `to_host` bit; dest is ignored): how "
        "a tree returns its result. The core waits while the network does not take a flit "
        "(backpressure)."
    ),
    Opcode.RECV: (
        "Wait for the next packet on `net_in` and write its n payload words to scratchpad "
        "words addr .. addr + n - 1. Packets are taken in the order they arrive, whatever "
        "their source; the header's tag and length must equal the instruction's tag and n, "
        "else the core stops with `error` in the cycle it takes the header (the RECV then "
        "costs ISSUE + wait + 1 cycles; the payload stays in the network). `last` of the "
        "payload flits is not checked: the header's length decides."
    ),
}

# --- Timing contract ------------------------------------------------------------------------
# Cycles are counted from the first cycle the core runs (the cycle after it accepts RUN) to
# the cycle it signals done, inclusive: a program's cycles are the sum of its instructions'.

ISSUE_CYCLES = 2
"""Fetch (instruction memory read) and decode, paid by every instruction."""
MATVEC_DRAIN_CYCLES = 4
"""Pipeline depth of MATVEC after its last weight word is read (multiply, reduce,
requantize, write)."""
LUT_CYCLES = 1
"""Extra MATVEC pipeline stage when act is LUT (the table read after requantization)."""
VADD_DRAIN_CYCLES = 2
"""Pipeline depth of VADD after its last operand word is read."""
VMUL_DRAIN_CYCLES = 3
"""Pipeline depth of VMUL after its last operand word is read (multiply, then shift)."""
SETLUT_DRAIN_CYCLES = 2
"""The last table word: its weight read data is registered, then written to the LUT."""
HEADER_FLITS = 1
"""Flits of a packet header (SEND and RECV move it before the payload)."""

TIMING: dict[Opcode, str] = {
    Opcode.HALT: "ISSUE",
    Opcode.MATVEC: "ISSUE + rows * (1 + ceil(cols / lanes)) + MATVEC_DRAIN "
                   "(+ LUT if act is LUT)",
    Opcode.VADD: "ISSUE + ceil(n / lanes) + VADD_DRAIN",
    Opcode.VMUL: "ISSUE + ceil(n / lanes) + VMUL_DRAIN",
    Opcode.SETLUT: "ISSUE + 256 / lanes + SETLUT_DRAIN",
    Opcode.LOOP: "ISSUE, once; the body's instructions then cost their own cycles in every "
                 "iteration, with no per-iteration overhead",
    Opcode.SEND: "ISSUE + HEADER + n, plus one cycle for every cycle `net_out` holds a flit "
                 "that the network does not take",
    Opcode.RECV: "ISSUE + HEADER + n, plus one cycle for every cycle the core is ready on "
                 "`net_in` and no flit is offered (waiting for the packet)",
}


@dataclass(frozen=True)
class Instruction:
    """A decoded instruction: the opcode and its field values (not the stored encodings)."""

    op: Opcode
    args: tuple[tuple[str, int], ...] = ()

    def __getattr__(self, name: str) -> int:
        for key, value in self.args:
            if key == name:
                return value
        raise AttributeError(f"{self.op.name} has no field {name!r}")

    def encode(self) -> int:
        return encode(self.op, **dict(self.args))

    def __str__(self) -> str:
        parts = []
        for key, value in self.args:
            shown = Activation(value).name if key == "act" else str(value)
            if key.endswith("_mask"):
                shown = f"{value:#010b}"
            parts.append(f"{key}={shown}")
        return f"{self.op.name} {' '.join(parts)}".rstrip()


def make(op: Opcode, **fields: int) -> Instruction:
    """Build an instruction, checking every field's range."""
    spec = FORMATS[op]
    names = [f.name for f in spec]
    missing = [n for n in names if n not in fields]
    extra = [n for n in fields if n not in names]
    if missing or extra:
        raise ISAError(f"{op.name}: missing fields {missing}, unknown fields {extra}")
    for f in spec:
        value = int(fields[f.name])
        if not f.min_value <= value <= f.max_value:
            raise ISAError(
                f"{op.name}.{f.name} = {value} is out of range {f.min_value}..{f.max_value}"
            )
    if "act" in fields and int(fields["act"]) not in ACTIVATIONS[op]:
        allowed = ", ".join(a.name for a in ACTIVATIONS[op])
        raise ISAError(f"{op.name}.act = {int(fields['act'])}: {op.name} allows {allowed}")
    if op is Opcode.VMUL and int(fields["shift"]) > VMUL_MAX_SHIFT:
        raise ISAError(f"VMUL.shift = {fields['shift']} is out of range 0..{VMUL_MAX_SHIFT}")
    if op is Opcode.LOOP:
        for name in ("x_mask", "y_mask"):
            if int(fields[name]) >> int(fields["body"]):
                raise ISAError(f"LOOP.{name} = {int(fields[name]):#x} has bits at or above "
                               f"body = {fields['body']}")
    return Instruction(op, tuple((f.name, int(fields[f.name])) for f in spec))


def encode(op: Opcode, **fields: int) -> int:
    instr = make(op, **fields)
    word = int(op)
    for f in FORMATS[op]:
        word |= f.store(getattr(instr, f.name)) << f.lsb
    return word


def decode(word: int) -> Instruction:
    if not 0 <= word < 1 << INSTR_BITS:
        raise ISAError(f"instruction word {word:#x} is not a 64-bit value")
    code = word & ((1 << OPCODE_BITS) - 1)
    try:
        op = Opcode(code)
    except ValueError:
        raise ISAError(f"unknown opcode {code:#04x} in instruction {word:#018x}") from None
    used = (1 << OPCODE_BITS) - 1
    fields: dict[str, int] = {}
    for f in FORMATS[op]:
        mask = (1 << f.width) - 1
        fields[f.name] = f.load((word >> f.lsb) & mask)
        used |= mask << f.lsb
    if word & ~used:
        raise ISAError(f"{op.name} instruction {word:#018x} has reserved bits set")
    return make(op, **fields)


def reserved_lsb(op: Opcode) -> int:
    """First bit above the last field of `op`: the bits from here to 63 are reserved."""
    spec = FORMATS[op]
    return max((f.lsb + f.width for f in spec), default=OPCODE_BITS)


# --- Helpers that spell instructions --------------------------------------------------------


def matvec(*, rows: int, cols: int, w_addr: int, x_addr: int, y_addr: int,
           act: Activation = Activation.NONE) -> Instruction:
    return make(Opcode.MATVEC, act=act, rows=rows, cols=cols, w_addr=w_addr,
                x_addr=x_addr, y_addr=y_addr)


def vadd(*, n: int, a_addr: int, b_addr: int, y_addr: int,
         act: Activation = Activation.NONE) -> Instruction:
    return make(Opcode.VADD, act=act, n=n, a_addr=a_addr, b_addr=b_addr, y_addr=y_addr)


def vmul(*, n: int, a_addr: int, b_addr: int, y_addr: int, shift: int = 0,
         act: Activation = Activation.NONE) -> Instruction:
    return make(Opcode.VMUL, act=act, n=n, a_addr=a_addr, b_addr=b_addr, y_addr=y_addr,
                shift=shift)


def setlut(*, w_addr: int) -> Instruction:
    return make(Opcode.SETLUT, w_addr=w_addr)


def loop(*, body: int, count: int, x_stride: int = 0, y_stride: int = 0, x_mask: int = 0,
         y_mask: int = 0) -> Instruction:
    return make(Opcode.LOOP, body=body, count=count, x_stride=x_stride, y_stride=y_stride,
                x_mask=x_mask, y_mask=y_mask)


def send(*, n: int, addr: int, dest_x: int, dest_y: int, tag: int = 0) -> Instruction:
    return make(Opcode.SEND, n=n, addr=addr, dest_x=dest_x, dest_y=dest_y, tag=tag, to_host=0)


def send_to_host(*, n: int, addr: int, tag: int = 0) -> Instruction:
    """SEND of scratchpad words addr .. addr + n - 1 to the host port."""
    return make(Opcode.SEND, n=n, addr=addr, dest_x=0, dest_y=0, tag=tag, to_host=1)


def recv(*, n: int, addr: int, tag: int = 0) -> Instruction:
    return make(Opcode.RECV, n=n, addr=addr, tag=tag)


def halt() -> Instruction:
    return make(Opcode.HALT)


# --- Timing ---------------------------------------------------------------------------------


def words_for(n: int, lanes: int) -> int:
    """Words that hold `n` bytes."""
    return math.ceil(n / lanes)


def lut_words(lanes: int) -> int:
    """Weight SRAM words of a SETLUT table."""
    return words_for(LUT_ENTRIES, lanes)


def cycles(instr: Instruction, lanes: int) -> int:
    """Cycles one execution of `instr` takes on a core with `lanes` lanes, by the timing
    contract. For SEND and RECV this is the time with no network stall or wait; each such
    cycle adds one. A LOOP costs ISSUE once; its body's executions are counted one by one."""
    op = instr.op
    if op in (Opcode.HALT, Opcode.LOOP):
        return ISSUE_CYCLES
    if op is Opcode.MATVEC:
        lut = LUT_CYCLES if instr.act == Activation.LUT else 0
        return (ISSUE_CYCLES + instr.rows * (1 + words_for(instr.cols, lanes))
                + MATVEC_DRAIN_CYCLES + lut)
    if op is Opcode.VADD:
        return ISSUE_CYCLES + words_for(instr.n, lanes) + VADD_DRAIN_CYCLES
    if op is Opcode.VMUL:
        return ISSUE_CYCLES + words_for(instr.n, lanes) + VMUL_DRAIN_CYCLES
    if op is Opcode.SETLUT:
        return ISSUE_CYCLES + lut_words(lanes) + SETLUT_DRAIN_CYCLES
    if op in (Opcode.SEND, Opcode.RECV):
        return ISSUE_CYCLES + HEADER_FLITS + instr.n
    raise ISAError(f"no timing for {op.name}")  # pragma: no cover - every Opcode has one


def executed_instructions(program: Sequence[Instruction]) -> list[Instruction]:
    """The instructions a run executes, in order: a LOOP once, then its body `count` times
    (strided addresses do not change cycles or events); stops at the first HALT."""
    out: list[Instruction] = []
    k = 0
    while k < len(program):
        instr = program[k]
        out.append(instr)
        if instr.op is Opcode.HALT:
            break
        if instr.op is Opcode.LOOP:
            out += list(program[k + 1 : k + 1 + instr.body]) * instr.count
            k += instr.body
        k += 1
    return out


# --- Weight layout of MATVEC ----------------------------------------------------------------


def matvec_region_words(rows: int, cols: int, lanes: int) -> int:
    """Weight SRAM words of a MATVEC region: one header word and the row's weights per row."""
    return rows * (1 + words_for(cols, lanes))


def pack_matvec(weights: npt.NDArray[Any], bias: npt.NDArray[Any], mult: npt.NDArray[Any],
                shift: npt.NDArray[Any], lanes: int) -> npt.NDArray[np.uint8]:
    """Lay out one MATVEC's weights as `(words, lanes)` bytes.

    Row r occupies `1 + ceil(cols / lanes)` consecutive words: a header word (bytes 0-3 the
    int32 bias, 4-5 the uint16 requant multiplier, 6 the shift, the rest zero) and then
    W[r, :] as int8, zero-padded to whole words.
    """
    rows, cols = weights.shape
    if lanes < HEADER_BYTES:
        raise ISAError(f"lanes = {lanes}: the row header needs at least {HEADER_BYTES} lanes")
    _check_range("weights", weights, -128, 127)
    _check_range("bias", bias, -(1 << 31), (1 << 31) - 1)
    _check_range("mult", mult, 0, (1 << MULT_BITS) - 1)
    _check_range("shift", shift, 0, MAX_SHIFT)
    wpr = words_for(cols, lanes)
    out = np.zeros((rows, 1 + wpr, lanes), dtype=np.uint8)
    out[:, 0, 0:4] = np.asarray(bias, dtype="<i4").reshape(rows, 1).view(np.uint8)
    out[:, 0, 4:6] = np.asarray(mult, dtype="<u2").reshape(rows, 1).view(np.uint8)
    out[:, 0, HEADER_SHIFT_BYTE] = np.asarray(shift, dtype=np.uint8)
    padded = np.zeros((rows, wpr * lanes), dtype=np.int8)
    padded[:, :cols] = weights
    out[:, 1:, :] = padded.view(np.uint8).reshape(rows, wpr, lanes)
    return out.reshape(rows * (1 + wpr), lanes)


def unpack_header(word: npt.NDArray[np.uint8]) -> tuple[int, int, int]:
    """(bias, mult, shift) of a MATVEC row header word."""
    raw = bytes(word[:HEADER_BYTES])
    bias = int.from_bytes(raw[0:4], "little", signed=True)
    mult = int.from_bytes(raw[4:6], "little", signed=False)
    return bias, mult, raw[HEADER_SHIFT_BYTE]


def _check_range(name: str, values: npt.NDArray[Any], lo: int, hi: int) -> None:
    values = np.asarray(values)
    if values.size and (values.min() < lo or values.max() > hi):
        raise ISAError(f"{name} outside {lo}..{hi}: {values.min()}..{values.max()}")
