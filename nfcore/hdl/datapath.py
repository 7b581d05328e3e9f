"""The arithmetic of the micro-core: the MATVEC MAC/requant/LUT pipeline and the VADD and
VMUL units.

Each takes one beat per cycle on an always-ready stream, in the cycle the beat's words leave
the SRAM read ports, and returns results on an always-ready stream that the core writes to
the activation scratchpad in the cycle they appear. Their latencies are part of the timing
contract in `nfcore.arch.isa` (`MATVEC_DRAIN_CYCLES`, `LUT_CYCLES`, `VADD_DRAIN_CYCLES`,
`VMUL_DRAIN_CYCLES`).
"""

from __future__ import annotations

import types
from enum import IntEnum
from typing import Any

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2, exact_log2

from nfcore.arch import isa
from nfcore.errors import ConfigError


def hw_enum(py_enum: type[IntEnum], bits: int) -> Any:
    """An Amaranth enum shape with the members of `py_enum`, so waveforms show names."""

    def body(ns: dict[str, Any]) -> None:
        for member in py_enum:
            ns[member.name] = member.value

    return types.new_class(py_enum.__name__, (enum.Enum,), {"shape": bits}, body)


def isa_field(op: isa.Opcode, name: str) -> isa.Field:
    for f in isa.FORMATS[op]:
        if f.name == name:
            return f
    raise KeyError(f"{op.name} has no field {name!r}")


Opcode = hw_enum(isa.Opcode, isa.OPCODE_BITS)
Activation = hw_enum(isa.Activation, isa_field(isa.Opcode.MATVEC, "act").width)

SHIFT_BITS = ceil_log2(isa.MAX_SHIFT + 1)
"""Bits of the requant shift that the hardware reads (the header byte holds 0..MAX_SHIFT)."""
INT8_MIN, INT8_MAX = -128, 127


def header_layout(lanes: int) -> data.FlexibleLayout:
    """The MATVEC row header word, at the byte positions `nfcore.arch.isa` defines."""
    bias_lo, bias_hi = isa.HEADER_BIAS_BYTES
    mult_lo, _ = isa.HEADER_MULT_BYTES
    return data.FlexibleLayout(lanes * 8, {
        "bias": data.Field(signed(8 * (bias_hi - bias_lo)), 8 * bias_lo),
        "mult": data.Field(unsigned(isa.MULT_BITS), 8 * mult_lo),
        "shift": data.Field(unsigned(SHIFT_BITS), 8 * isa.HEADER_SHIFT_BYTE),
    })


def lane(word: Value, i: int) -> Value:
    """Byte `i` of a word, as a signed int8."""
    return word.word_select(i, 8).as_signed()


def tree_sum(values: list[Value]) -> Value:
    """Balanced adder tree: log2(len) adder levels instead of a chain."""
    if len(values) == 1:
        return values[0]
    half = len(values) // 2
    return tree_sum(values[:half]) + tree_sum(values[half:])


def shift_add_multiply(a: Value, b: Value) -> Value:
    """a * b for signed a and b as a sum of shifted partial products, without `*`.

    Synthesis maps a `*` to a DSP block when the device has one; this form always becomes
    LUTs and carry chains, for a device with fewer DSP blocks than multipliers (the iCE40
    UP5K). Equal to `a * b` for every pair (tests/hdl/test_datapath.py checks all int8 pairs).
    """
    a, b = a.as_signed(), b.as_signed()
    top = len(b) - 1
    partial = [Mux(b[j], a << j, 0) for j in range(top)]
    return tree_sum(partial) - Mux(b[top], a << top, 0)  # b's top bit weighs -2**top


def clamp_int8(value: Value, relu: Value) -> Value:
    """max(value, 0) if relu, then saturate to int8."""
    lo = Mux(relu, 0, INT8_MIN)
    return Mux(value > INT8_MAX, INT8_MAX, Mux(value < lo, lo, value))[:8].as_signed()


class Requantizer(wiring.Component):
    """y = clamp(act((p + 2**(shift-1)) >> shift)) with no rounding term when shift is 0; `p`
    is the product acc * mult. Matches `nfcore.golden.core.requantize`.

    Combinational, or with `registered` a two-stage pipeline: p and shift in one cycle
    (shifted by whole bytes there), y in the next (the rest of the shift and the clamp).
    """

    def __init__(self, *, product_bits: int, max_shift: int = isa.MAX_SHIFT,
                 registered: bool = False) -> None:
        self.product_bits = product_bits
        self.max_shift = max_shift
        self.registered = registered
        super().__init__({
            "p": In(signed(product_bits)),
            "shift": In(unsigned(ceil_log2(max_shift + 1))),
            "act": In(Activation),
            "y": Out(signed(8)),
        })

    def elaborate(self, platform: Any) -> Module:
        # (p + 2**(s-1)) >> s == (p >> s) + bit s-1 of p (p = q 2**s + r with 0 <= r < 2**s:
        # the half carries into q exactly when r >= 2**(s-1)). So the wide rounding add
        # and the wide comparisons of the clamp become a bit select, an 8-bit increment and
        # a test of p's bits from s + 7 up: q = p >> s is in -128..127 exactly when those
        # are all equal to p's sign. Only 9 bits of the shifted p are used (the round bit
        # and q's low byte). The shift by s = 8 c + f is done by whole bytes (c) and then by
        # f bits, so a pipeline register can sit between the two (the MATVEC requant stage
        # is one of the core's longest paths on an FPGA). tests/hdl/test_requant.py checks
        # it against the golden model at every edge.
        m = Module()
        byte_shift, bit_shift = self.shift[3:], self.shift[:3]
        # v = p * 2 >> 8 c: bit j of v is bit 8 c - 1 + j of p (0 below p, sign above).
        v_next = Cat(Const(0, 1), self.p).as_signed() >> Cat(Const(0, 3), byte_shift)
        v: Value = v_next
        f: Value = bit_shift
        if self.registered:
            v, f = Signal.like(v_next, name="v"), Signal.like(bit_shift, name="f")
            m.d.sync += [v.eq(v_next), f.eq(bit_shift)]
        # Bits 0..8 of v >> f: bit s-1 of p (0 if s == 0), then q's low byte.
        window = (v >> f)[:9]
        round_bit = window[0]
        low = window[1:].as_signed()
        negative = v[-1]
        # Bit j of v is at or above bit s + 7 of p when j >= f + 8 (f is 0..7).
        above = Cat(*(Const(int(j >= 15), 1) if not 8 <= j < 15 else f <= j - 8
                      for j in range(len(v))))
        out_of_range = ((v ^ negative.replicate(len(v))) & above).any()
        relu = self.act == Activation.RELU
        # In range, low + round_bit only leaves int8 at 127 + 1.
        over = (~negative & out_of_range) | (~out_of_range & (low == INT8_MAX) & round_bit)
        under = negative & out_of_range
        stepped = (low + round_bit)[:8].as_signed()
        with m.If(over):
            m.d.comb += self.y.eq(INT8_MAX)
        with m.Elif(under | (relu & stepped[-1])):
            m.d.comb += self.y.eq(Mux(relu, 0, INT8_MIN))
        with m.Else():
            m.d.comb += self.y.eq(stepped)
        return m


def mac_tag_layout(lanes: int) -> data.StructLayout:
    """What the sequencer knows about a MATVEC beat when it issues the read."""
    return data.StructLayout({
        "mask": unsigned(lanes),  # lanes of x that belong to the vector
        "header": unsigned(1),  # w is the row header: start a new row
        "last": unsigned(1),  # w is the last weight word of the row
        "row": unsigned(isa.COUNT_BITS),
    })


def mac_beat_layout(lanes: int) -> data.StructLayout:
    return data.StructLayout({
        "w": unsigned(lanes * 8),  # weight word (a row header or lanes int8 weights)
        "x": unsigned(lanes * 8),  # input word
        "tag": mac_tag_layout(lanes),
    })


MAC_RESULT_LAYOUT = data.StructLayout({"y": signed(8), "row": unsigned(isa.COUNT_BITS)})


LANE_PRODUCT_BITS = 16
"""An int8 x int8 product lies in -16256..16384."""




def lut_write_layout(lanes: int) -> data.StructLayout:
    """One word of the LUT: entries `addr * lanes .. addr * lanes + lanes - 1`."""
    return data.StructLayout({
        "addr": unsigned(ceil_log2(isa.LUT_ENTRIES // lanes)),
        "data": unsigned(lanes * 8),
    })


class MacRequant(wiring.Component):
    """MATVEC datapath: `lanes` int8 multipliers, an adder tree into a wrapping accumulator
    of `acc_bits`, requantization, and the activation LUT.

    Pipeline, counted from the cycle a beat arrives (= the cycle after its SRAM read):
    0 register the read data (x masked); 1 multiply (products registered); 2 reduce and
    accumulate; 3 multiply by the row's requant multiplier and shift by whole bytes; 4 the
    rest of the shift, round, activate and clamp, result valid unless act is LUT; 5 (act
    LUT) the table word read with the clamped value + 128 as index, result valid. The
    result of a row appears 4 (5 with LUT) cycles after its last beat. (`MicroCore` reads a
    MATVEC's first word in DECODE, one cycle before the contract's first beat cycle, so the
    pipeline has one cycle more than the drain.)

    The LUT is a memory of `256 / lanes` words of `lanes` entries, written a word at a time
    through `lut_write` (SETLUT) and read by one port: a row's result needs one read, and
    rows are at least two cycles apart.

    `products` are stage 1's lane products w_i * (x_i masked), of the beat registered in stage
    0 whether or not it is valid: `VmulUnit` takes its products from here, so a core has one
    set of `lanes` multipliers (on an FPGA, one DSP per lane instead of two).

    The last `lut_multipliers` lanes multiply with `shift_add_multiply` (LUTs, no DSP block);
    results and timing are the same for every value.
    """

    LATENCY = 4
    LUT_LATENCY = 5

    def __init__(self, *, lanes: int, acc_bits: int, lut_multipliers: int = 0) -> None:
        if not 0 <= lut_multipliers <= lanes:
            raise ConfigError(f"lut_multipliers = {lut_multipliers} is out of range; "
                              f"allowed 0 to lanes = {lanes}")
        self.lanes = lanes
        self.acc_bits = acc_bits
        self.lut_multipliers = lut_multipliers
        super().__init__({
            "beat": In(stream.Signature(mac_beat_layout(lanes), always_ready=True)),
            "act": In(Activation),
            "lut_write": In(stream.Signature(lut_write_layout(lanes), always_ready=True)),
            "result": Out(stream.Signature(MAC_RESULT_LAYOUT, always_ready=True)),
            "products": Out(signed(LANE_PRODUCT_BITS)).array(lanes),
        })

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        # acc (signed) * mult (unsigned, < 2**MULT_BITS) lies in -2**47 .. 2**47 - 1 for a
        # 32-bit acc: acc_bits + MULT_BITS bits, no redundant sign bit.
        product_bits = self.acc_bits + isa.MULT_BITS
        m.submodules.requant = requant = Requantizer(product_bits=product_bits, registered=True)
        m.submodules.lut = lut = memory.Memory(
            shape=unsigned(self.lanes * 8), depth=isa.LUT_ENTRIES // self.lanes, init=[])
        lut_wr, lut_rd = lut.write_port(), lut.read_port()
        m.d.comb += [lut_wr.addr.eq(self.lut_write.payload.addr),
                     lut_wr.data.eq(self.lut_write.payload.data),
                     lut_wr.en.eq(self.lut_write.valid)]

        # Stage 0: register the SRAM read data (SRAM clock-to-out is slow), x with the lanes
        # outside the vector zeroed here rather than in stage 1, the longest stage on an FPGA.
        beat = Signal.like(self.beat.payload, name="beat_q")
        beat_valid = Signal()
        payload = self.beat.payload
        m.d.sync += [beat.eq(payload), beat_valid.eq(self.beat.valid),
                     beat.x.eq(payload.x & Cat(bit.replicate(8) for bit in payload.tag.mask))]

        # Stage 1: the lane products, registered with the beat's tag and header fields (on
        # an FPGA the multiply and the adder tree + accumulate are each about one cycle).
        header = header_layout(self.lanes)(beat.w)
        first_lut_lane = self.lanes - self.lut_multipliers
        for i in range(self.lanes):
            w_i, x_i = lane(beat.w, i), lane(beat.x, i)
            product = w_i * x_i if i < first_lut_lane else shift_add_multiply(w_i, x_i)
            m.d.comb += self.products[i].eq(product)
        products = [Signal(signed(LANE_PRODUCT_BITS), name=f"product{i}")
                    for i in range(self.lanes)]
        tag1 = Signal.like(beat.tag, name="tag1")
        valid1 = Signal()
        bias1 = Signal(signed(self.acc_bits), name="bias1")  # as acc takes it: truncated
        mult1 = Signal.like(header.mult, name="mult1")
        shift1 = Signal.like(header.shift, name="shift1")
        m.d.sync += [*(p.eq(q) for p, q in zip(products, self.products, strict=True)),
                     tag1.eq(beat.tag), valid1.eq(beat_valid), bias1.eq(header.bias),
                     mult1.eq(header.mult), shift1.eq(header.shift)]

        # Stage 2: dot product of the word, accumulate; a header word starts a row.
        dot = tree_sum(products)
        acc = Signal(signed(self.acc_bits))
        mult = Signal(unsigned(isa.MULT_BITS))
        shift = Signal(unsigned(SHIFT_BITS))
        row_done = Signal()
        row2 = Signal(isa.COUNT_BITS)
        with m.If(valid1 & tag1.header):
            m.d.sync += [acc.eq(bias1), mult.eq(mult1), shift.eq(shift1)]
        with m.Elif(valid1):
            m.d.sync += acc.eq(acc + dot)  # truncation = wrapping at acc_bits
        m.d.sync += [row_done.eq(valid1 & tag1.last), row2.eq(tag1.row)]

        # Stage 3: requant product, shifted by whole bytes into the requantizer's register.
        # The next row's header may overwrite mult/shift at the end of this cycle, so the
        # rest of the shift travels on with the product.
        row3 = Signal(isa.COUNT_BITS)
        # A row's result is valid in stage 4; the LUT is read only then (the enable is the
        # valid bit itself, so the Verilog has no alias of it).
        valid4 = lut_rd.en
        m.d.comb += [requant.p.eq(acc * mult), requant.shift.eq(shift)]
        m.d.sync += [row3.eq(row2), valid4.eq(row_done)]

        # Stage 4: round, shift, activate, clamp; start the LUT read. y + 128 as an 8-bit
        # index is y with its sign bit flipped.
        m.d.comb += requant.act.eq(self.act)
        index = Cat(requant.y[:7], ~requant.y[7])
        lane_bits = exact_log2(self.lanes)
        lane5 = Signal(lane_bits)
        row5 = Signal(isa.COUNT_BITS)
        valid5 = Signal()
        m.d.comb += lut_rd.addr.eq(index[lane_bits:])
        m.d.sync += [lane5.eq(index[:lane_bits]), row5.eq(row3), valid5.eq(valid4)]

        # Stage 5 (act LUT): the table entry.
        with m.If(self.act == Activation.LUT):
            m.d.comb += [self.result.valid.eq(valid5),
                         self.result.payload.y.eq(Array(
                             lut_rd.data[8 * i : 8 * i + 8] for i in range(self.lanes))[lane5]),
                         self.result.payload.row.eq(row5)]
        with m.Else():
            m.d.comb += [self.result.valid.eq(valid4),
                         self.result.payload.y.eq(requant.y),
                         self.result.payload.row.eq(row3)]
        return m


def vadd_beat_layout(lanes: int) -> data.StructLayout:
    return data.StructLayout({
        "a": unsigned(lanes * 8),
        "b": unsigned(lanes * 8),
        "tag": vadd_tag_layout(lanes),
    })


def vadd_tag_layout(lanes: int) -> data.StructLayout:
    return data.StructLayout({
        "mask": unsigned(lanes),  # bytes of the result word to write
        "addr": unsigned(isa.ACT_ADDR_BITS),
    })


def act_write_layout(lanes: int) -> data.StructLayout:
    return data.StructLayout({
        "addr": unsigned(isa.ACT_ADDR_BITS),
        "data": unsigned(lanes * 8),
        "mask": unsigned(lanes),
    })


class VaddUnit(wiring.Component):
    """VADD datapath: per lane y = clamp(act(a + b)).

    Pipeline, counted from the cycle a beat arrives (= the cycle after its SRAM reads):
    0 register the read data; 1 add, activate, clamp, result valid.
    """

    LATENCY = 1

    def __init__(self, *, lanes: int) -> None:
        self.lanes = lanes
        super().__init__({
            "beat": In(stream.Signature(vadd_beat_layout(lanes), always_ready=True)),
            "act": In(Activation),
            "result": Out(stream.Signature(act_write_layout(lanes), always_ready=True)),
        })

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        beat = Signal.like(self.beat.payload, name="beat_q")
        m.d.sync += [beat.eq(self.beat.payload), self.result.valid.eq(self.beat.valid)]

        relu = self.act == Activation.RELU
        sums = [clamp_int8(lane(beat.a, i) + lane(beat.b, i), relu) for i in range(self.lanes)]
        m.d.comb += [
            self.result.payload.addr.eq(beat.tag.addr),
            self.result.payload.data.eq(Cat(sums)),
            self.result.payload.mask.eq(beat.tag.mask),
        ]
        return m


class VmulUnit(wiring.Component):
    """VMUL datapath: per lane y = clamp(act((a * b + 2**(shift-1)) >> shift)), no rounding
    term when shift is 0 (the MATVEC requantizer with multiplier 1).

    The unit has no multipliers of its own: a beat carries only its tag, and `products` must
    hold the beat's lane products a_i * b_i in the cycle after the beat. The core sends a
    VMUL beat's a and b through `MacRequant`'s beat (as x and w, with no MATVEC beat valid)
    and wires `MacRequant.products` here.

    Pipeline, counted from the cycle a beat arrives (= the cycle after its SRAM reads):
    0 register the read data (in MacRequant) and the tag; 1 products registered; 2 round,
    shift, activate, clamp, result valid.
    """

    LATENCY = 2
    PRODUCT_BITS = LANE_PRODUCT_BITS

    def __init__(self, *, lanes: int) -> None:
        self.lanes = lanes
        super().__init__({
            "beat": In(stream.Signature(vadd_tag_layout(lanes), always_ready=True)),
            "products": In(signed(LANE_PRODUCT_BITS)).array(lanes),
            "shift": In(unsigned(ceil_log2(isa.VMUL_MAX_SHIFT + 1))),
            "act": In(Activation),
            "result": Out(stream.Signature(act_write_layout(lanes), always_ready=True)),
        })

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        beat_tag = Signal.like(self.beat.payload, name="tag0")
        beat_valid = Signal()
        m.d.sync += [beat_tag.eq(self.beat.payload), beat_valid.eq(self.beat.valid)]

        tag = Signal.like(beat_tag, name="tag1")
        m.d.sync += [tag.eq(beat_tag), self.result.valid.eq(beat_valid)]
        ys = []
        for i in range(self.lanes):
            requant = Requantizer(product_bits=self.PRODUCT_BITS,
                                  max_shift=isa.VMUL_MAX_SHIFT)
            m.submodules[f"requant{i}"] = requant
            # The requantizer's input port is the product register.
            m.d.sync += requant.p.eq(self.products[i])
            m.d.comb += [requant.shift.eq(self.shift), requant.act.eq(self.act)]
            ys.append(requant.y)
        m.d.comb += [
            self.result.payload.addr.eq(tag.addr),
            self.result.payload.data.eq(Cat(ys)),
            self.result.payload.mask.eq(tag.mask),
        ]
        return m
