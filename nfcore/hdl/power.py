"""`PoweredCore`: a `MicroCore` in its own power domain (gated, idle, active).

The array (`nfcore.hdl.core_array.CoreArray`) builds one per core. The core's logic and memories run
under a clock enable (`amaranth.hdl.EnableInserter`, which also gates the memories' ports):
an FPGA has no power switches, so the clock enable stands for the power and clock gate of
an ASIC, and the counters below are what the system model's leakage accounting needs.

Power states (`PowerState`, output `power_state`)
--------------------------------------------------
* IDLE: powered and clocked, the core's sequencer idle (it takes host commands). Reset state.
* ACTIVE: powered and clocked, the core runs a program or answers a READ_ACT.
* GATED: clock enable off (and, on an ASIC, power off; the SRAMs keep their contents as
  `power.gated_retains_sram` assumes). Entered by the host command SLEEP (`CmdKind.SLEEP`,
  accepted only when the core is idle; the core itself never sees it). Packets for a gated
  core wait in its router, as they wait for any core that is not in RECV; so do weight
  packets (paging): the core's `clock_on` input keeps its pager from taking a flit, and a
  weight packet does not wake the core (the host wakes it with a command first).
* WAKING: powering up after a command reached a gated core; clock enable still off.

Wake-up timing (the contract, `power.wake_up_cycles` = W): a command other than SLEEP
presented to a GATED core in cycle t is accepted in cycle t + W (W = 0: in cycle t, as by
an idle core). SLEEP to a gated core is accepted at once and changes nothing.

Counters (`CYCLE_COUNTER_BITS` wide, from reset, wrapping): `gated_cycles` (GATED),
`idle_cycles` (IDLE with the sequencer idle), `active_cycles` (the sequencer busy or a
weight packet being written, i.e. the core's `cmd` not ready, or
WAKING: a waking core leaks as an active one, as `nfcore.sim.system.model` charges it), and
`wakes` (GATED -> WAKING or, with W = 0, GATED -> IDLE transitions). Every cycle counts in
exactly one of the three cycle counters.
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import EnableInserter, Module, Mux, Signal
from amaranth.lib import enum, stream, wiring
from amaranth.lib.wiring import In, Out

from nfcore.config import NFCoreConfig
from nfcore.hdl.core import CYCLE_COUNTER_BITS, CmdKind, MicroCore, check_core, cmd_layout

__all__ = ["COUNTERS", "PowerState", "PoweredCore", "check_powered_core"]

COUNTERS = ("gated_cycles", "idle_cycles", "active_cycles", "wakes")
"""The per-core counter ports, in the order the testbenches read them."""

CORE_PORTS = ("rsp", "net_out", "net_in", "busy", "paging", "done", "error", "last_run_cycles")
"""The `MicroCore` ports that `PoweredCore` exposes unchanged (all but `cmd`; also
`coord_x` / `coord_y` when it is built without `coord`)."""


class PowerState(enum.Enum, shape=2):  # type: ignore[call-arg]
    IDLE = 0
    ACTIVE = 1
    GATED = 2
    WAKING = 3


def check_powered_core(config: NFCoreConfig) -> None:
    """Raise ConfigError if a `PoweredCore` of `config` cannot be built: its `MicroCore`'s
    check of `config.core`."""
    check_core(config.core)


class PoweredCore(wiring.Component):
    """`MicroCore(config=config.core, coord=coord)` with the power states of
    `config.power`; see the module docstring. Ports: the core's (`cmd` intercepted for
    SLEEP and wake-up; `coord_x` / `coord_y` when `coord` is None, so that one Verilog module
    serves every core of an array), `power_state`, and the `COUNTERS`."""

    def __new__(cls, *, config: NFCoreConfig, coord: tuple[int, int] | None) -> PoweredCore:
        # Checked before the object exists: Amaranth warns about a component that is
        # created and never elaborated, which a rejected one would be.
        check_powered_core(config)
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, *, config: NFCoreConfig, coord: tuple[int, int] | None) -> None:
        self.core = MicroCore(config=config.core, coord=coord, powered=True)
        self.wake_up_cycles = config.power.wake_up_cycles
        shared = CORE_PORTS + (("coord_x", "coord_y") if coord is None else ())
        super().__init__({
            "cmd": In(stream.Signature(cmd_layout(config.core.lanes))),
            **{name: self.core.signature.members[name] for name in shared},
            "power_state": Out(PowerState),
            **{name: Out(CYCLE_COUNTER_BITS) for name in COUNTERS},
        })
        # The core's own signals, not copies (a copy leaves an unused alias in the Verilog).
        for name in shared:
            setattr(self, name, getattr(self.core, name))
        # The payload is the core's too: a copy would be merged with it in the netlist and
        # leave this port's own name as an unused alias.
        self.cmd.payload = self.core.cmd.payload

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        core, cmd = self.core, self.cmd
        stored = Signal(PowerState)  # IDLE (for IDLE and ACTIVE), GATED or WAKING
        clock_on = Signal()
        m.submodules.core = EnableInserter(clock_on)(core)

        sleep = cmd.payload.kind == CmdKind.SLEEP
        wake_cycles = self.wake_up_cycles
        countdown = Signal(range(max(2, wake_cycles)))
        # The core's cmd.ready is high exactly when its sequencer is idle (FSM state IDLE)
        # and it is not writing a weight packet.
        core_idle = core.cmd.ready
        m.d.comb += [clock_on.eq(stored == PowerState.IDLE), core.clock_on.eq(clock_on)]
        with m.Switch(stored):
            with m.Case(PowerState.IDLE):
                m.d.comb += [core.cmd.valid.eq(cmd.valid & ~sleep), cmd.ready.eq(core_idle)]
                with m.If(cmd.valid & sleep & core_idle):
                    m.d.sync += stored.eq(PowerState.GATED)
            with m.Case(PowerState.GATED):
                m.d.comb += cmd.ready.eq(sleep)
                with m.If(cmd.valid & ~sleep):
                    m.d.sync += self.wakes.eq(self.wakes + 1)
                    if wake_cycles == 0:  # no latency: behave as an idle core at once
                        m.d.comb += [clock_on.eq(1), core.cmd.valid.eq(1), cmd.ready.eq(1)]
                        m.d.sync += stored.eq(PowerState.IDLE)
                    elif wake_cycles == 1:
                        m.d.sync += stored.eq(PowerState.IDLE)
                    else:
                        m.d.sync += [stored.eq(PowerState.WAKING),
                                     countdown.eq(wake_cycles - 2)]
            with m.Case(PowerState.WAKING):
                m.d.sync += countdown.eq(countdown - 1)
                with m.If(countdown == 0):
                    m.d.sync += stored.eq(PowerState.IDLE)

        state = self.power_state
        with m.If(clock_on):
            m.d.comb += state.eq(Mux(core_idle, PowerState.IDLE, PowerState.ACTIVE))
        with m.Else():
            m.d.comb += state.eq(stored)
        with m.Switch(state):
            with m.Case(PowerState.GATED):
                m.d.sync += self.gated_cycles.eq(self.gated_cycles + 1)
            with m.Case(PowerState.IDLE):
                m.d.sync += self.idle_cycles.eq(self.idle_cycles + 1)
            with m.Default():
                m.d.sync += self.active_cycles.eq(self.active_cycles + 1)
        return m
