"""The requantizer against `nfcore.golden.requantize`, in the Amaranth simulator."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from nfcore import isa
from nfcore.golden import requantize
from nfcore.hdl.datapath import Activation, Requantizer
from nfcore.isa import Activation as IsaActivation

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
