"""`Mesh`: rows x cols `MeshRouter`s connected north/south/east/west, with a host port.

Ports
-----
* `local_in[y][x]` (stream in): flits a node (the core at column x, row y) injects; it is
  router (x, y)'s LOCAL input. `local_out[y][x]` (stream out): flits for that node, router
  (x, y)'s LOCAL output. In Verilog: `local_in__<y>__<x>__valid` and so on.
* `host_in` / `host_out`: the host port, router (0, 0)'s NORTH input and output
  (`nfcore.arch.noc.HOST` = (0, -1)). Packets for the host set the header's `to_host` bit.
* `misrouted` (sticky): a packet was routed off the mesh (addressed outside it). Routers on
  the edges have no port there (`router_ports`); such a packet is consumed at the edge so
  that a bad address cannot wedge the network.

Timing: `nfcore.arch.noc.header_latency_cycles` (ROUTER_HOP_CYCLES per router on the path).

Flat or hierarchical
--------------------
Built with a `nfcore.hdl.blackbox.Hierarchy`, each router is an instance of a `MeshRouter`
module placed by its ports (`router_box`: one module per set of ports, at most 9 in a mesh:
the corners, the edges, the inside), with its coordinates and routes tied to constants.
Without, the routers' logic is built into the mesh's own module (`RouterLogic`), so that its
Verilog has one module per router input queue and none per router. Both have the same ports
and the same behaviour, cycle for cycle.
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Cat, Const, Module, Shape, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from nfcore.arch import noc
from nfcore.arch.noc import Port
from nfcore.config import MeshConfig, check_field
from nfcore.hdl.blackbox import BlackBox, Hierarchy
from nfcore.hdl.flit import flit_stream
from nfcore.hdl.router import PORTS, MeshRouter, Place, RouterLogic, check_router, port_name

__all__ = ["Mesh", "check_mesh", "make_router_boxes", "router_box", "router_ports",
           "wire_routers"]

# (port, neighbour offset, the neighbour's port facing back)
LINKS = ((Port.EAST, (1, 0), Port.WEST), (Port.SOUTH, (0, 1), Port.NORTH))


def check_mesh(*, lanes: int, rows: int, cols: int,
               fifo_depth: int = noc.ROUTER_FIFO_DEPTH) -> None:
    """Raise ConfigError if a `Mesh` with these parameters cannot be built: `rows` and `cols`
    as `MeshConfig` allows them, and every router's parameters (`check_router`)."""
    for key, value in (("rows", rows), ("cols", cols)):
        check_field(MeshConfig, key, value, f"Mesh: {key}")
    for y in range(rows):
        for x in range(cols):
            check_router(lanes=lanes, x=x, y=y, fifo_depth=fifo_depth,
                         ports=router_ports(x, y, rows, cols))


class Mesh(wiring.Component):
    """rows x cols routers; see the module docstring for ports. `hierarchy`: the routers are
    instances of its black boxes (module docstring, "Flat or hierarchical")."""

    def __new__(cls, *, hierarchy: Hierarchy | None = None, **params: Any) -> Mesh:
        check_mesh(**params)  # before the object exists (see `MeshRouter.__new__`)
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, *, lanes: int, rows: int, cols: int,
                 fifo_depth: int = noc.ROUTER_FIFO_DEPTH,
                 hierarchy: Hierarchy | None = None) -> None:
        self.lanes, self.rows, self.cols, self.fifo_depth = lanes, rows, cols, fifo_depth
        self.hierarchy = hierarchy
        if hierarchy is not None:
            make_router_boxes(hierarchy, lanes=lanes, rows=rows, cols=cols,
                              fifo_depth=fifo_depth)
        flits = flit_stream(lanes)
        super().__init__({
            "local_in": In(flits).array(rows, cols),
            "local_out": Out(flits).array(rows, cols),
            "host_in": In(flits),
            "host_out": Out(flits),
            "misrouted": Out(1),
        })

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        rows, cols = self.rows, self.cols
        inputs: dict[tuple[int, int], dict[Port, Any]] = {}
        outputs: dict[tuple[int, int], dict[Port, Any]] = {}
        for y in range(rows):
            for x in range(cols):
                inputs[x, y] = {Port.LOCAL: self.local_in[y][x]}
                outputs[x, y] = {Port.LOCAL: self.local_out[y][x]}
        inputs[0, 0][Port.NORTH] = self.host_in
        outputs[0, 0][Port.NORTH] = self.host_out
        with m.If(wire_routers(m, self.lanes, rows, cols, self.fifo_depth, inputs, outputs,
                               hierarchy=self.hierarchy)):
            m.d.sync += self.misrouted.eq(1)
        return m


def wire_routers(m: Module, lanes: int, rows: int, cols: int, fifo_depth: int,
                 inputs: dict[tuple[int, int], dict[Port, Any]],
                 outputs: dict[tuple[int, int], dict[Port, Any]], *, dram: bool = False,
                 hierarchy: Hierarchy | None = None) -> Any:
    """Link neighbouring routers of a `rows` x `cols` mesh and add each router to `m`: its
    logic, or with `hierarchy` an instance of its black box (`router_box`).

    `inputs` / `outputs` hold, per router (x, y), the streams already attached to its
    non-link ports (LOCAL, the host's NORTH at (0, 0), ...); this adds one stream per link
    direction, driven by one router and read by its neighbour. Returns a signal that is 1
    in a cycle where some router dropped a flit addressed off the mesh. `dram`: router
    (0, 0) also has the DRAM channel's port (`router_ports`)."""
    flits = flit_stream(lanes)
    for y in range(rows):
        for x in range(cols):
            for port, (dx, dy), back in LINKS:
                nx, ny = x + dx, y + dy
                if nx < cols and ny < rows:
                    there = flits.create(path=(f"link_{x}_{y}_{port_name(port)}",))
                    back_link = flits.create(path=(f"link_{nx}_{ny}_{port_name(back)}",))
                    outputs[x, y][port] = inputs[nx, ny][back] = there
                    outputs[nx, ny][back] = inputs[x, y][port] = back_link
    leaks = []
    for y in range(rows):
        for x in range(cols):
            ports = router_ports(x, y, rows, cols, dram=dram)
            assert set(inputs[x, y]) == ports
            if hierarchy is None:
                logic = RouterLogic(lanes=lanes, place=Place.at(x, y), fifo_depth=fifo_depth,
                                    prefix=f"r{x}_{y}_")
                dropped = logic.build(m, inputs[x, y], outputs[x, y])
            else:
                box = router_box(hierarchy, lanes=lanes, fifo_depth=fifo_depth, ports=ports)
                dropped = _router_instance(m, box, x, y, inputs[x, y], outputs[x, y])
            if dropped is not None:
                leaks.append(dropped)
    # Every mesh has a west edge, so `leaks` is never empty.
    return Cat(leaks).any()


def router_box(hierarchy: Hierarchy, *, lanes: int, fifo_depth: int, ports: frozenset[Port]
               ) -> BlackBox:
    """The black box of a router with `ports`, placed by its ports (`MeshRouter` with
    x = y = None): module `<prefix>__router_<ports>`, e.g. `router_lnse` for LOCAL, NORTH,
    SOUTH and EAST."""
    suffix = "router_" + "".join(port_name(p)[0] for p in PORTS if p in ports)
    return hierarchy.box(suffix, lambda: MeshRouter(lanes=lanes, x=None, y=None,
                                                    fifo_depth=fifo_depth, ports=ports))


def make_router_boxes(hierarchy: Hierarchy, *, lanes: int, rows: int, cols: int,
                      fifo_depth: int, dram: bool = False) -> None:
    """Make the box of every router of a mesh, so that `hierarchy.boxes` is complete before
    the mesh is elaborated (`router_box`, `router_ports`)."""
    for y in range(rows):
        for x in range(cols):
            router_box(hierarchy, lanes=lanes, fifo_depth=fifo_depth,
                       ports=router_ports(x, y, rows, cols, dram=dram))


def _router_instance(m: Module, box: BlackBox, x: int, y: int, inputs: dict[Port, Any],
                     outputs: dict[Port, Any]) -> Any:
    """Add to `m` an instance of router `box` at (x, y) on the streams `inputs` / `outputs`,
    its place tied to constants. Returns its `misrouted` pulse, or None if it has none."""
    place, port_shape = Place.at(x, y), Shape.cast(Port)
    members: dict[str, Any] = {
        "coord_x": Const(x, noc.COORD_BITS), "coord_y": Const(y, noc.COORD_BITS),
        "host_route": Const(place.host, port_shape), "dram_route": Const(place.dram, port_shape),
        **{f"{port_name(p)}_in": stream for p, stream in inputs.items()},
        **{f"{port_name(p)}_out": stream for p, stream in outputs.items()},
    }
    dropped = None
    if "misrouted" in box.design.signature.members:
        dropped = members["misrouted"] = Signal(name=f"r{x}_{y}_misrouted")
    m.submodules[f"router_{x}_{y}"] = box.instance(**members)
    return dropped


def router_ports(x: int, y: int, rows: int, cols: int, *, dram: bool = False
                 ) -> frozenset[Port]:
    """The ports router (x, y) has: LOCAL, its neighbours', NORTH at (0, 0) (the host) and,
    with `dram`, WEST at (0, 0) (the DRAM channel, `noc.DRAM`)."""
    ports = {Port.LOCAL}
    if dram and (x, y) == noc.DRAM_ROUTER:
        ports.add(noc.DRAM_PORT)
    if x > 0:
        ports.add(Port.WEST)
    if x + 1 < cols:
        ports.add(Port.EAST)
    if y > 0 or x == 0:
        ports.add(Port.NORTH)
    if y + 1 < rows:
        ports.add(Port.SOUTH)
    return frozenset(ports)
