"""The arithmetic of the micro-core: the MATVEC MAC/requant/LUT pipeline and the VADD and
VMUL units.

Each takes one beat per cycle on an always-ready stream, in the cycle the beat's words leave
the SRAM read ports, and returns results on an always-ready stream that the core writes to
the activation scratchpad in the cycle they appear. Their latencies are part of the timing
contract in `nfcore.arch.isa` (`MATVEC_DRAIN_CYCLES`, `LUT_CYCLES`, `VADD_DRAIN_CYCLES`,
`VMUL_DRAIN_CYCLES`). `Datapath` puts the three behind the sequencer's issue port.
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2, exact_log2

from nfcore.arch import isa
from nfcore.errors import ConfigError
from nfcore.hdl.core.arith import Requantizer, clamp_int8, lane, shift_add_multiply, tree_sum
from nfcore.hdl.core.decode import Activation
from nfcore.hdl.core.ports import read_port

__all__ = ["Datapath", "MacRequant", "VaddUnit", "VmulUnit", "act_write_layout",
           "issue_signature", "mac_tag_layout", "vadd_tag_layout"]

SHIFT_BITS = ceil_log2(isa.MAX_SHIFT + 1)
"""Bits of the requant shift that the hardware reads (the header byte holds 0..MAX_SHIFT)."""


def header_layout(lanes: int) -> data.FlexibleLayout:
    """The MATVEC row header word, at the byte positions `nfcore.arch.isa` defines."""
    bias_lo, bias_hi = isa.HEADER_BIAS_BYTES
    mult_lo, _ = isa.HEADER_MULT_BYTES
    return data.FlexibleLayout(lanes * 8, {
        "bias": data.Field(signed(8 * (bias_hi - bias_lo)), 8 * bias_lo),
        "mult": data.Field(unsigned(isa.MULT_BITS), 8 * mult_lo),
        "shift": data.Field(unsigned(SHIFT_BITS), 8 * isa.HEADER_SHIFT_BYTE),
    })


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


def vector_tag_layout(lanes: int) -> data.StructLayout:
    """A VADD or VMUL beat, as the sequencer issues it."""
    return data.StructLayout({"tag": vadd_tag_layout(lanes), "vmul": unsigned(1)})


def issue_signature(lanes: int) -> wiring.Signature:
    """What the sequencer issues to the datapath in the cycle it reads the beat's words, seen
    from the sequencer: the beats' tags (`mac`: MATVEC; `vector`: VADD or VMUL), the LUT word
    whose table word it reads (`lut`, SETLUT), and MATVEC's output address (`y_base`)."""
    return wiring.Signature({
        "mac": Out(stream.Signature(mac_tag_layout(lanes), always_ready=True)),
        "vector": Out(stream.Signature(vector_tag_layout(lanes), always_ready=True)),
        "lut": Out(stream.Signature(
            data.StructLayout({"addr": lut_write_layout(lanes)["addr"].shape}),
            always_ready=True)),
        "y_base": Out(isa.ACT_ADDR_BITS),
    })


class Datapath(wiring.Component):
    """`MacRequant`, `VaddUnit` and `VmulUnit` behind one issue port: beats in from the
    sequencer and the SRAM read ports, results out to the activation scratchpad.

    The sequencer issues a beat (`issue`) in the cycle it reads the beat's words; the beat's
    tag is registered here so that it meets the read data (`w_rd`, `x_rd`, `b_rd`) one cycle
    later. `act` and `shift` are the running instruction's (VMUL's shift). `result` is the
    scratchpad write of a unit's result, valid in the cycle the result appears (MATVEC's
    first, then VADD's, then VMUL's; one instruction runs at a time, so at most one is valid).
    """

    def __init__(self, *, lanes: int, acc_bits: int, lut_multipliers: int = 0) -> None:
        self.lanes, self.acc_bits, self.lut_multipliers = lanes, acc_bits, lut_multipliers
        word = unsigned(lanes * 8)
        super().__init__({
            "issue": In(issue_signature(lanes)),
            "act": In(Activation),
            "shift": In(unsigned(ceil_log2(isa.VMUL_MAX_SHIFT + 1))),
            "w_rd": In(read_port(data=word)),
            "x_rd": In(read_port(data=word)),
            "b_rd": In(read_port(data=word)),
            "result": Out(stream.Signature(act_write_layout(lanes), always_ready=True)),
        })

    def elaborate(self, platform: Any) -> Module:
        lanes = self.lanes
        m = Module()
        m.submodules.mac = mac = MacRequant(lanes=lanes, acc_bits=self.acc_bits,
                                            lut_multipliers=self.lut_multipliers)
        m.submodules.vadd = vadd = VaddUnit(lanes=lanes)
        m.submodules.vmul = vmul = VmulUnit(lanes=lanes)
        issue, ones = self.issue, Const((1 << lanes) - 1, lanes)

        # A tag issued with a read meets the read data one cycle later.
        mv_tag = Signal(mac_tag_layout(lanes))
        va_tag = Signal(vadd_tag_layout(lanes))
        vector = issue.vector
        m.d.sync += [mac.beat.valid.eq(issue.mac.valid),
                     vadd.beat.valid.eq(vector.valid & ~vector.payload.vmul),
                     vmul.beat.valid.eq(vector.valid & vector.payload.vmul)]
        with m.If(issue.mac.valid):
            m.d.sync += mv_tag.eq(issue.mac.payload)
        with m.If(vector.valid):
            # VMUL's products come from the MAC, whose lanes all take part.
            m.d.sync += [va_tag.eq(vector.payload.tag), mv_tag.mask.eq(ones)]
        # SETLUT: a table word read in cycle t is registered in t + 1 and written in t + 2.
        lut_word_valid = Signal()
        lut_word_addr = Signal.like(mac.lut_write.payload.addr)
        m.d.sync += [lut_word_valid.eq(issue.lut.valid),
                     mac.lut_write.valid.eq(lut_word_valid),
                     mac.lut_write.payload.addr.eq(lut_word_addr),
                     mac.lut_write.payload.data.eq(self.w_rd.data)]
        with m.If(issue.lut.valid):
            m.d.sync += lut_word_addr.eq(issue.lut.payload.addr)

        # VMUL multiplies on the MAC's lane multipliers: its a and b go through the MAC's
        # beat as x and w (no MATVEC beat is valid then, and mv_tag's mask is all ones).
        m.d.comb += [
            mac.beat.payload.w.eq(Mux(vmul.beat.valid, self.b_rd.data, self.w_rd.data)),
            mac.beat.payload.x.eq(self.x_rd.data),
            mac.beat.payload.tag.eq(mv_tag),
            mac.act.eq(self.act),
            vadd.beat.payload.a.eq(self.x_rd.data),
            vadd.beat.payload.b.eq(self.b_rd.data),
            vadd.beat.payload.tag.eq(va_tag),
            vmul.beat.payload.eq(va_tag),
            *(p.eq(q) for p, q in zip(vmul.products, mac.products, strict=True)),
            vmul.shift.eq(self.shift),
        ]
        for unit in (vadd, vmul):
            m.d.comb += unit.act.eq(self.act)

        lane_bits = exact_log2(lanes)
        write = self.result.payload
        with m.If(mac.result.valid):
            res = mac.result.payload
            m.d.comb += [
                self.result.valid.eq(1),
                write.addr.eq(issue.y_base + (res.row >> lane_bits)),
                write.data.eq(res.y.as_unsigned().replicate(lanes)),
                write.mask.eq(Const(1, lanes) << res.row[:lane_bits]),
            ]
        for source in (vadd.result, vmul.result):
            with m.Elif(source.valid):
                m.d.comb += [self.result.valid.eq(1), write.eq(source.payload)]
        return m
