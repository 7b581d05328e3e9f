"""Memory ports shared by the micro-core's blocks.

Each block that uses a memory port has a member with the part of the port it drives or reads,
seen from the memory (like `memory.ReadPort.Signature`), flipped: `In(read_port(...))`. The
member carries the memory port's name (`x_rd`, `w_wr`, ...) so that in the Verilog the block's
port and the memory's port are one wire under one name (two names of one net would leave one
of them an unused alias, which `verilator -Wall` reports).

`share_read_port` and `share_write_port` join the users of one port. In any cycle at most one
user drives its members away from their defaults (0; a read's `en` 1), so the port takes the
OR of the addresses, data and write enables and the AND of the read enables.
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Module, ShapeLike
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["read_port", "share_read_port", "share_write_port"]


def read_port(*, addr_bits: int | None = None, data: ShapeLike | None = None,
              en: bool = False) -> wiring.Signature:
    """The members of a memory read port that one user takes, seen from the memory: `addr`
    and `en` (low holds the data) if it drives them, `data` if it reads it."""
    members: dict[str, wiring.Member] = {}
    if addr_bits is not None:
        members["addr"] = In(addr_bits)
    if en:
        members["en"] = In(1, init=1)
    if data is not None:
        members["data"] = Out(data)
    return wiring.Signature(members)


def share_read_port(m: Module, port: memory.ReadPort, *users: Any) -> None:
    """Drive `port` from the `users` that issue reads and give its data to those that read."""
    members = [(u, u.signature.members) for u in users]
    addrs = [u.addr for u, names in members if "addr" in names]
    enables = [u.en for u, names in members if "en" in names]
    m.d.comb += port.addr.eq(_fold(addrs, lambda a, b: a | b))
    if enables:
        m.d.comb += port.en.eq(_fold(enables, lambda a, b: a & b))
    m.d.comb += [u.data.eq(port.data) for u, names in members if "data" in names]


def share_write_port(m: Module, port: memory.WritePort, *users: Any) -> None:
    """Drive `port` from `users` (flipped `memory.WritePort.Signature`s)."""
    for name in ("addr", "data", "en"):
        m.d.comb += getattr(port, name).eq(
            _fold([getattr(u, name) for u in users], lambda a, b: a | b))


def _fold(values: list[Any], op: Any) -> Any:
    out = values[0]
    for v in values[1:]:
        out = op(out, v)
    return out
