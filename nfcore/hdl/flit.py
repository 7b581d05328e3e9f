"""The core's side of the mesh network: the flit stream layout and the packet header view.

Both follow `nfcore.arch.noc`, the network's single source: a flit is one core word plus `last`;
the header flit's low `noc.HEADER_BITS` bits hold `noc.HEADER_FIELDS` (stored values, i.e.
length - 1) and its other bits are zero.
"""

from __future__ import annotations

from amaranth.hdl import unsigned
from amaranth.lib import data

from nfcore.arch import noc


def flit_layout(lanes: int) -> data.StructLayout:
    """A flit on a core's `net_out` / `net_in` stream."""
    return data.StructLayout({"data": unsigned(lanes * 8), "last": unsigned(1)})


HEADER_LAYOUT = data.FlexibleLayout(noc.HEADER_BITS, {
    f.name: data.Field(unsigned(f.width), f.lsb) for f in noc.HEADER_FIELDS
})
"""The header flit's low bits; fields hold stored values (value - offset)."""
