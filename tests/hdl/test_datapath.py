"""The VMUL unit and the LUT stage of MacRequant against the golden model, in the Amaranth
simulator: one beat per cycle in, results with the documented latency out."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.sim import Simulator

from nfcore.arch import isa
from nfcore.arch.isa import Activation as IsaActivation
from nfcore.golden.core import requantize
from nfcore.hdl.core.arith import shift_add_multiply
from nfcore.hdl.core.datapath import MacRequant, VmulUnit
from nfcore.hdl.core.decode import Activation

LANES = 8


def _word(values: np.ndarray) -> int:
    return int.from_bytes(np.asarray(values, dtype=np.int8).tobytes(), "little")


def test_shift_add_multiply_equals_the_product_for_every_int8_pair() -> None:
    # All 65536 pairs, 256 at a time: a takes every value, b one value per step.
    m = Module()
    a = [Signal(signed(8), name=f"a{i}") for i in range(256)]
    b = Signal(signed(8))
    y = [Signal(signed(16), name=f"y{i}") for i in range(256)]
    m.d.comb += [y[i].eq(shift_add_multiply(a[i], b)) for i in range(256)]
    values = list(range(-128, 128))
    wrong: list[tuple[int, int, int]] = []

    async def bench(ctx):
        for i, v in enumerate(values):
            ctx.set(a[i], v)
        for bv in values:
            ctx.set(b, bv)
            got = [ctx.get(s) for s in y]
            wrong.extend((av, bv, g) for av, g in zip(values, got, strict=True) if g != av * bv)

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert wrong == []


@pytest.mark.parametrize("lut_multipliers", [0, 3])
def test_vmul_unit_matches_golden_with_latency(lut_multipliers: int) -> None:
    rng = np.random.default_rng(5)
    n = 60
    a = rng.integers(-128, 128, (n, LANES))
    b = rng.integers(-128, 128, (n, LANES))
    a[:4], b[:4] = -128, -128  # the largest product, 16384
    shift = rng.integers(0, isa.VMUL_MAX_SHIFT + 1, n)
    relu = rng.random(n) < 0.5
    # As in the core: a and b go through the MAC's beat (no MATVEC beat valid, all lanes
    # unmasked) and the VMUL unit takes the MAC's lane products.
    m = Module()
    m.submodules.mac = mac = MacRequant(lanes=LANES, acc_bits=32,
                                        lut_multipliers=lut_multipliers)
    m.submodules.vmul = dut = VmulUnit(lanes=LANES)
    m.d.comb += [*(p.eq(q) for p, q in zip(dut.products, mac.products, strict=True)),
                 mac.beat.valid.eq(0)]
    got: list[tuple[int, int]] = []  # (cycle, data) of each result

    async def bench(ctx):
        for i in range(n):
            # act and shift are held by the core for a whole instruction: one beat each,
            # then wait for the result before changing them.
            ctx.set(dut.act, Activation.RELU if relu[i] else Activation.NONE)
            ctx.set(dut.shift, int(shift[i]))
            ctx.set(mac.beat.payload, {"x": _word(a[i]), "w": _word(b[i]), "tag": {
                "mask": 0xFF, "header": 0, "last": 0, "row": 0}})
            ctx.set(dut.beat.payload, {"addr": i, "mask": 0xFF})
            ctx.set(dut.beat.valid, 1)
            await ctx.tick()
            ctx.set(dut.beat.valid, 0)
            # The core's next read (here: other data) must not disturb the result.
            ctx.set(mac.beat.payload, {"x": 0x5A5A5A5A5A5A5A5A, "w": 0x0F0F0F0F0F0F0F0F})
            for cycle in range(1, 5):
                if ctx.get(dut.result.valid):
                    got.append((cycle, ctx.get(dut.result.payload.data)))
                await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert [c for c, _ in got] == [VmulUnit.LATENCY] * n
    for i, (_, data) in enumerate(got):
        act = IsaActivation.RELU if relu[i] else IsaActivation.NONE
        expected = requantize(a[i] * b[i], np.ones(LANES, dtype=np.int64),
                              np.full(LANES, shift[i]), act)
        assert data == _word(expected), f"beat {i}"


def test_mac_lut_stage_maps_requantized_values() -> None:
    # One-word rows: header (bias, mult 1, shift 0) then x = [1, 0, ...] and w = [v, ...]:
    # the requantized value is clamp(bias + v); with act LUT the result is lut[q + 128].
    rng = np.random.default_rng(6)
    table = rng.integers(-128, 128, isa.LUT_ENTRIES).astype(np.int8)
    biases = [-300, -129, -128, -1, 0, 1, 126, 127, 400] + list(rng.integers(-200, 200, 20))
    dut = MacRequant(lanes=LANES, acc_bits=32)
    got: list[tuple[int, int]] = []

    async def bench(ctx):
        for addr, chunk in enumerate(table.reshape(-1, LANES)):
            ctx.set(dut.lut_write.payload, {"addr": addr, "data": _word(chunk)})
            ctx.set(dut.lut_write.valid, 1)
            await ctx.tick()
        ctx.set(dut.lut_write.valid, 0)
        ctx.set(dut.act, Activation.LUT)
        for row, bias in enumerate(biases):
            header = isa.pack_matvec(np.zeros((1, 1)), np.array([bias]), np.array([1]),
                                     np.array([0]), LANES)[0]
            for first, w in ((1, int.from_bytes(bytes(header), "little")), (0, 0)):
                ctx.set(dut.beat.payload, {"w": w, "x": 0, "tag": {
                    "mask": 0xFF, "header": first, "last": 1 - first, "row": row}})
                ctx.set(dut.beat.valid, 1)
                await ctx.tick()
            ctx.set(dut.beat.valid, 0)
            for cycle in range(1, 7):
                if ctx.get(dut.result.valid):
                    got.append((cycle, ctx.get(dut.result.payload.y)))
                await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert [c for c, _ in got] == [MacRequant.LUT_LATENCY] * len(biases)
    for (_, y), bias in zip(got, biases, strict=True):
        assert y == table[int(np.clip(bias, -128, 127)) + 128], f"bias {bias}"
