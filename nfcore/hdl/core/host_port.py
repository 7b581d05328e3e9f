"""`HostPort`: the micro-core's host command and response streams.

* `cmd` (stream in): one command per beat, see `CmdKind`. Ready while `allow` is high (the
  sequencer is idle and no weight packet is being written) and no READ_ACT is being answered.
  Write commands write their memory in the cycle they are taken; RUN pulses `run`.
* `rsp` (stream out): the words asked for by READ_ACT, in address order; `last` marks the
  final word. Honours `ready` (backpressure). `idle` is low while a READ_ACT is answered.
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Const, Module, Signal, unsigned
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from nfcore.arch import isa
from nfcore.config import CoreConfig
from nfcore.hdl.core.ports import read_port

__all__ = ["ADDR_BITS", "CmdKind", "HostPort", "cmd_layout", "rsp_layout"]

ADDR_BITS = max(isa.WEIGHT_ADDR_BITS, isa.ACT_ADDR_BITS, isa.PC_BITS)


class CmdKind(enum.Enum, shape=3):  # type: ignore[call-arg]
    """Host commands. Write commands carry one word of `data` for address `addr`."""

    WRITE_WEIGHT = 0
    WRITE_ACT = 1
    WRITE_PROG = 2  # data[63:0] is the instruction
    RUN = 3  # run from pc 0 until HALT
    READ_ACT = 4  # send `count` scratchpad words from `addr` on rsp
    SLEEP = 5  # gate the core (`nfcore.hdl.power.PoweredCore`); a lone core ignores it


def cmd_layout(lanes: int) -> data.StructLayout:
    return data.StructLayout({
        "kind": CmdKind,
        "addr": unsigned(ADDR_BITS),
        "count": unsigned(isa.ACT_ADDR_BITS + 1),
        "data": unsigned(lanes * 8),
    })


def rsp_layout(lanes: int) -> data.StructLayout:
    return data.StructLayout({"data": unsigned(lanes * 8), "last": unsigned(1)})


class HostPort(wiring.Component):
    """Host commands into the memories of a core of `config`; see the module docstring.

    Memory ports (flipped, see `nfcore.hdl.core.ports`): `w_wr` weight SRAM, `act_wr`
    scratchpad (byte enables), `i_wr` instruction memory, `x_rd` scratchpad reads (READ_ACT).
    """

    def __init__(self, *, config: CoreConfig) -> None:
        self.lanes = lanes = config.lanes
        word = unsigned(lanes * 8)
        act_addr_bits = ceil_log2(config.act_words)
        super().__init__({
            "cmd": In(stream.Signature(cmd_layout(lanes))),
            "rsp": Out(stream.Signature(rsp_layout(lanes))),
            "allow": In(1),
            "idle": Out(1),
            "run": Out(1),
            "w_wr": In(memory.WritePort.Signature(
                addr_width=ceil_log2(config.weight_words), shape=word)),
            "act_wr": In(memory.WritePort.Signature(
                addr_width=act_addr_bits, shape=word, granularity=8)),
            "i_wr": In(memory.WritePort.Signature(
                addr_width=ceil_log2(config.imem_depth), shape=unsigned(isa.INSTR_BITS))),
            "x_rd": In(read_port(addr_bits=act_addr_bits, data=word, en=True)),
        })

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        cmd, rsp, x_rd = self.cmd, self.rsp, self.x_rd
        x_ptr = Signal(isa.ACT_ADDR_BITS)
        rd_left = Signal(isa.ACT_ADDR_BITS + 1)
        m.d.comb += [rsp.payload.data.eq(x_rd.data), rsp.payload.last.eq(rd_left == 0)]

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [cmd.ready.eq(self.allow), self.idle.eq(1)]
                c = cmd.payload
                with m.If(cmd.valid & self.allow), m.Switch(c.kind):
                    with m.Case(CmdKind.WRITE_WEIGHT):
                        m.d.comb += [self.w_wr.addr.eq(c.addr), self.w_wr.data.eq(c.data),
                                     self.w_wr.en.eq(1)]
                    with m.Case(CmdKind.WRITE_ACT):
                        m.d.comb += [self.act_wr.addr.eq(c.addr), self.act_wr.data.eq(c.data),
                                     self.act_wr.en.eq(Const((1 << self.lanes) - 1, self.lanes))]
                    with m.Case(CmdKind.WRITE_PROG):
                        m.d.comb += [self.i_wr.addr.eq(c.addr), self.i_wr.data.eq(c.data),
                                     self.i_wr.en.eq(1)]
                    with m.Case(CmdKind.RUN):
                        m.d.comb += self.run.eq(1)
                    with m.Case(CmdKind.READ_ACT):
                        m.d.sync += [x_ptr.eq(c.addr), rd_left.eq(c.count)]
                        m.next = "READ"

            with m.State("READ"):
                # The read port holds its data while `en` is low, so a stalled word stays put.
                load = (~rsp.valid | rsp.ready) & (rd_left != 0)
                m.d.comb += [x_rd.addr.eq(x_ptr), x_rd.en.eq(load)]
                with m.If(load):
                    m.d.sync += [x_ptr.eq(x_ptr + 1), rd_left.eq(rd_left - 1),
                                 rsp.valid.eq(1)]
                with m.Elif(rsp.ready):
                    m.d.sync += rsp.valid.eq(0)
                    with m.If(rd_left == 0):
                        m.next = "IDLE"
                with m.Elif(~rsp.valid):  # count was 0
                    m.next = "IDLE"
        return m
