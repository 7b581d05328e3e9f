"""The requantizer against `nfcore.golden.core.requantize`, in the Amaranth simulator."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from nfcore.arch import isa
from nfcore.arch.isa import Activation as IsaActivation
from nfcore.golden.core import requantize
from nfcore.hdl.core.arith import Requantizer
from nfcore.hdl.core.decode import Activation

ACC_BITS = 32


def test_requantizer_matches_golden() -> None:
    rng = np.random.default_rng(3)
    n = 400
    acc = rng.integers(-(1 << (ACC_BITS - 1)), 1 << (ACC_BITS - 1), n)
    acc[:40] = rng.integers(-300, 300, 40)  # small sums, where rounding decides
    mult = rng.integers(0, 1 << isa.MULT_BITS, n)
    shift = rng.integers(0, isa.MAX_SHIFT + 1, n)
    shift[:20] = [0, isa.MAX_SHIFT] * 10
    dut = Requantizer(product_bits=ACC_BITS + isa.MULT_BITS + 1)
    got: dict[IsaActivation, list[int]] = {IsaActivation.NONE: [], IsaActivation.RELU: []}

    async def bench(ctx):
        for act, out in got.items():
            ctx.set(dut.act, Activation[act.name])
            for a, m, s in zip(acc, mult, shift, strict=True):
                ctx.set(dut.p, int(a) * int(m))
                ctx.set(dut.shift, int(s))
                out.append(ctx.get(dut.y))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    for act, out in got.items():
        np.testing.assert_array_equal(np.array(out), requantize(acc, mult, shift, act))


@pytest.mark.parametrize(("acc_bits", "registered"), [
    (32, False), (20, False), (16, False), (32, True), (16, True)])
def test_requantizer_at_every_rounding_and_clamp_edge(acc_bits: int, registered: bool) -> None:
    # Every product in -1100..1100 (the int8 limits and ReLU's 0 with every rounding
    # direction) at small shifts, and products around +-2**k at large shifts, including
    # shifts beyond the product's width (narrow accumulators).
    product_bits = acc_bits + isa.MULT_BITS + 1
    top = product_bits - 1  # products lie in -2**top .. 2**top - 1
    small = np.arange(-1100, 1101)
    cases = [(p, s) for s in range(4) for p in small]
    edges = [e + d for k in range(8, top) for e in (1 << k, -(1 << k)) for d in (-1, 0, 1)]
    shifts_big = (isa.MAX_SHIFT - 1, isa.MAX_SHIFT, top + 1, top, top - 1, 20)
    cases += [(p, s) for s in shifts_big for p in edges + [-1, -2, 1]]
    cases += [(-(1 << top), isa.MAX_SHIFT), ((1 << top) - 1, isa.MAX_SHIFT), (-(1 << top), 0)]
    products = np.array([p for p, _ in cases], dtype=np.int64)
    shifts = np.array([s for _, s in cases], dtype=np.int64)
    # registered: p and shift in one cycle, y in the next (p and shift change every cycle).
    dut = Requantizer(product_bits=product_bits, registered=registered)
    got: dict[IsaActivation, list[int]] = {IsaActivation.NONE: [], IsaActivation.RELU: []}

    async def bench(ctx):
        for act, out in got.items():
            ctx.set(dut.act, Activation[act.name])
            for p, s in cases:
                ctx.set(dut.p, int(p))
                ctx.set(dut.shift, int(s))
                if registered:
                    await ctx.tick()
                    ctx.set(dut.p, 0)  # the next cycle's input must not reach this y
                    ctx.set(dut.shift, 0)
                out.append(ctx.get(dut.y))

    sim = Simulator(dut)
    if registered:
        sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    ones = np.ones_like(products)
    for act, out in got.items():
        np.testing.assert_array_equal(np.array(out), requantize(products, ones, shifts, act))
