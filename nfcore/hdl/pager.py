"""`WeightPager`: the part of a core's network interface that takes weight packets.

A weight packet (`nfcore.arch.noc`, header bit `to_weights`, `noc.WEIGHT_HEADER_FIELDS`) carries
weight SRAM words, sent by the DRAM channel in answer to a paging request. The pager takes
such a packet from the core's `net_in` and writes payload word k to the weight SRAM at word
`waddr + k`, one word in the cycle its flit is taken; no program runs meanwhile.

Interface
---------
* `flit` (stream in): the core's `net_in` as the pager sees it. `ready` is high for a
  header flit whose `to_weights` bit is set while `allow` is high, and then for every payload
  flit up to the one with `last`. Any other header is left alone (`ready` low): it is a RECV's.
* `allow`: the core may take a weight packet now. `MicroCore` drives it with "the sequencer
  is idle, no host command is offered, and the core is clocked": host commands take
  precedence over a packet's header in the same cycle, and a gated core (clock enable off,
  `nfcore.hdl.power`) never takes a flit it could not store.
* `write`: the weight SRAM write (`en`, `addr`, `data`), combinational in the cycle a payload
  flit is taken.
* `busy`: a weight packet has been started and its last word is not yet taken (from the cycle
  after the header's handshake to the last word's, inclusive). `MicroCore` holds its `cmd`
  off while it is high, so the host cannot start a program mid-packet.

Timing: with the core idle, every flit of a weight packet is taken in the cycle the router
offers it, so the last word is written `noc.header_latency_cycles(DRAM, core)` cycles after
the DRAM port injected it (`nfcore.sim.system.dram.page_timeline`).
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from nfcore.arch import noc
from nfcore.hdl.flit import flit_layout

__all__ = ["WEIGHT_HEADER_LAYOUT", "WeightPager", "weight_write_layout"]

WEIGHT_HEADER_LAYOUT = data.FlexibleLayout(noc.HEADER_BITS, {
    f.name: data.Field(unsigned(f.width), f.lsb) for f in noc.WEIGHT_HEADER_FIELDS
})
"""A weight packet's header flit, low bits (stored values)."""


def weight_write_layout(lanes: int, addr_bits: int) -> data.StructLayout:
    return data.StructLayout({"en": unsigned(1), "addr": unsigned(addr_bits),
                              "data": unsigned(lanes * 8)})


class WeightPager(wiring.Component):
    """Writes weight packets into a weight SRAM of `2**addr_bits` words of `lanes` bytes."""

    def __init__(self, *, lanes: int, addr_bits: int) -> None:
        if addr_bits > noc.WADDR_BITS:
            raise ValueError(f"addr_bits = {addr_bits}: a weight packet's waddr has "
                             f"{noc.WADDR_BITS} bits")
        self.lanes, self.addr_bits = lanes, addr_bits
        super().__init__({
            "flit": In(stream.Signature(flit_layout(lanes))),
            "allow": In(1),
            "write": Out(weight_write_layout(lanes, addr_bits)),
            "busy": Out(1),
        })

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        flit = self.flit
        header = WEIGHT_HEADER_LAYOUT(flit.payload.data[:noc.HEADER_BITS])
        ptr = Signal(self.addr_bits)
        with m.If(self.busy):
            m.d.comb += [flit.ready.eq(1),
                         self.write.en.eq(flit.valid),
                         self.write.addr.eq(ptr),
                         self.write.data.eq(flit.payload.data)]
            with m.If(flit.valid):
                m.d.sync += ptr.eq(ptr + 1)
                with m.If(flit.payload.last):
                    m.d.sync += self.busy.eq(0)
        with m.Elif(flit.valid & header.to_weights & self.allow):
            m.d.comb += flit.ready.eq(1)
            m.d.sync += [ptr.eq(header.waddr[:self.addr_bits]), self.busy.eq(1)]
        return m
