"""`NetPort`: a micro-core's two flit ports to its router, with SEND, RECV and paging.

* `net_out` (stream out): SEND's packet, header flit first (`nfcore.arch.noc` layout, with
  this core's coordinates as the source), `last` on the final payload flit. Valid holds until
  ready (full backpressure); every cycle valid and not ready adds a cycle to the SEND.
* `net_in` (stream in): ready while a RECV takes flits, one per cycle; every cycle ready and
  not valid adds a cycle to the RECV. A RECV does not take a weight packet (`noc` header bit
  `to_weights`): it fails as a mismatched header does and leaves the packet in the router.
* `net` (from the sequencer): `send` and `recv` start a SEND or a RECV (one runs at a time);
  `done` pulses in the cycle it ends, `failed` instead when a RECV's header does not match.
* Weight packets (`WeightPager`): while `allow` is high (the core is idle, no host command
  is offered and the core is clocked), a weight packet whose header reaches `net_in` is taken
  one flit per cycle, each payload word written to the weight SRAM (`w_wr`); `paging` is high
  meanwhile.
* `coord_x`, `coord_y`: this core's mesh coordinates; absent when built with `coord`.
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out, connect, flipped
from amaranth.utils import ceil_log2

from nfcore.arch import isa, noc
from nfcore.config import CoreConfig
from nfcore.hdl.core.decode import isa_field
from nfcore.hdl.core.ports import read_port
from nfcore.hdl.flit import HEADER_LAYOUT, flit_layout

__all__ = ["WEIGHT_HEADER_LAYOUT", "NetPort", "WeightPager", "net_control_signature"]

WEIGHT_HEADER_LAYOUT = data.FlexibleLayout(noc.HEADER_BITS, {
    f.name: data.Field(unsigned(f.width), f.lsb) for f in noc.WEIGHT_HEADER_FIELDS
})
"""A weight packet's header flit, low bits (stored values)."""

LENGTH_BITS = next(f.width for f in noc.HEADER_FIELDS if f.name == "length")
SEND_LAYOUT = data.StructLayout({
    "dest_x": unsigned(noc.COORD_BITS), "dest_y": unsigned(noc.COORD_BITS),
    "length": unsigned(LENGTH_BITS), "tag": unsigned(8), "addr": unsigned(isa.ACT_ADDR_BITS),
    "to_host": unsigned(1)})
"""A SEND: the header's fields (`length` stored, as SEND's `n`; `to_host` for a packet to the
host port) and the first word's address."""
RECV_LAYOUT = data.StructLayout({
    "length": unsigned(LENGTH_BITS), "tag": unsigned(8), "addr": unsigned(isa.ACT_ADDR_BITS)})
"""A RECV: the header it expects (`length` stored) and where the first word goes."""


def net_control_signature() -> wiring.Signature:
    """The sequencer's side of `NetPort.net`."""
    return wiring.Signature({
        "send": Out(stream.Signature(SEND_LAYOUT, always_ready=True)),
        "recv": Out(stream.Signature(RECV_LAYOUT, always_ready=True)),
        "done": In(1),
        "failed": In(1),
    })


class WeightPager(wiring.Component):
    """Writes weight packets into a weight SRAM of `2**addr_bits` words of `lanes` bytes.

    A weight packet (`nfcore.arch.noc`, header bit `to_weights`, `noc.WEIGHT_HEADER_FIELDS`)
    carries weight SRAM words, sent by the DRAM channel in answer to a paging request. The
    pager writes payload word k to word `waddr + k`, in the cycle its flit is taken.

    * `net_in` (stream in): the core's `net_in` as the pager sees it. `ready` is high for a
      header flit whose `to_weights` bit is set while `allow` is high, and then for every
      payload flit up to the one with `last`. Any other header is left alone: it is a RECV's.
    * `allow`: the core may take a weight packet now. Host commands take precedence over a
      packet's header in the same cycle, and a gated core (clock enable off,
      `nfcore.hdl.power`) never takes a flit it could not store.
    * `w_wr`: the weight SRAM write, in the cycle a payload flit is taken.
    * `paging`: a weight packet has been started and its last word is not yet taken (from the
      cycle after the header's handshake to the last word's, inclusive). The core holds its
      `cmd` off meanwhile, so the host cannot start a program mid-packet.

    Timing: with the core idle, every flit of a weight packet is taken in the cycle the router
    offers it, so the last word is written `noc.header_latency_cycles(DRAM, core)` cycles after
    the DRAM port injected it (`nfcore.sim.system.dram.page_timeline`).
    """

    def __init__(self, *, lanes: int, addr_bits: int) -> None:
        if addr_bits > noc.WADDR_BITS:
            raise ValueError(f"addr_bits = {addr_bits}: a weight packet's waddr has "
                             f"{noc.WADDR_BITS} bits")
        self.lanes, self.addr_bits = lanes, addr_bits
        super().__init__({
            "net_in": In(stream.Signature(flit_layout(lanes))),
            "allow": In(1),
            "w_wr": In(memory.WritePort.Signature(addr_width=addr_bits,
                                                  shape=unsigned(lanes * 8))),
            "paging": Out(1),
        })

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        flit, write = self.net_in, self.w_wr
        header = WEIGHT_HEADER_LAYOUT(flit.payload.data[:noc.HEADER_BITS])
        ptr = Signal(self.addr_bits)
        with m.If(self.paging):
            m.d.comb += [flit.ready.eq(1), write.en.eq(flit.valid), write.addr.eq(ptr),
                         write.data.eq(flit.payload.data)]
            with m.If(flit.valid):
                m.d.sync += ptr.eq(ptr + 1)
                with m.If(flit.payload.last):
                    m.d.sync += self.paging.eq(0)
        with m.Elif(flit.valid & header.to_weights & self.allow):
            m.d.comb += flit.ready.eq(1)
            m.d.sync += [ptr.eq(header.waddr[:self.addr_bits]), self.paging.eq(1)]
        return m


class NetPort(wiring.Component):
    """SEND, RECV and paging of a core of `config`; see the module docstring.

    Memory ports (flipped, see `nfcore.hdl.core.ports`): `x_rd` scratchpad reads (SEND
    payload), `act_wr` scratchpad writes (RECV payload), `w_wr` weight SRAM (paging).
    """

    def __init__(self, *, config: CoreConfig, coord: tuple[int, int] | None = None) -> None:
        self.config, self.coord = config, coord
        lanes = config.lanes
        word = unsigned(lanes * 8)
        act_addr_bits = ceil_log2(config.act_words)
        coord_ports = {} if coord is not None else {
            "coord_x": In(noc.COORD_BITS), "coord_y": In(noc.COORD_BITS)}
        super().__init__({
            "net": In(net_control_signature()),
            "net_out": Out(stream.Signature(flit_layout(lanes))),
            "net_in": In(stream.Signature(flit_layout(lanes))),
            **coord_ports,
            "allow": In(1),
            "paging": Out(1),
            "x_rd": In(read_port(addr_bits=act_addr_bits, data=word, en=True)),
            "act_wr": In(memory.WritePort.Signature(
                addr_width=act_addr_bits, shape=word, granularity=8)),
            "w_wr": In(memory.WritePort.Signature(
                addr_width=ceil_log2(config.weight_words), shape=word)),
        })

    def elaborate(self, platform: Any) -> Module:
        lanes = self.config.lanes
        ones = Const((1 << lanes) - 1, lanes)
        m = Module()
        net_in, net_out, send, recv = self.net_in, self.net_out, self.net.send, self.net.recv
        if self.coord is None:
            src_x, src_y = self.coord_x, self.coord_y
        else:
            src_x, src_y = (Const(c, noc.COORD_BITS) for c in self.coord)

        m.submodules.pager = pager = WeightPager(
            lanes=lanes, addr_bits=ceil_log2(self.config.weight_words))
        connect(m, pager.w_wr, flipped(self.w_wr))
        m.d.comb += self.paging.eq(pager.paging)
        # The pager sees every flit offered; it takes weight packets only, and only while
        # `allow`. A flit that follows a taken header is never a header, even if a
        # mismatched RECV left the rest of its packet in the router.
        mid_packet = Signal()
        with m.If(net_in.valid & net_in.ready):
            m.d.sync += mid_packet.eq(~net_in.payload.last)
        m.d.comb += [
            pager.net_in.valid.eq(net_in.valid),
            pager.net_in.payload.eq(net_in.payload),
            pager.allow.eq(self.allow & ~mid_packet),
            net_in.ready.eq(pager.net_in.ready),  # a RECV overrides it below
        ]

        header = Signal(HEADER_LAYOUT)  # SEND: the header flit; RECV: tag and length
        header_phase = Signal()  # the header flit is next
        flits_left = Signal(isa.COUNT_BITS + 1)  # SEND: payload words not yet read
        x_ptr, y_ptr = Signal(isa.ACT_ADDR_BITS), Signal(isa.ACT_ADDR_BITS)
        row = Signal(isa.COUNT_BITS)  # RECV: payload word index
        rows_last = Signal(isa.COUNT_BITS)  # RECV: n - 1
        m.d.comb += [
            net_out.payload.data.eq(Mux(header_phase, header.as_value(), self.x_rd.data)),
            net_out.payload.last.eq(~header_phase & (flits_left == 0)),
        ]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(send.valid):
                    m.d.sync += [
                        header.dest_x.eq(send.payload.dest_x),
                        header.dest_y.eq(send.payload.dest_y),
                        header.src_x.eq(src_x),
                        header.src_y.eq(src_y),
                        header.length.eq(send.payload.length),
                        header.tag.eq(send.payload.tag),
                        header.to_host.eq(send.payload.to_host),
                        header_phase.eq(1),
                        net_out.valid.eq(1),
                        x_ptr.eq(send.payload.addr),
                        flits_left.eq(send.payload.length + _n_offset(isa.Opcode.SEND)),
                    ]
                    m.next = "SEND"
                with m.If(recv.valid):
                    m.d.sync += [
                        header.tag.eq(recv.payload.tag),
                        header.length.eq(recv.payload.length),
                        header_phase.eq(1),
                        y_ptr.eq(recv.payload.addr),
                        row.eq(0),
                        rows_last.eq(recv.payload.length + (_n_offset(isa.Opcode.RECV) - 1)),
                    ]
                    m.next = "RECV"

            with m.State("SEND"):
                # net_out.valid is high from the start on; a word is read when the flit on
                # the port is taken, and the read port holds it while the network stalls.
                load = net_out.ready & (flits_left != 0)
                m.d.comb += [self.x_rd.addr.eq(x_ptr), self.x_rd.en.eq(load)]
                with m.If(load):
                    m.d.sync += [x_ptr.eq(x_ptr + 1), flits_left.eq(flits_left - 1),
                                 header_phase.eq(0)]
                with m.Elif(net_out.ready):
                    m.d.sync += net_out.valid.eq(0)
                    m.d.comb += self.net.done.eq(1)
                    m.next = "IDLE"

            with m.State("RECV"):
                got = HEADER_LAYOUT(net_in.payload.data[:noc.HEADER_BITS])
                # A weight packet is the pager's: left in the router, and the RECV fails.
                # (Ready looks at the header only when one is offered: a RECV's waits are
                # the cycles it is ready and the network is not valid.)
                page_head = net_in.valid & header_phase & got.to_weights
                m.d.comb += net_in.ready.eq(~page_head)
                with m.If(net_in.valid & header_phase):
                    with m.If((got.tag != header.tag) | (got.length != header.length) |
                              got.to_weights):
                        m.d.comb += self.net.failed.eq(1)
                        m.next = "IDLE"
                    m.d.sync += header_phase.eq(0)
                with m.Elif(net_in.valid):
                    m.d.comb += [self.act_wr.addr.eq(y_ptr),
                                 self.act_wr.data.eq(net_in.payload.data),
                                 self.act_wr.en.eq(ones)]
                    m.d.sync += [y_ptr.eq(y_ptr + 1), row.eq(row + 1)]
                    with m.If(row == rows_last):
                        m.d.comb += self.net.done.eq(1)
                        m.next = "IDLE"
        return m


def _n_offset(op: isa.Opcode) -> int:
    """SEND/RECV store `n` as the header's `length` field: n - offset."""
    return isa_field(op, "n").offset
