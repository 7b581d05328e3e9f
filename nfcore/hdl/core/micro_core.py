"""`MicroCore`: one NF-Core micro-core in Amaranth.

The core holds four memories (weight SRAM, activation scratchpad, instruction memory, and
the activation LUT inside `MacRequant`) and four blocks, joined by `wiring.connect` and by
the memory ports they share (`nfcore.hdl.core.ports`):

* `HostPort` (`host_port`): the host's `cmd` and `rsp` streams.
* `Sequencer` (`sequencer`): fetch, decode and issue, with the `LoopUnit`.
* `Datapath` (`datapath`): the MATVEC, VADD and VMUL units.
* `NetPort` (`net_port`): the flit ports to the router: SEND, RECV and the `WeightPager`.

Field positions, header layouts and cycle counts come from `nfcore.arch.isa` and
`nfcore.arch.noc`; sizes come from `CoreConfig`.

Host interface
--------------
* `cmd` (stream in): one command per beat, see `CmdKind`. Accepted only while the core is
  idle; `ready` is low while a program runs or a READ_ACT is being answered.
* `rsp` (stream out): the words asked for by READ_ACT, in address order; `last` marks the
  final word. Honours `ready` (backpressure).
* `busy`: a program runs. `done`: one-cycle pulse in the cycle the program ends (HALT
  decoded, an illegal instruction, or a RECV whose header does not match). `last_run_cycles`:
  the cycles of the last program, from the cycle after RUN was accepted to the `done` cycle,
  inclusive; by the timing contract this is `sum(isa.cycles(i, lanes))` over the executed
  instructions plus the SEND stall and RECV wait cycles. `error`: the last program stopped
  at an illegal instruction or a mismatched packet; cleared by RUN.

Network interface
-----------------
* `net_out` (stream out): SEND's packet, header flit first (`nfcore.arch.noc` layout, with
  `coord_x`/`coord_y` as the source), `last` on the final payload flit. Valid holds until
  ready (full backpressure); every cycle valid and not ready adds a cycle to the SEND.
* `net_in` (stream in): ready while a RECV takes flits, one per cycle; every cycle
  ready and not valid adds a cycle to the RECV. A RECV does not take a weight packet
  (`noc` header bit `to_weights`): it stops the program as a mismatched header does (`done`,
  `error`) and leaves the packet in the router.
* Weight packets (paging, `nfcore.hdl.core.net_port.WeightPager`): while the sequencer is
  idle, no host command is offered and the core is clocked, the core takes a weight packet
  whose header reaches `net_in`, one flit per cycle, writing each payload word to the weight
  SRAM (`waddr + k`). `paging` is high from the cycle after the header is taken to the cycle
  the last word is written; `cmd` is not ready meanwhile (a program cannot start mid-packet).
  While a program runs, weight packets wait in the router (backpressure). A core built with
  `powered=True` (inside `nfcore.hdl.power.PoweredCore`) has a `clock_on` input, its clock
  enable, so that a gated core takes no flit; packets for it wait until the host wakes it.
* `coord_x`, `coord_y`: this core's mesh coordinates. A core built with `coord=(x, y)` (as
  `nfcore.hdl.core_array.CoreArray` builds them) has no such ports: the coordinates are constants.

Timing: see `nfcore.hdl.core.sequencer`.
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Module, unsigned
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out, connect, flipped

from nfcore.arch import isa, noc
from nfcore.config import CoreConfig, check_field
from nfcore.errors import ConfigError
from nfcore.hdl.core.datapath import Datapath, MacRequant, VaddUnit, VmulUnit
from nfcore.hdl.core.host_port import HostPort, cmd_layout, rsp_layout
from nfcore.hdl.core.net_port import NetPort
from nfcore.hdl.core.ports import share_read_port, share_write_port
from nfcore.hdl.core.sequencer import CYCLE_COUNTER_BITS, Sequencer
from nfcore.hdl.flit import flit_layout

__all__ = ["MicroCore", "check_core"]


def check_core(config: CoreConfig, *, lut_multipliers: int = 0) -> None:
    """Raise ConfigError if a `MicroCore` cannot be built for `config` with
    `lut_multipliers`."""
    lanes = config.lanes
    if lanes < isa.HEADER_BYTES or lanes & (lanes - 1):
        raise ConfigError(
            f"core.lanes = {lanes}: the RTL needs a power of two >= {isa.HEADER_BYTES} "
            f"(the MATVEC row header and a 64-bit instruction fit in one word)"
        )
    for key, value, bits in (
        ("core.weight_words", config.weight_words, isa.WEIGHT_ADDR_BITS),
        ("core.act_words", config.act_words, isa.ACT_ADDR_BITS),
        ("core.imem_depth", config.imem_depth, isa.PC_BITS),
    ):
        if not 2 <= value <= 1 << bits:
            raise ConfigError(f"{key} = {value} is out of range; allowed 2 to {1 << bits}")
    check_field(CoreConfig, "acc_bits", config.acc_bits, "core.acc_bits")
    if not 0 <= lut_multipliers <= lanes:
        raise ConfigError(f"lut_multipliers = {lut_multipliers} is out of range; "
                          f"allowed 0 to core.lanes = {lanes}")


class MicroCore(wiring.Component):
    """One micro-core; see the module docstring for the interface and timing.

    The parameters must pass `check_core`; a composer checks them before it builds a core.
    """

    def __init__(self, *, config: CoreConfig, coord: tuple[int, int] | None = None,
                 powered: bool = False, lut_multipliers: int = 0) -> None:
        """`lut_multipliers`: lanes whose multiplier is built from LUTs rather than a DSP
        block (`MacRequant`), for an FPGA with fewer DSPs than lanes; same results."""
        check_core(config, lut_multipliers=lut_multipliers)
        self.config = config
        self.coord = coord
        self.powered = powered
        self.lut_multipliers = lut_multipliers
        lanes = config.lanes
        # Constant coordinates are elaboration parameters rather than ports tied to
        # constants, which would leave unused port wires in the Verilog.
        coord_ports = {} if coord is not None else {
            "coord_x": In(noc.COORD_BITS), "coord_y": In(noc.COORD_BITS)}
        super().__init__({
            "cmd": In(stream.Signature(cmd_layout(lanes))),
            "rsp": Out(stream.Signature(rsp_layout(lanes))),
            "net_out": Out(stream.Signature(flit_layout(lanes))),
            "net_in": In(stream.Signature(flit_layout(lanes))),
            **coord_ports,
            **({"clock_on": In(1)} if powered else {}),
            "busy": Out(1),
            "paging": Out(1),
            "done": Out(1),
            "error": Out(1),
            "last_run_cycles": Out(CYCLE_COUNTER_BITS),
        })
        # The host streams are the host port's own signals: `CoreArray` names each core's `cmd`
        # and `rsp` after the core's place, and a copy under another name would be left in
        # the Verilog as an unused alias wire.
        self.host = HostPort(config=config)
        self.cmd, self.rsp = self.host.cmd, self.host.rsp

    def elaborate(self, platform: Any) -> Module:
        cfg = self.config
        word = unsigned(cfg.lanes * 8)
        m = Module()

        m.submodules.weights = wmem = memory.Memory(shape=word, depth=cfg.weight_words, init=[])
        m.submodules.act = amem = memory.Memory(shape=word, depth=cfg.act_words, init=[])
        m.submodules.imem = imem = memory.Memory(
            shape=unsigned(isa.INSTR_BITS), depth=cfg.imem_depth, init=[])
        # One port a line: a port is named after its variable, the name of the blocks'
        # members that use it (`nfcore.hdl.core.ports`).
        w_rd = wmem.read_port()
        w_wr = wmem.write_port()
        x_rd = amem.read_port()  # MATVEC x, VADD/VMUL a, SEND payload, READ_ACT
        b_rd = amem.read_port()  # VADD/VMUL b
        act_wr = amem.write_port(granularity=8)
        i_rd = imem.read_port()
        i_wr = imem.write_port()

        m.submodules.host = host = self.host
        m.submodules.seq = seq = Sequencer(config=cfg)
        m.submodules.datapath = dp = Datapath(lanes=cfg.lanes, acc_bits=cfg.acc_bits,
                                              lut_multipliers=self.lut_multipliers)
        m.submodules.net = net = NetPort(config=cfg, coord=self.coord)
        # A beat meets its read data one cycle after the read; the drain of the timing
        # contract is that cycle plus the datapath latency.
        # MATVEC reads its first word (the header) in DECODE, a cycle early, so its drain
        # is the pipeline alone.
        assert MacRequant.LATENCY == isa.MATVEC_DRAIN_CYCLES, "MacRequant vs MATVEC_DRAIN_CYCLES"
        assert MacRequant.LUT_LATENCY - MacRequant.LATENCY == isa.LUT_CYCLES, \
            "MacRequant vs LUT_CYCLES"
        assert 1 + VaddUnit.LATENCY == isa.VADD_DRAIN_CYCLES, "VaddUnit vs VADD_DRAIN_CYCLES"
        assert 1 + VmulUnit.LATENCY == isa.VMUL_DRAIN_CYCLES, "VmulUnit vs VMUL_DRAIN_CYCLES"
        assert isa.SETLUT_DRAIN_CYCLES == 2, "SETLUT: read, register, write the LUT"
        assert isa.HEADER_FLITS == 1, "SEND/RECV move one header flit"

        connect(m, flipped(self.net_out), net.net_out)
        connect(m, flipped(self.net_in), net.net_in)
        if self.coord is None:
            m.d.comb += [net.coord_x.eq(self.coord_x), net.coord_y.eq(self.coord_y)]
        connect(m, seq.issue, dp.issue)
        connect(m, seq.net, net.net)
        m.d.comb += [
            seq.run.eq(host.run),
            dp.act.eq(seq.act),
            dp.shift.eq(seq.shift),
            *(getattr(self, name).eq(getattr(seq, name))
              for name in ("busy", "done", "error", "last_run_cycles")),
            self.paging.eq(net.paging),
            # Host commands need the sequencer idle and no weight packet under way; a weight
            # packet needs the whole core idle, no command offered (commands go first) and,
            # in a power domain, the clock on.
            host.allow.eq(seq.idle & ~net.paging),
            net.allow.eq(seq.idle & host.idle & ~self.cmd.valid &
                         (self.clock_on if self.powered else 1)),
        ]

        share_read_port(m, i_rd, seq.i_rd)
        share_read_port(m, w_rd, seq.w_rd, dp.w_rd)
        share_read_port(m, x_rd, host.x_rd, seq.x_rd, net.x_rd, dp.x_rd)
        share_read_port(m, b_rd, seq.b_rd, dp.b_rd)
        connect(m, host.i_wr, i_wr)
        share_write_port(m, w_wr, host.w_wr, net.w_wr)
        # The scratchpad takes the datapath's results first; RECV and the host never write in
        # the same cycle (the host only when the core is idle).
        with m.If(dp.result.valid):
            m.d.comb += [act_wr.addr.eq(dp.result.payload.addr),
                         act_wr.data.eq(dp.result.payload.data),
                         act_wr.en.eq(dp.result.payload.mask)]
        with m.Else():
            share_write_port(m, act_wr, host.act_wr, net.act_wr)
        return m
