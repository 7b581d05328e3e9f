"""Synthetic traffic for simulation-speed benchmarks: random packets made in hardware.

`TrafficGen` sends random packets to a table of destinations and sinks what it receives
with random backpressure, both driven by a 32-bit LFSR; `MeshTraffic` puts one on every
node of a `Mesh` and on its host port. A cocotb test then only has to run the clock, so the
measured speed is Verilator's, with no Python in the per-cycle loop. These blocks are not
checked against a reference model (the cocotb testbenches in `noc_tb` are); they count flits.
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from nfcore.arch import noc
from nfcore.hdl.flit import flit_stream
from nfcore.hdl.mesh import Mesh

LFSR_TAPS = 0x80200003  # x^32 + x^22 + x^2 + x + 1, maximal length
COUNTER_BITS = 32
Node = tuple[int, int]


def header_word(src: Node, dest: Node) -> int:
    """Header of a packet `src` -> `dest` with the length field's stored value 0."""
    to_host = dest == noc.HOST
    s = (0, 0) if src == noc.HOST else src
    return noc.encode_header(dest_x=0 if to_host else dest[0], dest_y=0 if to_host else dest[1],
                             src_x=s[0], src_y=s[1], length=1, to_host=int(to_host))


class TrafficGen(wiring.Component):
    """Random packets (1..max_length payload flits, destinations from `dests`, an idle cycle
    with probability 1/8 before each flit) on `out`; `inp` is ready 3/4 of the cycles.
    `sent` and `received` count flits."""

    def __init__(self, *, lanes: int, src: Node, dests: list[Node], seed: int,
                 max_length: int = 8) -> None:
        assert max_length & (max_length - 1) == 0, "max_length must be a power of two"
        self.lanes, self.src, self.dests, self.seed = lanes, src, dests, seed
        self.max_length = max_length
        super().__init__({
            "out": Out(flit_stream(lanes)),
            "inp": In(flit_stream(lanes)),
            "sent": Out(COUNTER_BITS),
            "received": Out(COUNTER_BITS),
        })

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        lfsr = Signal(32, init=(self.seed * 2654435761 | 1) & 0xFFFFFFFF)
        m.d.sync += lfsr.eq(Mux(lfsr[0], (lfsr >> 1) ^ LFSR_TAPS, lfsr >> 1))

        table_bits = max(1, (len(self.dests) - 1).bit_length())
        headers = [header_word(self.src, self.dests[i % len(self.dests)])
                   for i in range(1 << table_bits)]
        header_table = Array(Const(h, noc.HEADER_BITS) for h in headers)
        length_lsb = next(f.lsb for f in noc.HEADER_FIELDS if f.name == "length")
        len_bits = (self.max_length - 1).bit_length()

        bits = self.lanes * 8
        left = Signal(range(self.max_length + 1))  # payload flits still to send
        out = self.out
        with m.If(out.valid & out.ready):
            m.d.sync += [out.valid.eq(0), self.sent.eq(self.sent + 1)]
        with m.If((~out.valid | out.ready) & (lfsr[8:11] != 0)):
            m.d.sync += out.valid.eq(1)
            with m.If(left == 0):
                stored_len = lfsr[0:len_bits] if len_bits else Const(0, 1)
                header = header_table[lfsr[16 : 16 + table_bits]] | (stored_len << length_lsb)
                m.d.sync += [out.payload.data.eq(header), out.payload.last.eq(0),
                             left.eq(stored_len + 1)]
            with m.Else():
                m.d.sync += [out.payload.data.eq(Cat(*[lfsr] * (bits // 32))),
                             out.payload.last.eq(left == 1), left.eq(left - 1)]

        m.d.comb += self.inp.ready.eq(lfsr[24:26] != 0)
        with m.If(self.inp.valid & self.inp.ready):
            m.d.sync += self.received.eq(self.received + 1)
        return m


class MeshTraffic(wiring.Component):
    """A `Mesh` with a `TrafficGen` on every node and on the host port, all sending to
    every node and the host. `sent_flits`/`received_flits`: totals over the generators."""

    def __init__(self, *, lanes: int, rows: int, cols: int) -> None:
        self.mesh = Mesh(lanes=lanes, rows=rows, cols=cols)
        nodes: list[Node] = [(x, y) for y in range(rows) for x in range(cols)]
        everyone = [*nodes, noc.HOST]
        self.gens = {src: TrafficGen(lanes=lanes, src=src, seed=i + 1,
                                     dests=[d for d in everyone if not d == src == noc.HOST])
                     for i, src in enumerate(everyone)}
        super().__init__({"sent_flits": Out(COUNTER_BITS), "received_flits": Out(COUNTER_BITS)})

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        m.submodules.mesh = mesh = self.mesh
        for (x, y), gen in self.gens.items():
            m.submodules[f"gen_{x}_{y}".replace("-", "m")] = gen
            if (x, y) == noc.HOST:
                wiring.connect(m, gen.out, mesh.host_in)
                wiring.connect(m, mesh.host_out, gen.inp)
            else:
                wiring.connect(m, gen.out, mesh.local_in[y][x])
                wiring.connect(m, mesh.local_out[y][x], gen.inp)
        m.d.comb += [
            self.sent_flits.eq(sum(g.sent for g in self.gens.values())),
            self.received_flits.eq(sum(g.received for g in self.gens.values())),
        ]
        return m
