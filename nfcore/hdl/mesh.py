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
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Cat, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from nfcore.arch import noc
from nfcore.arch.noc import Port
from nfcore.config import MeshConfig, check_field
from nfcore.hdl.flit import flit_stream
from nfcore.hdl.router import RouterLogic, check_router, port_name

__all__ = ["Mesh", "check_mesh", "router_ports", "wire_routers"]

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
    """rows x cols routers; see the module docstring for ports."""

    def __new__(cls, **params: Any) -> Mesh:
        check_mesh(**params)  # before the object exists (see `MeshRouter.__new__`)
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, *, lanes: int, rows: int, cols: int,
                 fifo_depth: int = noc.ROUTER_FIFO_DEPTH) -> None:
        self.lanes, self.rows, self.cols, self.fifo_depth = lanes, rows, cols, fifo_depth
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
        with m.If(wire_routers(m, self.lanes, rows, cols, self.fifo_depth, inputs, outputs)):
            m.d.sync += self.misrouted.eq(1)
        return m


def wire_routers(m: Module, lanes: int, rows: int, cols: int, fifo_depth: int,
                 inputs: dict[tuple[int, int], dict[Port, Any]],
                 outputs: dict[tuple[int, int], dict[Port, Any]], *, dram: bool = False) -> Any:
    """Link neighbouring routers of a `rows` x `cols` mesh and build each router's logic.

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
            assert set(inputs[x, y]) == router_ports(x, y, rows, cols, dram=dram)
            logic = RouterLogic(lanes=lanes, x=x, y=y, fifo_depth=fifo_depth,
                                prefix=f"r{x}_{y}_")
            dropped = logic.build(m, inputs[x, y], outputs[x, y])
            if dropped is not None:
                leaks.append(dropped)
    # Every mesh has a west edge, so `leaks` is never empty.
    return Cat(leaks).any()


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
