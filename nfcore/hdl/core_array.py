"""`CoreArray`: rows x cols `MicroCore`s on a `Mesh`, with the host interface.

Each core sits in its own power domain (`nfcore.hdl.power.PoweredCore`: gated, idle,
active, with `power.wake_up_cycles` of wake-up latency; the host gates a core with the
command SLEEP and wakes it with any other command on its `cmd`).

Each core's `net_out`/`net_in` is its router's LOCAL input/output; its `coord_x`/`coord_y`
are tied to its (x, y).

Flat or hierarchical
--------------------
* Hierarchical (with a `nfcore.hdl.blackbox.Hierarchy`; what `nfcore verilog --top array`
  writes): every core is an instance of one `PoweredCore` module built without `coord`
  (module `<prefix>__core`, its `coord_x`/`coord_y` ports tied to the core's place), every
  router an instance of the `MeshRouter` module of its set of ports (`mesh.router_box`:
  at most 9 modules, coordinates and routes tied to constants); this module holds only the
  instances, the links between them and `any_busy` / `misrouted`. The Verilog of a 16 x 16
  array then defines each module once.
* Flat (no hierarchy): the cores are Amaranth submodules with constant coordinates and the
  routers' logic is built into this module (`RouterLogic.build`, as in the flat `Mesh`),
  so that every link is one set of signals; Amaranth then writes one Verilog module per
  instance of every block (3,841 for 16 x 16).
Both have the same ports and the same behaviour, cycle for cycle
(`sim_tests/test_hier_array_rtl.py` compares them under Verilator).

Host interface (docs/architecture.md, "The array top")
-------------------------------------------------------
* `cmd[y][x]` / `rsp[y][x]`: each core's own command and response streams (`MicroCore`'s
  `cmd`/`rsp`, unchanged). The host loads weights, scratchpad words and programs, starts a
  core with RUN and reads results with READ_ACT over these point-to-point buses. They carry
  no network traffic, so loading never disturbs the mesh and costs one beat per word.
* `host_in` / `host_out`: the mesh's host port (router (0, 0)'s NORTH port, `noc.HOST`),
  for packets between the host and the cores' SEND/RECV (requests and results).
* `dram_out` / `dram_in`: the DRAM channel's port (router (0, 0)'s WEST port, `noc.DRAM`):
  read requests (`to_dram` packets, `noc.DRAM_REQUEST_FIELDS`, sent by the host) leave on
  `dram_out`; the channel's answers enter on `dram_in`, addressed to a core's RECV or, for
  a request with `to_weights`, to its weight SRAM (paging, `nfcore.hdl.core.net_port`).
* Starting cores together: the golden array (`nfcore.golden.array`) assumes that every core
  accepts RUN in the same cycle. An idle core's `cmd.ready` is high, so a host that presents
  RUN on every core's `cmd` in the same cycle gets that (`ArrayTB.run_all` does).

Status, per core `[y][x]`: `busy`, `paging` (a weight packet is being written), `done`
(one-cycle pulse), `error`, `last_run_cycles` (`MicroCore`'s); `power_state` and the cycle
counters `gated_cycles`, `idle_cycles`, `active_cycles` and `wakes` (`PoweredCore`'s).
Combined: `any_busy` (some core runs a program; it falls in the cycle after the last core's
`done`, so a testbench can wait for its falling edge instead of polling), `misrouted`
(sticky, `Mesh`'s).
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Cat, Const, Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from nfcore.arch import noc
from nfcore.arch.noc import Port
from nfcore.config import NFCoreConfig
from nfcore.hdl.blackbox import Hierarchy
from nfcore.hdl.core import CYCLE_COUNTER_BITS, cmd_layout, rsp_layout
from nfcore.hdl.flit import flit_stream
from nfcore.hdl.mesh import check_mesh, make_router_boxes, wire_routers
from nfcore.hdl.power import COUNTERS, PoweredCore, PowerState, check_powered_core

__all__ = ["CoreArray", "check_core_array"]

PER_CORE = ("cmd", "rsp", "busy", "paging", "done", "error", "last_run_cycles", "power_state",
            *COUNTERS)
"""The array's per-core ports (`[y][x]` arrays): each is core (x, y)'s port of that name."""


def check_core_array(*, config: NFCoreConfig, fifo_depth: int = noc.ROUTER_FIFO_DEPTH) -> None:
    """Raise ConfigError if a `CoreArray` of `config` cannot be built: the mesh's rows, cols,
    lanes and fifo_depth (`check_mesh`) and the cores' (`check_powered_core`)."""
    check_mesh(lanes=config.core.lanes, rows=config.mesh.rows, cols=config.mesh.cols,
               fifo_depth=fifo_depth)
    check_powered_core(config)


class CoreArray(wiring.Component):
    """`cfg.mesh.rows` x `cfg.mesh.cols` cores of `cfg.core`; see the module docstring.
    `hierarchy`: hierarchical, the cores and routers instances of its black boxes (all made
    here, so `hierarchy.boxes` is complete once the array exists); None: flat."""

    def __new__(cls, *, hierarchy: Hierarchy | None = None, **params: Any) -> CoreArray:
        # Checked before the object exists: Amaranth warns about a component that is
        # created and never elaborated, which a rejected one would be.
        check_core_array(**params)
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, *, config: NFCoreConfig, fifo_depth: int = noc.ROUTER_FIFO_DEPTH,
                 hierarchy: Hierarchy | None = None) -> None:
        rows, cols, lanes = config.mesh.rows, config.mesh.cols, config.core.lanes
        self.config, self.rows, self.cols, self.fifo_depth = config, rows, cols, fifo_depth
        self.hierarchy = hierarchy
        flits = flit_stream(lanes)
        super().__init__({
            "cmd": In(stream.Signature(cmd_layout(lanes))).array(rows, cols),
            "rsp": Out(stream.Signature(rsp_layout(lanes))).array(rows, cols),
            "host_in": In(flits),
            "host_out": Out(flits),
            "dram_in": In(flits),
            "dram_out": Out(flits),
            "busy": Out(1).array(rows, cols),
            "paging": Out(1).array(rows, cols),
            "done": Out(1).array(rows, cols),
            "error": Out(1).array(rows, cols),
            "last_run_cycles": Out(CYCLE_COUNTER_BITS).array(rows, cols),
            "power_state": Out(PowerState).array(rows, cols),
            **{name: Out(CYCLE_COUNTER_BITS).array(rows, cols) for name in COUNTERS},
            "any_busy": Out(1),
            "misrouted": Out(1),
        })
        if hierarchy is None:
            self._flat_cores()
        else:
            self.core_box = hierarchy.box(
                "core", lambda: PoweredCore(config=config, coord=None))
            make_router_boxes(hierarchy, lanes=lanes, rows=rows, cols=cols,
                              fifo_depth=fifo_depth, dram=True)

    def _flat_cores(self) -> None:
        """The flat array's cores, whose ports are the array's."""
        self.cores = [[PoweredCore(config=self.config, coord=(x, y)) for x in range(self.cols)]
                      for y in range(self.rows)]
        # The per-core ports are the cores' own signals, not copies: a copy would leave
        # an unused alias wire per port in the Verilog (Verilator -Wall UNUSEDSIGNAL).
        for name in PER_CORE:
            setattr(self, name, [[getattr(core, name) for core in row] for row in self.cores])
        # An input read only by a submodule keeps its own name beside the port's, as an
        # unused alias, unless the two names are the same.
        for y, row in enumerate(self.cores):
            for x, core in enumerate(row):
                for path, member, value in core.signature.flatten(core):
                    if path[0] in ("cmd", "rsp") and member.flow == In:
                        sig = value.as_value() if hasattr(value, "as_value") else value
                        sig.name = "__".join(map(str, (path[0], y, x, *path[1:])))

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        rows, cols, lanes = self.rows, self.cols, self.config.core.lanes
        inputs: dict[tuple[int, int], dict[Port, Any]] = {}
        outputs: dict[tuple[int, int], dict[Port, Any]] = {}
        for y in range(rows):
            for x in range(cols):
                net_out, net_in = self._add_core(m, x, y)
                # The core's flit ports are its router's LOCAL port pair.
                inputs[x, y] = {Port.LOCAL: net_out}
                outputs[x, y] = {Port.LOCAL: net_in}
        m.d.comb += self.any_busy.eq(Cat(self.busy[y][x] for y in range(rows)
                                         for x in range(cols)).any())
        inputs[0, 0][Port.NORTH] = self.host_in
        outputs[0, 0][Port.NORTH] = self.host_out
        inputs[noc.DRAM_ROUTER][noc.DRAM_PORT] = self.dram_in
        outputs[noc.DRAM_ROUTER][noc.DRAM_PORT] = self.dram_out
        with m.If(wire_routers(m, lanes, rows, cols, self.fifo_depth, inputs, outputs,
                               dram=True, hierarchy=self.hierarchy)):
            m.d.sync += self.misrouted.eq(1)
        return m

    def _add_core(self, m: Module, x: int, y: int) -> tuple[Any, Any]:
        """Add core (x, y) to `m`: the flat array's submodule, or an instance of the core's
        black box on this array's ports. Returns its `net_out` and `net_in` streams."""
        if self.hierarchy is None:
            core = self.cores[y][x]
            m.submodules[f"core_{x}_{y}"] = core
            return core.net_out, core.net_in
        flits = flit_stream(self.config.core.lanes)
        net_out = flits.create(path=(f"core_{x}_{y}_net_out",))
        net_in = flits.create(path=(f"core_{x}_{y}_net_in",))
        m.submodules[f"core_{x}_{y}"] = self.core_box.instance(
            **{name: getattr(self, name)[y][x] for name in PER_CORE},
            net_out=net_out, net_in=net_in,
            coord_x=Const(x, noc.COORD_BITS), coord_y=Const(y, noc.COORD_BITS))
        return net_out, net_in
