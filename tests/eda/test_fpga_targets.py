"""The FPGA stimulus harness (nfcore.eda.fpga.targets): every input of the wrapped design is driven
with changing bits and `led` is the running XOR of every output bit, so synthesis keeps the
whole design."""

# No `from __future__ import annotations`: Amaranth reads the signature annotations.


from typing import Any

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from nfcore.eda.fpga.targets import StimulusHarness


class _Toy(wiring.Component):
    """Two inputs of odd widths, two registered outputs (one a function of both inputs)."""

    a: In(70)  # wider than the generator's 64 bits: needs a history stage
    b: In(5)
    y: Out(70)
    z: Out(3)

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        m.d.sync += [self.y.eq(self.a ^ self.b), self.z.eq(self.b[:3] + 1)]
        return m


def test_harness_drives_every_input_bit_and_xors_every_output_bit() -> None:
    toy = _Toy()
    harness = StimulusHarness(toy)
    assert (harness.input_bits, harness.output_bits) == (75, 73)
    cycles = 64
    seen_a: list[int] = []
    seen_b: list[int] = []

    async def bench(ctx: Any) -> None:
        parities = [0]  # led after each cycle: the running XOR of the outputs
        for cycle in range(cycles):
            a, b = ctx.get(toy.a), ctx.get(toy.b)
            seen_a.append(a)
            seen_b.append(b)
            outputs = (ctx.get(toy.y) << 3) | ctx.get(toy.z)
            await ctx.tick()
            parities.append(parities[-1] ^ (bin(outputs).count("1") & 1))
            # led takes in a cycle's outputs two cycles later (one register in between).
            assert ctx.get(harness.led) == parities[cycle], f"cycle {cycle}"

    sim = Simulator(harness)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    for name, values, width in (("a", seen_a, 70), ("b", seen_b, 5)):
        ones = 0
        zeros = 0
        for v in values:
            ones |= v
            zeros |= ~v & ((1 << width) - 1)
        full = (1 << width) - 1
        assert ones == full and zeros == full, f"input {name}: some bit never toggles"
        assert len(set(values)) > min(cycles, 1 << width) // 2, f"input {name} repeats"
