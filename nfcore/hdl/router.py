"""`MeshRouter`: one five-port wormhole router of the NF-Core mesh.

Ports
-----
For each `nfcore.arch.noc.Port` P (LOCAL, NORTH, SOUTH, EAST, WEST) an input stream `<p>_in` and
an output stream `<p>_out` of flits (`nfcore.hdl.flit.flit_stream(lanes)`). The router's own
coordinates (x, y) are elaboration-time parameters: routing compares the header's
destination with constants. Built with `x = y = None` (`MeshRouter.placed_by_ports`), they are
input ports instead, so that one Verilog module serves every router of a mesh with the same
ports (`nfcore.eda.verilog`'s hierarchical tops): `coord_x`, `coord_y`, and `host_route` /
`dram_route`, the output port towards the host and the DRAM channel from (x, y)
(`noc.route(x, y, *noc.HOST)` and `*noc.DRAM`), which its instance ties to constants.

Microarchitecture
-----------------
* Input buffer: an `InputQueue` per input, a `fifo_depth`-entry shift-register FIFO
  (default 2). `<p>_in.ready` is "FIFO not full", a register-only function, so no `ready`
  path crosses a router combinationally (a mesh has no combinational loop).
* Route computation: `nfcore.arch.noc.route` on a flit's destination (`HOST` if `to_host` is set)
  as the flit enters the input FIFO, stored beside it one-hot (one bit per output), so the
  switch allocator starts from registers. It is used only for the head flit of an input that
  is between packets (its previous flit popped had `last` set, or none since reset): a header.
* Switch allocation, per output, in the cycle the output register can take a flit (it is
  empty, or its flit is being accepted downstream):
  - if a packet holds the output (wormhole lock), the holder's head flit moves if its FIFO
    is not empty, whatever other inputs want;
  - otherwise the output grants one input whose head is a header routed to it, round robin:
    the output keeps `ptr`, the index (Port value) of the input it granted last (reset 4,
    WEST, so LOCAL has priority first); it grants the first requesting input in the order
    ptr+1, ptr+2, ..., ptr+5 (mod 5) and sets ptr to the winner. ptr changes only on a
    grant of a header, not on body flits. The header moves in the grant cycle; unless it has
    `last` set, the output is locked to that input until the flit with `last` has moved.
  The lock is released at the end of the cycle the last flit moves, so the next packet's
  header can be granted in the very next cycle (no bubble between packets).
* Output register: one flit per output; `<p>_out.valid` is "register full" and the payload is
  the register, so outputs are registered too.

Timing with no contention: a flit accepted on an input at cycle t sits in the FIFO at t + 1,
is moved into the output register at the end of t + 1 and is offered (and, if the next hop is
ready, accepted) at t + 2: `nfcore.arch.noc.ROUTER_HOP_CYCLES` = 2. Each input and each output
passes one flit per cycle; a 2-deep FIFO keeps that rate with a register-only `ready`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from nfcore.arch import noc
from nfcore.arch.noc import Port
from nfcore.errors import ConfigError
from nfcore.hdl.flit import flit_layout, flit_stream

__all__ = ["InputQueue", "MeshRouter", "Place", "RouterLogic", "check_router",
           "queue_entry_layout"]

PORTS = tuple(Port)
MAX_COORD = (1 << noc.COORD_BITS) - 1
FIFO_DEPTH_RANGE = (2, 16)
"""The `fifo_depth`s a router can be built with (one entry cannot pass a flit per cycle with
a register-only `ready`)."""


def port_name(port: Port) -> str:
    return port.name.lower()


def header_field(flit_data: Any, name: str) -> Any:
    """The stored bits of header field `name` in a header flit's `data`."""
    f = next(f for f in noc.HEADER_FIELDS if f.name == name)
    return flit_data[f.lsb : f.lsb + f.width]


def check_router(*, lanes: int, x: int | None, y: int | None,
                 fifo_depth: int = noc.ROUTER_FIFO_DEPTH,
                 ports: frozenset[Port] | None = None) -> None:
    """Raise ConfigError if a `MeshRouter` with these parameters cannot be built (x and y
    are both None for a router placed by its ports)."""
    problems = []
    if lanes * 8 < noc.HEADER_BITS:
        problems.append(f"lanes = {lanes}: a flit must hold the {noc.HEADER_BITS}-bit "
                        f"header, so lanes >= {noc.HEADER_BITS // 8}")
    if (x is None) != (y is None):
        problems.append(f"x = {x}, y = {y}: give both coordinates, or neither (ports)")
    for key, value in (("x", x), ("y", y)):
        if value is not None and not 0 <= value <= MAX_COORD:
            problems.append(f"{key} = {value} is out of range 0..{MAX_COORD}")
    lo, hi = FIFO_DEPTH_RANGE
    if not lo <= fifo_depth <= hi:
        problems.append(f"fifo_depth = {fifo_depth} is out of range {lo}..{hi} (one entry "
                        f"cannot pass a flit per cycle with a register-only ready)")
    if ports is not None and Port.LOCAL not in ports:
        problems.append("ports must include LOCAL")
    if problems:
        raise ConfigError(f"MeshRouter: {problems[0]}")


def queue_entry_layout(lanes: int) -> data.StructLayout:
    """An `InputQueue` entry: a flit and its route, one-hot in `PORTS` order."""
    return data.StructLayout({"flit": flit_layout(lanes), "route": unsigned(len(PORTS))})


class InputQueue(wiring.Component):
    """A router input's buffer: a `depth`-entry shift-register FIFO.

    * `w` (stream in): the flits entering; `w.ready` is "not full", from the count
      register. `w_route`: the output port the flit on `w` is routed to, stored beside it
      one-hot (in `PORTS` order) so that switch allocation starts from registers.
    * `r` (stream out): the head entry (`queue_entry_layout`): `r.valid` is "not empty",
      `r.payload` is entry 0's register; a transfer on `r` pops it. A flit pushed while the
      queue is empty is the head one cycle later.
    """

    def __init__(self, *, lanes: int, depth: int) -> None:
        self.lanes, self.depth = lanes, depth
        super().__init__({
            "w": In(flit_stream(lanes)),
            "w_route": In(Port),
            "r": Out(stream.Signature(queue_entry_layout(lanes))),
        })

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        depth, w = self.depth, self.w
        layout = queue_entry_layout(self.lanes)
        # Entry 0 is the head: the output payload is its register.
        entries = [self.r.payload, *(Signal(layout, name=f"buf{k}") for k in range(1, depth))]
        count = Signal(range(depth + 1))
        push = Signal()
        pop = Signal()
        m.d.comb += [
            w.ready.eq(count != depth),
            push.eq(w.valid & w.ready),
            self.r.valid.eq(count != 0),
            pop.eq(self.r.valid & self.r.ready),
        ]
        m.d.sync += count.eq(count + push - pop)
        route = Cat(self.w_route == p for p in PORTS)
        for k in range(depth):
            with m.If(pop):
                m.d.sync += entries[k].eq(entries[k + 1] if k + 1 < depth else 0)
            # A pushed flit goes to the first free entry after this cycle's pop.
            slot_k = Mux(pop, count == k + 1, count == k)
            with m.If(push & slot_k):  # after the shift, so a push wins
                m.d.sync += [entries[k].flit.eq(w.payload), entries[k].route.eq(route)]
        return m


class MeshRouter(wiring.Component):
    """One mesh router at (x, y); see the module docstring for ports and timing.

    `ports`: the ports that exist (default all five). A mesh leaves out the ports on its
    edges; a flit routed to a missing port (its address is outside the mesh) is consumed
    and pulses `misrouted` (present only then), so a bad address cannot wedge the network.
    `x = y = None`: the place is given by the input ports of `PLACE_PORTS` (module docstring).
    """

    PLACE_PORTS = ("coord_x", "coord_y", "host_route", "dram_route")

    def __new__(cls, **params: Any) -> MeshRouter:
        # Checked before the object exists: Amaranth warns about a component that is
        # created and never elaborated, which a rejected one would be.
        check_router(**params)
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, *, lanes: int, x: int | None, y: int | None,
                 fifo_depth: int = noc.ROUTER_FIFO_DEPTH,
                 ports: frozenset[Port] | None = None) -> None:
        ports = frozenset(PORTS) if ports is None else frozenset(ports)
        self.lanes, self.x, self.y, self.fifo_depth = lanes, x, y, fifo_depth
        self.ports = ports
        members: dict[str, Any] = {}
        if self.placed_by_ports:
            members |= {"coord_x": In(noc.COORD_BITS), "coord_y": In(noc.COORD_BITS),
                        "host_route": In(Port), "dram_route": In(Port)}
        for p in PORTS:
            if p in ports:
                members[f"{port_name(p)}_in"] = In(flit_stream(lanes))
                members[f"{port_name(p)}_out"] = Out(flit_stream(lanes))
        if ports != frozenset(PORTS):
            members["misrouted"] = Out(1)
        super().__init__(members)

    @property
    def placed_by_ports(self) -> bool:
        """The coordinates and routes to the host and DRAM are input ports (x = y = None)."""
        return self.x is None

    def port_in(self, port: Port) -> Any:
        return getattr(self, f"{port_name(port)}_in")

    def port_out(self, port: Port) -> Any:
        return getattr(self, f"{port_name(port)}_out")

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        if self.x is None or self.y is None:
            place = Place(self.coord_x, self.coord_y, self.host_route, self.dram_route)
        else:
            place = Place.at(self.x, self.y)
        logic = RouterLogic(lanes=self.lanes, place=place, fifo_depth=self.fifo_depth)
        dropped = logic.build(m, {p: self.port_in(p) for p in self.ports},
                              {p: self.port_out(p) for p in self.ports})
        if dropped is not None:
            m.d.comb += self.misrouted.eq(dropped)
        return m


@dataclass(frozen=True)
class Place:
    """Where a router is, as its routing sees it: its coordinates and the output ports
    towards the host and the DRAM channel. Constants (`Place.at`), or input ports of a
    router placed by its ports (`MeshRouter.PLACE_PORTS`)."""

    x: Any
    """int, or a `noc.COORD_BITS`-bit value"""
    y: Any
    host: Any
    """`Port`, or a `Port`-shaped value: `noc.route(x, y, *noc.HOST)`"""
    dram: Any
    """likewise, `noc.route(x, y, *noc.DRAM)`"""

    @classmethod
    def at(cls, x: int, y: int) -> Place:
        return cls(x, y, noc.route(x, y, *noc.HOST), noc.route(x, y, *noc.DRAM))


class RouterLogic:
    """The router's logic, added to a caller's module: `MeshRouter` uses it on its own ports,
    and the flat `Mesh` and `CoreArray` on their link signals, so that every link of a mesh
    is a single set of signals in one module (its routers' `InputQueue`s are submodules)."""

    def __init__(self, *, lanes: int, place: Place, fifo_depth: int, prefix: str = "") -> None:
        self.lanes, self.place, self.fifo_depth = lanes, place, fifo_depth
        self.prefix = prefix

    def _name(self, *parts: str) -> str:
        return self.prefix + "_".join(parts)

    def _route(self, m: Module, head: Any, out: Any) -> None:
        """Drive `out` (`Port` shape) with the output port for the header flit `head`."""
        dest_x = header_field(head.data, "dest_x")
        dest_y = header_field(head.data, "dest_y")
        x, y = self.place.x, self.place.y
        # XY order; comparisons that are constant at a constant (x, y) are left out (a router
        # in column 0 has nothing to send west by destination).
        steps = [(header_field(head.data, "to_host"), self.place.host),
                 (header_field(head.data, "to_dram"), self.place.dram)]
        if not isinstance(x, int) or x < MAX_COORD:
            steps.append((dest_x > x, Port.EAST))
        if not isinstance(x, int) or x > 0:
            steps.append((dest_x < x, Port.WEST))
        if not isinstance(y, int) or y < MAX_COORD:
            steps.append((dest_y > y, Port.SOUTH))
        if not isinstance(y, int) or y > 0:
            steps.append((dest_y < y, Port.NORTH))
        for rank, (cond, port_to) in enumerate(steps):
            with m.If(cond) if rank == 0 else m.Elif(cond):
                m.d.comb += out.eq(port_to)
        with m.Else():
            m.d.comb += out.eq(Port.LOCAL)

    def _input_queue(self, m: Module, port: Port, src: Any) -> InputQueue:
        """The `InputQueue` of input `port`, reading the stream `src`, with each flit's route
        computed as it enters."""
        queue = InputQueue(lanes=self.lanes, depth=self.fifo_depth)
        m.submodules[self._name(port_name(port), "queue")] = queue
        # The queue's `w` is the input stream itself, seen from its receiving side: a copy
        # joined by `wiring.connect` would leave each of the stream's signals twice in the
        # Verilog, once as an unused alias (Verilator -Wall UNUSEDSIGNAL).
        sender_view = flit_stream(self.lanes).is_compliant(src)
        queue.w = wiring.flipped(src) if sender_view else src
        assert queue.signature.is_compliant(queue)
        self._route(m, src.payload, queue.w_route)
        return queue

    def build(self, m: Module, inputs: dict[Port, Any], outputs: dict[Port, Any]) -> Any:
        """Add the router to `m`, reading the streams `inputs` and driving `outputs` (the
        ports that exist). Returns a one-cycle "flit dropped" pulse if a port is missing,
        else None."""
        queues = {p: self._input_queue(m, p, inputs[p]) for p in PORTS if p in inputs}
        entry = queue_entry_layout(self.lanes)
        empty = data.View(entry, Const(0, entry.size))  # a missing input never has a flit
        heads = [queues[p].r.payload if p in queues else empty for p in PORTS]
        nonempty = [queues[p].r.valid if p in queues else Const(0) for p in PORTS]
        # in_packet[i]: input i has sent a header but not yet its last flit
        in_packet = [Signal(name=self._name(port_name(p), "in_packet")) if p in queues
                     else Const(0) for p in PORTS]
        requests = [nonempty[i] & ~in_packet[i] if PORTS[i] in queues else None
                    for i in range(len(PORTS))]
        pop_terms: list[list[Any]] = [[] for _ in PORTS]  # per input: "output o takes it"
        dropped = [self._output(m, o, outputs.get(o), heads, nonempty, requests, pop_terms)
                   for o in PORTS]

        for p, queue in queues.items():
            i = PORTS.index(p)
            m.d.comb += queue.r.ready.eq(Cat(pop_terms[i]).any())
            with m.If(queue.r.ready):
                m.d.sync += in_packet[i].eq(~heads[i].flit.last)
        leaks = [go for go in dropped if go is not None]
        return Cat(leaks).any() if leaks else None

    def _output(self, m: Module, o: Port, dst: Any, heads: list[Any], nonempty: list[Any],
                requests: list[Any], pop_terms: list[list[Any]]) -> Any:
        """Switch allocation and the output register of output `o` (`dst`, None if the port
        is missing). Adds "output o takes input i's head" to `pop_terms[i]`; returns the
        "flit dropped" pulse of a missing output, else None."""
        n = len(PORTS)
        oname = port_name(o) + "_out"
        locked = Signal(name=self._name(oname, "locked"))
        owner = Signal(range(n), name=self._name(oname, "owner"))
        ptr = Signal(range(n), init=n - 1, name=self._name(oname, "ptr"))
        sel = Signal(range(n), name=self._name(oname, "sel"))
        go = Signal(name=self._name(oname, "go"))  # a flit from input `sel` moves now
        request = [0 if r is None else r & heads[i].route[PORTS.index(o)]
                   for i, r in enumerate(requests)]
        moving = Array(h.flit for h in heads)[sel]

        if dst is not None:  # valid/payload are the output register
            can_take = ~dst.valid | dst.ready
            with m.If(dst.valid & dst.ready):
                m.d.sync += dst.valid.eq(0)
            with m.If(go):
                m.d.sync += [dst.payload.eq(moving), dst.valid.eq(1)]
        else:  # a missing output drops what is routed to it
            can_take = Const(1)

        with m.If(locked):
            m.d.comb += [sel.eq(owner), go.eq(can_take & Array(nonempty)[owner])]
        with m.Else():
            # Round robin: the first requester after ptr, in cyclic order.
            with m.Switch(ptr):
                for last in range(n):
                    with m.Case(last):
                        order = [(last + k) % n for k in range(1, n + 1)]
                        order = [i for i in order if requests[i] is not None]
                        for rank, i in enumerate(order):
                            with m.If(request[i]) if rank == 0 else m.Elif(request[i]):
                                m.d.comb += [sel.eq(i), go.eq(can_take)]
            with m.If(go):
                m.d.sync += ptr.eq(sel)
        with m.If(go):
            m.d.sync += [locked.eq(~moving.last), owner.eq(sel)]
        for i, r in enumerate(requests):
            if r is not None:
                pop_terms[i].append(go & (sel == i))
        return go if dst is None else None
