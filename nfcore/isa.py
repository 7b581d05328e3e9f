"""The NF-Core micro-core ISA: encoding, semantics, memory layout and timing contract.

This module is the single source. The golden model (`nfcore.golden`), the SimPy model
(`nfcore.sim`), the compiler (`nfcore.compiler`) and the RTL (`nfcore.hdl`) read the field
positions, the weight layout and the cycle counts from here; `docs/isa.md` is rendered from
it (`nfcore isa-doc`) and a test keeps the two equal.

Machine model
-------------
A core has `lanes` (L) MAC lanes and two SRAMs whose words are L bytes wide:

* weight SRAM, `weight_words` words, addressed by word; read one word per cycle;
* activation scratchpad, `act_words` words, addressed by word, written with byte enables.

Activations are int8. Vectors start at a word boundary: element `i` of a vector at word
address `a` is byte `i % L` of word `a + i // L`.

Every instruction is 64 bits. Bits [5:0] hold the opcode; the other fields depend on it and
are listed in `FORMATS` from bit 6 upward. Fields with `offset = 1` store `value - 1`, so a
10-bit count runs from 1 to 1024. Reserved bits must be zero.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

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


class Opcode(enum.IntEnum):
    """Opcodes. Values below 0x10 are implemented by this core version."""

    HALT = 0x00
    MATVEC = 0x01
    VADD = 0x02


class PlannedOpcode(enum.IntEnum):
    """Opcodes reserved for the later instructions; the encoding leaves room for them."""

    VMUL = 0x03  # element-wise multiply with requant shift (RNN gates)
    LOOP = 0x10  # repeat the next N instructions with address strides (convolutions, time)
    SEND = 0x20  # send a vector to another core over the mesh
    RECV = 0x21  # receive a vector from the mesh


class Activation(enum.IntEnum):
    """Activation applied after requantization."""

    NONE = 0
    RELU = 1
    LUT = 2  # planned: 256-entry table (sigmoid, tanh); not in this core version


@dataclass(frozen=True)
class Field:
    name: str
    lsb: int
    width: int
    offset: int = 0
    doc: str = ""

    @property
    def max_value(self) -> int:
        return (1 << self.width) - 1 + self.offset

    @property
    def min_value(self) -> int:
        return self.offset


FORMATS: dict[Opcode, tuple[Field, ...]] = {
    Opcode.HALT: (),
    Opcode.MATVEC: (
        Field("act", 6, 2, doc="Activation after requant (NONE, RELU)"),
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
}

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
}

# --- Timing contract ------------------------------------------------------------------------
# Cycles are counted from the first cycle the core runs (the cycle after it accepts RUN) to
# the cycle it signals done, inclusive: a program's cycles are the sum of its instructions'.

ISSUE_CYCLES = 2
"""Fetch (instruction memory read) and decode, paid by every instruction."""
MATVEC_DRAIN_CYCLES = 4
"""Pipeline depth of MATVEC after its last weight word is read (multiply, reduce,
requantize, write)."""
VADD_DRAIN_CYCLES = 2
"""Pipeline depth of VADD after its last operand word is read."""

TIMING: dict[Opcode, str] = {
    Opcode.HALT: "ISSUE",
    Opcode.MATVEC: "ISSUE + rows * (1 + ceil(cols / lanes)) + MATVEC_DRAIN",
    Opcode.VADD: "ISSUE + ceil(n / lanes) + VADD_DRAIN",
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
        if f.name == "act" and value not in (Activation.NONE, Activation.RELU):
            raise ISAError(f"{op.name}.act = {value}: only NONE and RELU are implemented")
    return Instruction(op, tuple((f.name, int(fields[f.name])) for f in spec))


def encode(op: Opcode, **fields: int) -> int:
    instr = make(op, **fields)
    word = int(op)
    for f in FORMATS[op]:
        word |= (getattr(instr, f.name) - f.offset) << f.lsb
    return word


def decode(word: int) -> Instruction:
    if not 0 <= word < 1 << INSTR_BITS:
        raise ISAError(f"instruction word {word:#x} is not a 64-bit value")
    code = word & ((1 << OPCODE_BITS) - 1)
    try:
        op = Opcode(code)
    except ValueError:
        planned = {p.value: p.name for p in PlannedOpcode}
        what = f"planned opcode {planned[code]}" if code in planned else "unknown opcode"
        raise ISAError(f"{what} {code:#04x} in instruction {word:#018x}") from None
    used = (1 << OPCODE_BITS) - 1
    fields: dict[str, int] = {}
    for f in FORMATS[op]:
        mask = (1 << f.width) - 1
        fields[f.name] = ((word >> f.lsb) & mask) + f.offset
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


def halt() -> Instruction:
    return make(Opcode.HALT)


# --- Timing ---------------------------------------------------------------------------------


def words_for(n: int, lanes: int) -> int:
    """Words that hold `n` bytes."""
    return math.ceil(n / lanes)


def cycles(instr: Instruction, lanes: int) -> int:
    """Cycles `instr` takes on a core with `lanes` lanes, by the timing contract."""
    if instr.op is Opcode.HALT:
        return ISSUE_CYCLES
    if instr.op is Opcode.MATVEC:
        return ISSUE_CYCLES + instr.rows * (1 + words_for(instr.cols, lanes)) + MATVEC_DRAIN_CYCLES
    if instr.op is Opcode.VADD:
        return ISSUE_CYCLES + words_for(instr.n, lanes) + VADD_DRAIN_CYCLES
    raise ISAError(f"no timing for {instr.op.name}")


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


# --- Documentation --------------------------------------------------------------------------


def render_markdown() -> str:
    """`docs/isa.md`, rendered from this module."""
    lines = [
        "# NF-Core ISA",
        "",
        "<!-- Generated by `nfcore isa-doc` from nfcore/isa.py; a test keeps them equal. -->",
        "",
        (__doc__ or "").split("Machine model\n-------------\n", 1)[1].strip(),
        "",
        "## Instructions",
        "",
    ]
    for op in Opcode:
        lines += [f"### {op.name} (opcode {op.value:#04x})", "", SEMANTICS[op], ""]
        lines += ["| bits | field | encoding | meaning |", "| --- | --- | --- | --- |"]
        lines.append("| 5:0 | op | opcode | |")
        for f in FORMATS[op]:
            enc = f"value - {f.offset}" if f.offset else "value"
            lines.append(f"| {f.lsb + f.width - 1}:{f.lsb} | {f.name} | {enc} | {f.doc} |")
        lines.append(f"| 63:{reserved_lsb(op)} | reserved | 0 | |")
        lines += ["", f"Cycles: `{TIMING[op]}`", ""]
    lines += [
        "## Timing contract",
        "",
        "Cycles are counted from the first cycle a core runs (the cycle after it accepts RUN) "
        "to the cycle it signals done, inclusive; a program takes the sum of its "
        "instructions' cycles. The RTL is tested to take exactly these cycles.",
        "",
        "| constant | cycles | what |",
        "| --- | --- | --- |",
        f"| ISSUE | {ISSUE_CYCLES} | fetch and decode, paid by every instruction |",
        f"| MATVEC_DRAIN | {MATVEC_DRAIN_CYCLES} | MATVEC pipeline after its last weight word |",
        f"| VADD_DRAIN | {VADD_DRAIN_CYCLES} | VADD pipeline after its last operand word |",
        "",
        "## MATVEC weight layout",
        "",
        pack_matvec.__doc__.split("\n\n", 1)[1].strip() if pack_matvec.__doc__ else "",
        "",
        "Lanes must be at least 8 so that the header fits in one word.",
        "",
        "## Planned opcodes",
        "",
        "Reserved so that later instructions fit without re-encoding: "
        + ", ".join(f"{p.name} ({p.value:#04x})" for p in PlannedOpcode)
        + ". Activation code 2 is reserved for a 256-entry lookup table (sigmoid, tanh). "
        "Convolutions will use LOOP with word strides over channel-last inputs whose channel "
        "count is padded to whole words, so MATVEC's word-aligned reads serve them.",
        "",
    ]
    return "\n".join(lines)
