"""The NF-Core network on chip: packet format and the network's part of the timing contract.

This module is the single source for the mesh network, as `nfcore.isa` is for the core.
The router RTL (`nfcore.hdl`), the golden model's SEND/RECV, the SimPy network model and the
compiler's placement all read packet layout, routing and per-hop latency from here.

Packets
-------
A packet is one header flit followed by `length` payload flits. A flit carries one core word
(`lanes` bytes, so at least 64 bits) plus a `last` bit set on the final flit of the packet.
The header flit's low 64 bits hold the fields of `HEADER_FIELDS`; its other bits are zero.

Routing
-------
Dimension-order XY: a packet first travels along its row (x, the column index) to the
destination column, then along the column (y, the row index). XY routing on a mesh has no
cyclic channel dependency, so it cannot deadlock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from nfcore.errors import ISAError

HEADER_BITS = 64
COORD_BITS = 8
LENGTH_BITS = 10
TAG_BITS = 8


@dataclass(frozen=True)
class HeaderField:
    name: str
    lsb: int
    width: int
    offset: int = 0
    doc: str = ""


HEADER_FIELDS: tuple[HeaderField, ...] = (
    HeaderField("dest_x", 0, COORD_BITS, doc="destination column"),
    HeaderField("dest_y", 8, COORD_BITS, doc="destination row"),
    HeaderField("src_x", 16, COORD_BITS, doc="source column"),
    HeaderField("src_y", 24, COORD_BITS, doc="source row"),
    HeaderField("length", 32, LENGTH_BITS, offset=1, doc="payload flits, 1..1024"),
    HeaderField("tag", 42, TAG_BITS, doc="message tag, matched by RECV"),
)


class Port(enum.IntEnum):
    """Router ports. LOCAL connects the core (or, at the host's router, the host port)."""

    LOCAL = 0
    NORTH = 1  # towards row y - 1
    SOUTH = 2  # towards row y + 1
    EAST = 3  # towards column x + 1
    WEST = 4  # towards column x - 1


ROUTER_HOP_CYCLES = 2
"""Cycles a header flit takes from a router's input to the next router's input with no
contention (input register plus output register). Payload flits follow one per cycle."""


def packet_latency_cycles(src: tuple[int, int], dest: tuple[int, int]) -> int:
    """Cycles from the cycle a flit leaves the source core (its `net_out` handshake) to the
    first cycle it is offered on the destination core's `net_in`, with no contention.

    The flit passes `hops + 1` routers (the source's, those between, the destination's),
    `ROUTER_HOP_CYCLES` each; a core sending to itself goes through its own router only.
    Injection and ejection add nothing beyond this: the core's ports connect straight to
    the router's LOCAL port registers. Payload flits follow the header one per cycle.
    """
    return (hops(src, dest) + 1) * ROUTER_HOP_CYCLES


def route(x: int, y: int, dest_x: int, dest_y: int) -> Port:
    """The output port a router at (x, y) picks for a packet to (dest_x, dest_y)."""
    if dest_x > x:
        return Port.EAST
    if dest_x < x:
        return Port.WEST
    if dest_y > y:
        return Port.SOUTH
    if dest_y < y:
        return Port.NORTH
    return Port.LOCAL


def hops(src: tuple[int, int], dest: tuple[int, int]) -> int:
    """Router-to-router hops between (x, y) coordinates: the Manhattan distance."""
    return abs(src[0] - dest[0]) + abs(src[1] - dest[1])


def encode_header(**fields: int) -> int:
    """The 64-bit header of a packet, checking every field's range."""
    names = {f.name for f in HEADER_FIELDS}
    unknown = sorted(set(fields) - names)
    if unknown:
        raise ISAError(f"packet header has no field {unknown[0]!r}")
    word = 0
    for f in HEADER_FIELDS:
        value = int(fields.get(f.name, f.offset))
        lo, hi = f.offset, (1 << f.width) - 1 + f.offset
        if not lo <= value <= hi:
            raise ISAError(f"packet header {f.name} = {value} is out of range {lo}..{hi}")
        word |= (value - f.offset) << f.lsb
    return word


def decode_header(word: int) -> dict[str, int]:
    return {f.name: ((word >> f.lsb) & ((1 << f.width) - 1)) + f.offset for f in HEADER_FIELDS}


# --- Edge ports -------------------------------------------------------------------------------
# Where the host and the DRAM channel attach. The router RTL has not fixed them yet; the system
# model (`nfcore.sim.network`) reads them from here so that a change is made once.

HOST_ROUTER = (0, 0)
"""(x, y) of the router whose edge port the host attaches to. Assumption until the array RTL
fixes it: the north-west corner."""
HOST_PORT = Port.WEST
"""The port of `HOST_ROUTER` the host uses: its west edge, which has no neighbour there."""
DRAM_ROUTER = (0, 0)
"""(x, y) of the router whose edge port the DRAM channel attaches to (assumption, as above)."""
DRAM_PORT = Port.NORTH
"""The port of `DRAM_ROUTER` the DRAM channel uses: its north edge, which has no neighbour."""


def flit_bits(lanes: int) -> int:
    """Data bits of one flit: one core word (`lanes` bytes); the `last` bit is not counted."""
    return 8 * lanes


def packet_flits(payload_bytes: int, lanes: int) -> int:
    """Flits of a packet carrying `payload_bytes`: one header flit plus whole payload words.

    A packet carries at most `2**LENGTH_BITS` payload flits; longer transfers are split into
    several packets by the sender (see `transfer_packets`).
    """
    return 1 + max(1, -(-payload_bytes // lanes))


def transfer_packets(payload_bytes: int, lanes: int) -> list[int]:
    """Flits of each packet of a transfer of `payload_bytes`, split at the maximum length."""
    words = max(1, -(-payload_bytes // lanes))
    full, rest = divmod(words, 1 << LENGTH_BITS)
    return [1 + (1 << LENGTH_BITS)] * full + ([1 + rest] if rest else [])
