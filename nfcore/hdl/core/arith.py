"""The integer arithmetic of the datapaths: int8 lanes, the adder tree, a multiplier without
`*` for devices short of DSP blocks, and the requantizer of MATVEC and VMUL."""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from nfcore.arch import isa
from nfcore.hdl.core.decode import Activation

__all__ = ["INT8_MAX", "INT8_MIN", "Requantizer", "clamp_int8", "lane", "shift_add_multiply",
           "tree_sum"]

INT8_MIN, INT8_MAX = -128, 127


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
