"""The NF-Core network on chip: packet format and the network's part of the timing contract.

This module is the single source for the mesh network, as `nfcore.arch.isa` is for the core.
The router RTL (`nfcore.hdl`), the golden model's SEND/RECV, the SimPy network model and the
compiler's placement all read packet layout, routing and per-hop latency from here.

Packets
-------
A packet is one header flit followed by `length` payload flits. A flit carries one core word
(`lanes` bytes, so at least 64 bits: `flit_bits`) plus a `last` bit set on the final flit of
the packet (the RTL's layout: `nfcore.hdl.flit.flit_layout`). The header flit's low 64 bits
hold the fields of `HEADER_FIELDS`; its other bits are zero.

The host
--------
The host port is attached to the NORTH port of router (0, 0): it behaves as a node at
`HOST = (0, -1)`, one row above the mesh. A packet for the host sets the header's `to_host`
bit (its `dest_x`/`dest_y` are then ignored, and should be 0); every router routes it with
`route` towards `HOST`, i.e. west along its row to column 0, then north to and out of
router (0, 0). The host injects into router (0, 0)'s NORTH input; from there `route` sends a
packet east along row 0 first. That one Y-to-X turn does not break deadlock freedom: the
host's input link is a source in the channel-dependency graph, no cycle can pass through it.

Weight packets (paging)
-----------------------
A packet whose header sets `to_weights` carries weight SRAM words, not a message for a RECV:
the destination core's network interface (`nfcore.hdl.core.net_port`) writes payload word k to its
weight SRAM at word `waddr + k`, one word per cycle, with no program running. Such a header
is read with `WEIGHT_HEADER_FIELDS`: `waddr` takes the bits of `src_x`/`src_y` (the source
of a weight packet is the DRAM channel, which has no mesh coordinates) and `tag` is 0; every
other field keeps its meaning, so routers treat weight packets as any other. The DRAM
channel sends them in answer to a read request that sets `to_weights` (`DRAM_REQUEST_FIELDS`).
The timing of the whole paging path (request, channel, answer, writes) is
`nfcore.sim.system.dram.page_timeline`.

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
    HeaderField("to_host", 50, 1, doc="1: deliver to the host port (dest_x, dest_y ignored)"),
    HeaderField("to_dram", 51, 1, doc="1: deliver to the DRAM port (dest_x, dest_y ignored)"),
    HeaderField("to_weights", 52, 1,
                doc="1: a weight packet (`WEIGHT_HEADER_FIELDS`), for the weight SRAM"),
)

WADDR_BITS = 16
"""Width of a weight packet's `waddr` (at least `isa.WEIGHT_ADDR_BITS`, checked by the core)."""
WEIGHT_HEADER_FIELDS: tuple[HeaderField, ...] = tuple(
    HeaderField("waddr", 16, WADDR_BITS, doc="weight SRAM word of the first payload word")
    if f.name == "src_x" else f for f in HEADER_FIELDS if f.name != "src_y")
"""The header of a weight packet (`to_weights` = 1): `HEADER_FIELDS` with `waddr` in place of
`src_x` and `src_y`."""

HOST = (0, -1)
"""The host's (x, y): a node above router (0, 0), attached to its NORTH port."""
DRAM = (-1, 0)
"""The DRAM channel's (x, y): a node left of router (0, 0), attached to its WEST port. A
packet for it sets `to_dram` and travels as a host packet does (west to column 0, north to
row 0), then leaves west; the channel's responses enter router (0, 0)'s WEST input and are
routed XY (east first), so, as for the host, the only new turns end in a sink or start at a
source and cannot close a dependency cycle."""


class Port(enum.IntEnum):
    """Router ports. LOCAL connects the core (or, at the host's router, the host port)."""

    LOCAL = 0
    NORTH = 1  # towards row y - 1
    SOUTH = 2  # towards row y + 1
    EAST = 3  # towards column x + 1
    WEST = 4  # towards column x - 1


ROUTER_HOP_CYCLES = 2
"""Cycles a flit takes through one router with no contention: from the cycle its handshake
happens on a router input to the cycle its handshake can happen on that router's output (the
next router's input, or the core's/host's ejection port). One cycle in the input FIFO, one in
the output register (`nfcore.hdl.router`). Payload flits follow one per cycle."""

ROUTER_FIFO_DEPTH = 2
"""Flits each router input FIFO holds (the RTL's default `fifo_depth`). With its output
register a router holds `ROUTER_FIFO_DEPTH + 1` flits of a stalled worm per input-output
path, one more than the `ROUTER_HOP_CYCLES` flits a flowing worm occupies: a stalled worm
compresses, and a sender stalls only once the path to the stall is full."""

INJECT_CYCLES = 0
"""Extra cycles between a source's injection handshake and the first router: none, the
injection port is the router's LOCAL (or, for the host, NORTH) input itself."""

EJECT_CYCLES = ROUTER_HOP_CYCLES
"""Cycles spent in the destination router, from its input to the ejection handshake."""


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
    """The output port a router at (x, y) picks for a packet to (dest_x, dest_y).

    `(dest_x, dest_y)` may be `HOST` or `DRAM`; see `header_dest` for a header's
    destination."""
    if (dest_x, dest_y) == DRAM and x == 0 and y > 0:
        return Port.NORTH  # up column 0 to router (0, 0), whose WEST port is the DRAM's
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


def attach_router(node: tuple[int, int]) -> tuple[int, int]:
    """The router a node injects into and ejects from: its own, or (0, 0) for `HOST` and
    `DRAM`."""
    return (0, 0) if node in (HOST, DRAM) else node


def header_latency_cycles(src: tuple[int, int], dest: tuple[int, int]) -> int:
    """Cycles from a header's injection handshake at `src` to its ejection handshake at
    `dest` when no other packet is in the way and the destination is ready:
    `INJECT_CYCLES + hops * ROUTER_HOP_CYCLES + EJECT_CYCLES`, where hops counts the
    router-to-router links between the attach routers (`attach_router`). With the source
    sending one flit per cycle, flit k of the packet ejects k cycles after the header."""
    links = hops(attach_router(src), attach_router(dest))
    return INJECT_CYCLES + links * ROUTER_HOP_CYCLES + EJECT_CYCLES


LATENCY_RECORD = "noc_latency_{rows}x{cols}.json"
"""File name (under the repo's `sim_build/`) of the latencies the RTL tests measure with no
contention (`sim_tests/test_noc_rtl.py` writes it, schema in that module's docstring), so
that the simulator's tests can check their network model against the same numbers."""


def header_dest(fields: dict[str, int]) -> tuple[int, int]:
    """The (x, y) a decoded header is routed to: `HOST` if `to_host` is set, `DRAM` if
    `to_dram` is."""
    if fields.get("to_host"):
        return HOST
    if fields.get("to_dram"):
        return DRAM
    return (fields["dest_x"], fields["dest_y"])


def flit_bits(lanes: int) -> int:
    """Width of a flit's `data` field: one core word."""
    if lanes * 8 < HEADER_BITS:
        raise ISAError(f"lanes = {lanes}: a flit of lanes bytes must hold the "
                       f"{HEADER_BITS}-bit header, so lanes >= {HEADER_BITS // 8}")
    return lanes * 8


def encode_header(**fields: int) -> int:
    """The 64-bit header of a packet, checking every field's range."""
    return _encode(HEADER_FIELDS, fields, "packet header")


def _encode(layout: tuple[HeaderField, ...], fields: dict[str, int], what: str) -> int:
    names = {f.name for f in layout}
    unknown = sorted(set(fields) - names)
    if unknown:
        raise ISAError(f"{what} has no field {unknown[0]!r}")
    word = 0
    for f in layout:
        value = int(fields.get(f.name, f.offset))
        lo, hi = f.offset, (1 << f.width) - 1 + f.offset
        if not lo <= value <= hi:
            raise ISAError(f"{what} {f.name} = {value} is out of range {lo}..{hi}")
        word |= (value - f.offset) << f.lsb
    return word


def decode_header(word: int) -> dict[str, int]:
    return {f.name: ((word >> f.lsb) & ((1 << f.width) - 1)) + f.offset for f in HEADER_FIELDS}


def encode_weight_header(**fields: int) -> int:
    """The header of a weight packet (`WEIGHT_HEADER_FIELDS`, `to_weights` set)."""
    return _encode(WEIGHT_HEADER_FIELDS, {**fields, "to_weights": 1}, "weight packet header")


def decode_weight_header(word: int) -> dict[str, int]:
    return {f.name: ((word >> f.lsb) & ((1 << f.width) - 1)) + f.offset
            for f in WEIGHT_HEADER_FIELDS}


# --- Edge ports -------------------------------------------------------------------------------
# Where the host and the DRAM channel attach, for the models that count hops from a router.

HOST_ROUTER = attach_router(HOST)
"""(x, y) of the router the host port attaches to (its NORTH port; see `HOST`)."""
HOST_PORT = Port.NORTH
"""The port of `HOST_ROUTER` the host uses (`nfcore.hdl.mesh`)."""
DRAM_ROUTER = attach_router(DRAM)
"""(x, y) of the router whose edge port the DRAM channel attaches to (`nfcore.hdl.core_array`'s
`dram_in`/`dram_out`); the system model reads this so that a change is made once."""
DRAM_PORT = Port.WEST
"""The port of `DRAM_ROUTER` the DRAM channel uses: its west edge, which has no neighbour."""


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


# --- DRAM requests ----------------------------------------------------------------------------

DRAM_REQUEST_FIELDS: tuple[HeaderField, ...] = (
    HeaderField("addr", 0, 32, doc="first DRAM word (lanes bytes each) to read"),
    HeaderField("words", 32, LENGTH_BITS, offset=1, doc="words to read, 1..1024"),
    HeaderField("dest_x", 42, COORD_BITS, doc="core that receives the data"),
    HeaderField("dest_y", 50, COORD_BITS, doc="core that receives the data"),
    HeaderField("to_weights", 58, 1, doc="1: answer with a weight packet (to `waddr`)"),
    HeaderField("waddr", 64, WADDR_BITS,
                doc="weight SRAM word for the first word (second payload word)"),
)
"""A read request: a `to_dram` packet whose payload words hold these fields, 64 bits per
word (field bit b is bit `b % 64` of payload word `b // 64`; `dram_request_words`). A
request with `to_weights` = 0 has one payload word (bits 0..63, `waddr` 0) and is answered
with one packet of `words` payload flits to (dest_x, dest_y), the request's tag, src fields
0, for the core's RECV. With `to_weights` = 1 it has two payload words and is answered with
a weight packet (`WEIGHT_HEADER_FIELDS`: `waddr` from the request, tag 0), which the core
writes to its weight SRAM. Timing: `nfcore.sim.system.dram`."""

DRAM_REQUEST_WORD_BITS = 64
"""Bits of a request field word that each payload flit carries (its low bits)."""


def encode_dram_request(**fields: int) -> int:
    """All the fields as one integer (bits 64 and up only when `to_weights` is set)."""
    if not fields.get("to_weights") and fields.get("waddr"):
        raise ISAError("DRAM request waddr is set but to_weights is not")
    return _encode(DRAM_REQUEST_FIELDS, fields, "DRAM request")


def dram_request_words(**fields: int) -> list[int]:
    """The payload words of a read request: one, or two if `to_weights` is set."""
    value = encode_dram_request(**fields)
    n = 2 if fields.get("to_weights") else 1
    mask = (1 << DRAM_REQUEST_WORD_BITS) - 1
    return [(value >> (DRAM_REQUEST_WORD_BITS * k)) & mask for k in range(n)]


def dram_request_flits(to_weights: bool) -> int:
    """Flits of a read request packet: the header and its payload words."""
    return 1 + (2 if to_weights else 1)


def decode_dram_request(words: int | list[int]) -> dict[str, int]:
    """The fields of a request from its payload words (each masked to its low 64 bits), or
    from the integer `encode_dram_request` returns."""
    if isinstance(words, list):
        mask = (1 << DRAM_REQUEST_WORD_BITS) - 1
        words = sum((w & mask) << (DRAM_REQUEST_WORD_BITS * k) for k, w in enumerate(words))
    return {f.name: ((words >> f.lsb) & ((1 << f.width) - 1)) + f.offset
            for f in DRAM_REQUEST_FIELDS}


def page_chunks(words: int, max_words: int = 1 << LENGTH_BITS) -> list[int]:
    """Words of each read request (and answer packet) that pages `words` weight words: in
    order, each at most `max_words` (a packet's maximum length by default), as
    `transfer_packets` splits a transfer."""
    if not 1 <= max_words <= 1 << LENGTH_BITS:
        raise ISAError(f"page chunk max_words = {max_words} is out of range 1..{1 << LENGTH_BITS}")
    full, rest = divmod(max(1, words), max_words)
    return [max_words] * full + ([rest] if rest else [])
