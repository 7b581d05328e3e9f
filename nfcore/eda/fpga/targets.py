"""FPGA tops: a synthesizable stimulus harness around a design, plus a board clock.

A micro-core's host interface (`cmd`/`rsp` streams, ~90 bits in) and its network ports are far
wider than a board's pins, so the FPGA build does not bring them out. Instead `StimulusHarness`
wraps any `wiring.Component` (the `MicroCore` today, the array top later) and

* drives every input port of the design, stream `valid`/`ready`/`payload` included, from a
  64-bit xorshift generator and a delay line of its past states (pseudo-random bits that change
  every cycle, so random commands write the memories, write random programs and RUN them, and
  random flits and backpressure reach the network ports);
* XOR-reduces every output port of the design into one register bit, `led` (through a
  register per 4 output bits, as a consumer would register the outputs).

Every output therefore depends on the design's logic and memories and synthesis cannot
optimise any of it away; the bitstream is a resource and timing vehicle, not a useful
application. `FpgaTop` puts a harness on a board: its clock comes from the board oscillator
through a PLL (`PllSpec`; the parameters come from `yowasp-ecppll` / `yowasp-icepll`), the reset
is held until the PLL locks, and `led` drives the board's first LED.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from amaranth.hdl import (
    Cat,
    ClockDomain,
    ClockSignal,
    Const,
    Elaboratable,
    Instance,
    Module,
    Signal,
    Value,
)
from amaranth.lib import wiring
from amaranth.lib.cdc import ResetSynchronizer
from amaranth.lib.wiring import In, Out

from nfcore.errors import ConfigError

__all__ = ["FpgaTop", "PllSpec", "StimulusHarness", "XORSHIFT_SEED"]

XORSHIFT_SEED = 0x9E3779B97F4A7C15
"""Reset value of the xorshift state (any non-zero 64-bit value)."""
_STATE_BITS = 64


def _xorshift64(s: Value) -> Value:
    """One step of Marsaglia's xorshift64 (13, 7, 17): a full-period generator of 64 bits."""
    s = s ^ (s << 13)[:_STATE_BITS]
    s = s ^ (s >> 7)
    return s ^ (s << 17)[:_STATE_BITS]


def _port_values(design: wiring.Component) -> tuple[list[Value], list[Value]]:
    """The design's input and output port values, in signature order (flattened)."""
    inputs: list[Value] = []
    outputs: list[Value] = []
    for _path, member, value in design.signature.flatten(design):
        # Struct and enum views (stream payloads) become plain values of their bits.
        (inputs if member.flow == In else outputs).append(Value.cast(value))
    return inputs, outputs


class StimulusHarness(wiring.Component):
    """Pseudo-random stimulus on every input of `design`, XOR of every output on `led`.

    `led` toggles on the running XOR of all output bits, two cycles later (the XOR of each
    4 output bits is registered first), so it is a function of every output in every cycle.
    The harness adds `input_bits` flip-flops of delay line plus 64 of generator state, and
    `output_bits / 4` flip-flops and an XOR tree over the output bits.
    """

    def __init__(self, design: wiring.Component) -> None:
        super().__init__({"led": Out(1)})
        self.design = design
        inputs, outputs = _port_values(design)
        self.input_bits = sum(len(v) for v in inputs)
        self.output_bits = sum(len(v) for v in outputs)

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        m.submodules.design = design = self.design
        inputs, outputs = _port_values(design)

        state = Signal(_STATE_BITS, init=XORSHIFT_SEED)
        m.d.sync += state.eq(_xorshift64(state))
        # Delay line of past states: enough random bits for every input, each bit distinct.
        stages = [state]
        while _STATE_BITS * len(stages) < self.input_bits:
            stage = Signal(_STATE_BITS, name=f"history{len(stages)}")
            m.d.sync += stage.eq(stages[-1])
            stages.append(stage)
        bits = Cat(*stages)
        offset = 0
        for value in inputs:
            m.d.comb += value.eq(bits[offset : offset + len(value)])
            offset += len(value)

        # Two registered steps, as a consumer of the design's outputs would register them:
        # the XOR of each 4 output bits (one LUT after the design), then of those. Without
        # the first register the timing report would show the harness' XOR tree after the
        # design's unregistered outputs (e.g. the scratchpad's read data on `rsp`).
        out_bits = Cat(*outputs)
        folded = Signal((len(out_bits) + 3) // 4)
        m.d.sync += folded.eq(Cat(out_bits[i : i + 4].xor() for i in range(0, len(out_bits), 4)))
        seen = Signal()
        m.d.sync += seen.eq(seen ^ folded.xor())
        m.d.comb += self.led.eq(seen)
        return m


@dataclass(frozen=True)
class PllSpec:
    """A PLL from the board oscillator to the design clock, as the vendor tool computes it.

    `family` is "ecp5" (EHXPLLL) or "ice40" (SB_PLL40_CORE); `params` are the primitive's
    divider parameters; `out_mhz` is the resulting design clock in MHz.
    """

    family: str
    in_mhz: float
    out_mhz: float
    params: tuple[tuple[str, int], ...]


class FpgaTop(Elaboratable):
    """A `StimulusHarness` around `make_design()` on a board platform, clocked through `pll`.

    Needs a platform (amaranth-boards) with `default_clk` at `pll.in_mhz` and an `led`
    resource. The `sync` domain runs at `pll.out_mhz`; its reset is held until the PLL locks.
    """

    def __init__(self, make_design: Callable[[], wiring.Component], pll: PllSpec) -> None:
        self.make_design = make_design
        self.pll = pll

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        m.domains.sync = ClockDomain("sync")
        # No constraint on the design clock here: nextpnr derives it from the PLL's
        # parameters and the board oscillator's constraint, and times the design against it.
        pll_clk = Signal(name="pll_clk")
        m.d.comb += ClockSignal("sync").eq(pll_clk)
        locked = Signal()
        if self.pll.family == "ice40":
            # The iCEBreaker's oscillator pin is the PLL's own pad: only SB_PLL40_PAD can
            # reach it, so the pin is requested raw ("-") and given to the PLL.
            pad = platform.request(platform.default_clk, 0, dir="-")
            clk_in: Any = pad.io
        else:
            clk_in = platform.request(platform.default_clk, 0).i
        m.submodules.pll = _pll_instance(self.pll, clk_in, pll_clk, locked)
        m.submodules.reset_sync = ResetSynchronizer(~locked, domain="sync")
        m.submodules.harness = harness = StimulusHarness(self.make_design())
        led = platform.request("led", 0)
        m.d.comb += led.o.eq(harness.led)
        return m


def _pll_instance(pll: PllSpec, clk_in: Any, clk_out: Value, locked: Signal) -> Instance:
    """The PLL primitive; `clk_in` is the oscillator (a signal on ECP5, the raw pad on iCE40)."""
    p = dict(pll.params)
    if pll.family == "ecp5":
        # Output of `yowasp-ecppll -i IN -o OUT` (feedback from CLKOP).
        return Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=str(pll.in_mhz), a_FREQUENCY_PIN_CLKOP=str(pll.out_mhz),
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
            a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB",
            p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD",
            p_CLKI_DIV=p["CLKI_DIV"], p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=p["CLKOP_DIV"],
            p_CLKOP_CPHASE=p["CLKOP_CPHASE"], p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
            p_CLKFB_DIV=p["CLKFB_DIV"],
            i_RST=Const(0), i_STDBY=Const(0), i_CLKI=clk_in, o_CLKOP=clk_out, i_CLKFB=clk_out,
            i_PHASESEL0=Const(0), i_PHASESEL1=Const(0), i_PHASEDIR=Const(1),
            i_PHASESTEP=Const(1), i_PHASELOADREG=Const(1), i_PLLWAKESYNC=Const(0),
            i_ENCLKOP=Const(0), o_LOCK=locked,
        )
    if pll.family == "ice40":
        # Output of `yowasp-icepll -i IN -o OUT` (SIMPLE feedback), fed from its pad.
        return Instance(
            "SB_PLL40_PAD",
            p_FEEDBACK_PATH="SIMPLE", p_DIVR=p["DIVR"], p_DIVF=p["DIVF"], p_DIVQ=p["DIVQ"],
            p_FILTER_RANGE=p["FILTER_RANGE"],
            io_PACKAGEPIN=clk_in, o_PLLOUTGLOBAL=clk_out, i_RESETB=Const(1),
            i_BYPASS=Const(0), o_LOCK=locked,
        )
    raise ConfigError(f"no PLL for FPGA family {pll.family!r} (ecp5 or ice40)")
