"""The RTL's view of the mesh network's flits: their layout and stream, and the header view.

Both follow `nfcore.arch.noc`, the network's single source: a flit is one core word plus `last`;
the header flit's low `noc.HEADER_BITS` bits hold `noc.HEADER_FIELDS` (stored values, i.e.
length - 1) and its other bits are zero.
"""

from __future__ import annotations

from amaranth.hdl import unsigned
from amaranth.lib import data, stream

from nfcore.arch import noc


def flit_layout(lanes: int) -> data.StructLayout:
    """A flit as the RTL streams it (a core's `net_out` / `net_in`, a router's ports): `data`
    (one core word, `noc.flit_bits`; a header flit's header in its low bits) and `last` (1 on
    the packet's final flit). Raises ISAError if a word cannot hold the header."""
    return data.StructLayout({"data": unsigned(noc.flit_bits(lanes)), "last": unsigned(1)})


def flit_stream(lanes: int) -> stream.Signature:
    """A stream of flits (`flit_layout`), as seen by its sender."""
    return stream.Signature(flit_layout(lanes))


HEADER_LAYOUT = data.FlexibleLayout(noc.HEADER_BITS, {
    f.name: data.Field(unsigned(f.width), f.lsb) for f in noc.HEADER_FIELDS
})
"""The header flit's low bits; fields hold stored values (value - offset)."""
