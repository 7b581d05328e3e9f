"""`Router`: one five-port wormhole router of the NF-Core mesh.

Ports
-----
For each `nfcore.arch.noc.Port` P (LOCAL, NORTH, SOUTH, EAST, WEST) an input stream `<p>_in` and
an output stream `<p>_out` of flits (`nfcore.arch.noc.flit_layout(lanes)`). The router's own
coordinates (x, y) are elaboration-time parameters: routing compares the header's
destination with constants.

Microarchitecture
-----------------
* Input buffer: a `fifo_depth`-entry shift-register FIFO per input (default 2).
  `<p>_in.ready` is "FIFO not full", a register-only function, so no `ready` path crosses a
  router combinationally (a mesh has no combinational loop).
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

from typing import Any

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from nfcore.arch import noc
from nfcore.arch.noc import Port
from nfcore.errors import ConfigError

PORTS = tuple(Port)
MAX_COORD = (1 << noc.COORD_BITS) - 1


def flit_stream(lanes: int) -> stream.Signature:
    """A stream of flits, as seen by its sender."""
    return stream.Signature(noc.flit_layout(lanes))


def port_name(port: Port) -> str:
    return port.name.lower()


def header_field(flit_data: Any, name: str) -> Any:
    """The stored bits of header field `name` in a header flit's `data`."""
    f = next(f for f in noc.HEADER_FIELDS if f.name == name)
    return flit_data[f.lsb : f.lsb + f.width]


def check_router(*, lanes: int, x: int, y: int, fifo_depth: int,
                 ports: frozenset[Port]) -> None:
    """Raise ConfigError if a router with these parameters cannot be built."""
    problems = []
    if lanes * 8 < noc.HEADER_BITS:
        problems.append(f"lanes = {lanes}: a flit must hold the {noc.HEADER_BITS}-bit "
                        f"header, so lanes >= {noc.HEADER_BITS // 8}")
    for key, value in (("x", x), ("y", y)):
        if not 0 <= value <= MAX_COORD:
            problems.append(f"{key} = {value} is out of range 0..{MAX_COORD}")
    if not 2 <= fifo_depth <= 16:
        problems.append(f"fifo_depth = {fifo_depth} is out of range 2..16 (one entry "
                        f"cannot pass a flit per cycle with a register-only ready)")
    if Port.LOCAL not in ports:
        problems.append("ports must include LOCAL")
    if problems:
        raise ConfigError(f"Router: {problems[0]}")


class Router(wiring.Component):
    """One mesh router at (x, y); see the module docstring for ports and timing.

    `ports`: the ports that exist (default all five). A mesh leaves out the ports on its
    edges; a flit routed to a missing port (its address is outside the mesh) is consumed
    and pulses `misrouted` (present only then), so a bad address cannot wedge the network.
    """

    def __init__(self, *, lanes: int, x: int, y: int, fifo_depth: int = noc.ROUTER_FIFO_DEPTH,
                 ports: frozenset[Port] | None = None) -> None:
        ports = frozenset(PORTS) if ports is None else frozenset(ports)
        try:
            check_router(lanes=lanes, x=x, y=y, fifo_depth=fifo_depth, ports=ports)
        except ConfigError:
            self._MustUse__silence = True  # not built, so not "created but never used"
            raise
        self.lanes, self.x, self.y, self.fifo_depth = lanes, x, y, fifo_depth
        self.ports = ports
        members: dict[str, Any] = {}
        for p in PORTS:
            if p in ports:
                members[f"{port_name(p)}_in"] = In(flit_stream(lanes))
                members[f"{port_name(p)}_out"] = Out(flit_stream(lanes))
        if ports != frozenset(PORTS):
            members["misrouted"] = Out(1)
        super().__init__(members)

    def port_in(self, port: Port) -> Any:
        return getattr(self, f"{port_name(port)}_in")

    def port_out(self, port: Port) -> Any:
        return getattr(self, f"{port_name(port)}_out")

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        logic = RouterLogic(lanes=self.lanes, x=self.x, y=self.y, fifo_depth=self.fifo_depth)
        dropped = logic.build(m, {p: self.port_in(p) for p in self.ports},
                              {p: self.port_out(p) for p in self.ports})
        if dropped is not None:
            m.d.comb += self.misrouted.eq(dropped)
        return m


class RouterLogic:
    """The router's logic, added to a caller's module: `Router` uses it on its own ports,
    and `Mesh` on its link signals, so that a mesh is one flat module in which every link
    is a single set of signals (no submodule port aliases in the Verilog)."""

    def __init__(self, *, lanes: int, x: int, y: int, fifo_depth: int,
                 prefix: str = "") -> None:
        self.lanes, self.x, self.y, self.fifo_depth = lanes, x, y, fifo_depth
        self.prefix = prefix
        self.layout = noc.flit_layout(lanes)

    def _name(self, *parts: str) -> str:
        return self.prefix + "_".join(parts)

    def _route(self, m: Module, head: Any, port: Port) -> Signal:
        """The output port (`Port` shape) for the header flit `head` of input `port`."""
        out = Signal(Port, name=self._name(port_name(port), "route"))
        dest_x = header_field(head.data, "dest_x")
        dest_y = header_field(head.data, "dest_y")
        host_port = noc.route(self.x, self.y, *noc.HOST)  # constants for this router
        dram_port = noc.route(self.x, self.y, *noc.DRAM)
        # XY order; comparisons that are constant at this (x, y) are left out (a router in
        # column 0 has nothing to send west by destination).
        steps = [(header_field(head.data, "to_host"), host_port),
                 (header_field(head.data, "to_dram"), dram_port)]
        if self.x < MAX_COORD:
            steps.append((dest_x > self.x, Port.EAST))
        if self.x > 0:
            steps.append((dest_x < self.x, Port.WEST))
        if self.y < MAX_COORD:
            steps.append((dest_y > self.y, Port.SOUTH))
        if self.y > 0:
            steps.append((dest_y < self.y, Port.NORTH))
        for rank, (cond, port_to) in enumerate(steps):
            with m.If(cond) if rank == 0 else m.Elif(cond):
                m.d.comb += out.eq(port_to)
        with m.Else():
            m.d.comb += out.eq(Port.LOCAL)
        return out

    def _input_fifo(self, m: Module, port: Port, src: Any,
                    pop: Signal) -> tuple[Any, Any, Any]:
        """A `fifo_depth`-entry shift-register FIFO on input stream `src`: (head flit view,
        the head's route one-hot in `PORTS` order, not-empty). Entry 0 is the head; `ready` is
        "not full", from the count register. Each entry keeps its flit's route, computed as
        the flit is pushed."""
        name = port_name(port)
        depth = self.fifo_depth
        entries = [Signal(self.layout, name=self._name(name, f"buf{k}")) for k in range(depth)]
        routes = [Signal(len(PORTS), name=self._name(name, f"route{k}")) for k in range(depth)]
        route = self._route(m, src.payload, port)
        route_in = Cat(route == p for p in PORTS)
        count = Signal(range(depth + 1), name=self._name(name, "count"))
        push = Signal(name=self._name(name, "push"))
        m.d.comb += [
            src.ready.eq(count != depth),
            push.eq(src.valid & src.ready),
        ]
        m.d.sync += count.eq(count + push - pop)
        for k in range(depth):
            with m.If(pop):
                m.d.sync += [entries[k].eq(entries[k + 1] if k + 1 < depth else 0),
                             routes[k].eq(routes[k + 1] if k + 1 < depth else 0)]
            # A pushed flit goes to the first free entry after this cycle's pop.
            slot_k = Mux(pop, count == k + 1, count == k)
            with m.If(push & slot_k):  # after the shift, so a push wins
                m.d.sync += [entries[k].eq(src.payload), routes[k].eq(route_in)]
        return entries[0], routes[0], count != 0

    def build(self, m: Module, inputs: dict[Port, Any], outputs: dict[Port, Any]) -> Any:
        """Add the router to `m`, reading the streams `inputs` and driving `outputs` (the
        ports that exist). Returns a one-cycle "flit dropped" pulse if a port is missing,
        else None."""
        n = len(PORTS)
        present = [p in inputs for p in PORTS]

        pops = [Signal(name=self._name(port_name(p), "pop")) for p in PORTS]
        heads: list[Any] = []
        nonempty: list[Any] = []
        routes: list[Any] = []
        for i, p in enumerate(PORTS):
            if present[i]:
                head, route, ready = self._input_fifo(m, p, inputs[p], pops[i])
                heads.append(head)
                nonempty.append(ready)
                routes.append(route)
            else:  # a missing input never has a flit
                heads.append(data.View(self.layout, Const(0, self.layout.size)))
                nonempty.append(Const(0))
                routes.append(Const(0, len(PORTS)))

        # in_packet[i]: input i has sent a header but not yet its last flit
        in_packet = [Signal(name=self._name(port_name(p), "in_packet")) if present[i]
                     else Const(0) for i, p in enumerate(PORTS)]
        pop_terms: list[list[Any]] = [[] for _ in PORTS]  # per input: "output o takes it"
        dropped: list[Any] = []
        head_by_index = Array(heads)
        nonempty_by_index = Array(nonempty)

        for o in PORTS:
            oname = port_name(o) + "_out"
            locked = Signal(name=self._name(oname, "locked"))
            owner = Signal(range(n), name=self._name(oname, "owner"))
            ptr = Signal(range(n), init=n - 1, name=self._name(oname, "ptr"))
            sel = Signal(range(n), name=self._name(oname, "sel"))
            go = Signal(name=self._name(oname, "go"))  # a flit from input `sel` moves now
            request = [nonempty[i] & ~in_packet[i] & routes[i][PORTS.index(o)] if present[i]
                       else 0
                       for i in range(n)]
            moving = head_by_index[sel]

            if o in outputs:
                dst = outputs[o]  # valid/payload are the output register
                can_take = ~dst.valid | dst.ready
                with m.If(dst.valid & dst.ready):
                    m.d.sync += dst.valid.eq(0)
                with m.If(go):
                    m.d.sync += [dst.payload.eq(moving), dst.valid.eq(1)]
            else:  # a missing output drops what is routed to it
                can_take = Const(1)
                dropped.append(go)

            with m.If(locked):
                m.d.comb += [sel.eq(owner), go.eq(can_take & nonempty_by_index[owner])]
            with m.Else():
                # Round robin: the first requester after ptr, in cyclic order.
                with m.Switch(ptr):
                    for last in range(n):
                        with m.Case(last):
                            order = [(last + k) % n for k in range(1, n + 1)]
                            order = [i for i in order if present[i]]
                            for rank, i in enumerate(order):
                                with m.If(request[i]) if rank == 0 else m.Elif(request[i]):
                                    m.d.comb += [sel.eq(i), go.eq(can_take)]
                with m.If(go):
                    m.d.sync += ptr.eq(sel)
            with m.If(go):
                m.d.sync += [locked.eq(~moving.last), owner.eq(sel)]
            for i in range(n):
                if present[i]:
                    pop_terms[i].append(go & (sel == i))

        for i in range(n):
            if present[i]:
                m.d.comb += pops[i].eq(Cat(pop_terms[i]).any())
                with m.If(pops[i]):
                    m.d.sync += in_packet[i].eq(~heads[i].last)
        return Cat(dropped).any() if dropped else None
