"""A cycle-by-cycle, flit-level model of the array: the exact reference under contention.

`nfcore.sim.net.array` runs the same programs by the same rules in a compiled loop
(`nfcore.sim.net.kernel`, which skips the cycles in which nothing can move; equal to this
model on every scenario and random traffic tested, `tests/sim/test_net_worm.py`). This
model, in plain Python, steps every cycle and moves every flit by those rules
(`nfcore.hdl.router`'s docstring), so that its cycles equal the RTL's with contention too
(`tests/sim/test_array_agreement.py`):

* each router input has a FIFO of `noc.ROUTER_FIFO_DEPTH` flits whose `ready` is "not full"
  at the start of the cycle (a pop in the same cycle does not make room);
* each output has a one-flit register; in a cycle in which it is empty or its flit is taken
  downstream, it takes the head flit of the input that holds it (wormhole lock) or, when
  unlocked, grants the first input whose head is a header routed to it, round robin from the
  input after the one it granted last (reset: WEST, so LOCAL first); the lock ends with the
  flit that has `last`;
* a core's SEND offers its header two cycles after the SEND's fetch (FETCH, DECODE), one
  flit per cycle while its router's LOCAL FIFO has room, and fetches the next instruction in
  the cycle after its last flit is taken; a RECV is ready from the same point and takes one
  flit per cycle from its router's LOCAL output register. Every other instruction takes its
  `isa.cycles` (the one timing contract); data go through `nfcore.golden.core.CoreState`, so
  scratchpads are bit-exact with the golden model.

Cores in `gated` start `cfg.power.wake_up_cycles` late (`nfcore.hdl.power`). Packets for
the host (router (0, 0)'s NORTH port) are taken at once and returned. The cost is a Python
step per cycle and per port, so this is for scenarios of thousands of cycles, not for `make
sim` workloads.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from nfcore.arch import isa, noc
from nfcore.arch.isa import Instruction, Opcode
from nfcore.arch.noc import Port
from nfcore.config import NFCoreConfig
from nfcore.errors import ExecutionError
from nfcore.golden.core import MAX_STEPS, CoreState
from nfcore.sim.net.array import core_state_cycles

Coord = tuple[int, int]
PORTS = tuple(Port)
# Output port -> (dx, dy) of the neighbour and the input port it enters there.
_NEIGHBOUR = {Port.EAST: ((1, 0), Port.WEST), Port.WEST: ((-1, 0), Port.EAST),
              Port.SOUTH: ((0, 1), Port.NORTH), Port.NORTH: ((0, -1), Port.SOUTH)}


@dataclass(frozen=True)
class _Flit:
    packet: int
    index: int
    """0 = header, then payload words."""
    last: bool


@dataclass
class _Router:
    fifos: dict[Port, deque[_Flit]] = field(
        default_factory=lambda: {p: deque() for p in PORTS})
    between: dict[Port, bool] = field(default_factory=lambda: dict.fromkeys(PORTS, True))
    out: dict[Port, _Flit | None] = field(default_factory=lambda: dict.fromkeys(PORTS))
    lock: dict[Port, Port | None] = field(default_factory=lambda: dict.fromkeys(PORTS))
    ptr: dict[Port, int] = field(default_factory=lambda: dict.fromkeys(PORTS, int(Port.WEST)))


@dataclass
class _Core:
    state: CoreState
    next_fetch: int
    instr: Instruction | None = None
    phase: str = "run"  # run (next_fetch), send, recv, halted
    ready_at: int = 0  # first cycle of the send/recv phase
    sent: int = 0  # SEND: flits taken; RECV: flits taken
    packet: int = -1
    header: dict[str, int] = field(default_factory=dict)
    words: list[npt.NDArray[np.uint8]] = field(default_factory=list)
    steps: int = 0


@dataclass
class FlitArrayResult:
    cycles: dict[Coord, int]
    """Each core's cycles from its RUN to its HALT (as `last_run_cycles` counts them)."""
    host_packets: list[tuple[dict[str, int], npt.NDArray[np.uint8]]]
    """Packets delivered to the host port, in order (header fields, payload words)."""
    gated: frozenset[Coord] = frozenset()

    def state_cycles(self, cfg: NFCoreConfig, window_cycles: int, lead_cycles: int = 0
                     ) -> dict[Coord, dict[str, int]]:
        """Each core's power counters over a window around the run
        (`nfcore.sim.net.array.core_state_cycles`)."""
        return core_state_cycles(cfg, self.cycles, self.gated, window_cycles, lead_cycles)


def run_array_flits(cfg: NFCoreConfig, cores: Mapping[Coord, CoreState],
                    gated: Collection[Coord] = (), max_cycles: int = 1_000_000,
                    max_steps: int = MAX_STEPS) -> FlitArrayResult:
    """Run the loaded programs of `cores` (keyed by (x, y) on `cfg.mesh`; RUN presented to
    all in cycle 0) until every core HALTs; the states are updated in place.

    Raises ExecutionError on a packet to a coordinate outside the mesh, a RECV whose packet
    has another tag or length, a deadlock (no HALT within `max_cycles`), or packets left in
    the network."""
    strangers = sorted(set(gated) - set(cores))
    if strangers:
        raise ExecutionError(f"gated cores {strangers} are not among the cores run")
    array = _FlitArray(cfg, cores, frozenset(gated), max_steps)
    for t in range(1, max_cycles + 1):
        array.fetch(t)
        if len(array.cycles) == len(array.run):
            break
        array.move_flits(t)
    else:
        running = sorted(set(array.run) - set(array.cycles))
        raise ExecutionError(f"deadlock: cores {running} did not halt in {max_cycles} cycles")
    left = sum(len(f) for r in array.routers.values() for f in r.fifos.values()) + sum(
        o is not None for r in array.routers.values() for o in r.out.values())
    if left:
        raise ExecutionError(f"{left} flits were never received")
    return FlitArrayResult(array.cycles, array.host, frozenset(gated))


_Push = tuple[Coord, Port, _Flit]
"""A flit entering (or leaving) the FIFO (output register) `Port` of router `Coord`."""


class _FlitArray:
    """The routers and cores of one `run_array_flits` call, stepped a cycle at a time: the
    cores fetch and decide (`fetch`), then the network moves flits (`move_flits`)."""

    def __init__(self, cfg: NFCoreConfig, cores: Mapping[Coord, CoreState],
                 gated: frozenset[Coord], max_steps: int) -> None:
        wake = cfg.power.wake_up_cycles
        self.lanes, self.max_steps = cfg.core.lanes, max_steps
        self.routers = {(x, y): _Router() for y in range(cfg.mesh.rows)
                        for x in range(cfg.mesh.cols)}
        self.run = {c: _Core(s, 1 + (wake if c in gated else 0)) for c, s in cores.items()}
        self.offset = {c: (wake if c in gated else 0) for c in cores}
        for core in self.run.values():
            core.state.start()
        self.packets: dict[int, tuple[dict[str, int], npt.NDArray[np.uint8]]] = {}
        self.host: list[tuple[dict[str, int], npt.NDArray[np.uint8]]] = []
        self.cycles: dict[Coord, int] = {}

    # -- cores ---------------------------------------------------------------------------
    def fetch(self, t: int) -> None:
        """Every core whose next fetch is in cycle `t` fetches and decides (SEND/RECV
        phases act in the network step)."""
        for coord, core in self.run.items():
            if core.phase == "run" and core.next_fetch == t:
                self._fetch(coord, core, t)

    def _fetch(self, coord: Coord, core: _Core, t: int) -> None:
        core.steps += 1
        if core.steps > self.max_steps:
            raise ExecutionError(f"core {coord} did not halt within {self.max_steps} "
                                 "instructions")
        instr = core.state.fetch()
        core.instr = instr
        if instr.op is Opcode.HALT:
            self.cycles[coord] = t + isa.cycles(instr, self.lanes) - 1 - self.offset[coord]
            core.phase = "halted"
        elif instr.op is Opcode.SEND:
            dest = (instr.dest_x, instr.dest_y)
            if dest not in self.run:
                raise ExecutionError(f"core {coord} sends to {dest}, which has no core")
            header = noc.decode_header(noc.encode_header(
                dest_x=dest[0], dest_y=dest[1], src_x=coord[0], src_y=coord[1],
                length=instr.n, tag=instr.tag))
            core.packet = len(self.packets)
            self.packets[core.packet] = (header, core.state.send_payload(instr))
            core.phase, core.ready_at, core.sent = "send", t + isa.ISSUE_CYCLES, 0
        elif instr.op is Opcode.RECV:
            core.phase, core.ready_at, core.sent = "recv", t + isa.ISSUE_CYCLES, 0
            core.words = []
        else:
            core.state.execute(instr)
            core.next_fetch = t + isa.cycles(instr, self.lanes)

    # -- network -------------------------------------------------------------------------
    def move_flits(self, t: int) -> None:
        """One cycle of the network: every decision reads the state at the start of the
        cycle, then every move is applied."""
        ejected: list[_Push] = []
        pops: list[tuple[Coord, Port]] = []
        new_out: dict[tuple[Coord, Port], _Flit | None] = {}
        for coord, r in self.routers.items():
            for port in PORTS:
                flit = r.out[port]
                leaving = flit is not None and _ready(self.routers, self.run, coord, port, t)
                if leaving:
                    assert flit is not None
                    ejected.append((coord, port, flit))
                if flit is None or leaving:
                    new_out[coord, port] = self._next_out(coord, r, port, pops)
        pushes = self._hand_on(ejected, t) + self._inject(t)
        for coord, src in pops:
            r = self.routers[coord]
            r.between[src] = r.fifos[src].popleft().last
        for (coord, port), flit in new_out.items():
            self.routers[coord].out[port] = flit
        for coord, port, flit in pushes:
            if coord not in self.routers:
                raise ExecutionError(f"a packet left the mesh at {coord}")
            self.routers[coord].fifos[port].append(flit)

    def _next_out(self, coord: Coord, r: _Router, port: Port,
                  pops: list[tuple[Coord, Port]]) -> _Flit | None:
        """The flit output `port` of router `coord` takes this cycle (its register is empty
        or being emptied): the next flit of the input that holds its lock or, when unlocked,
        the header the round robin grants; the input popped is added to `pops`."""
        holder = r.lock[port]
        if holder is not None:
            if not r.fifos[holder]:
                return None
            moved = r.fifos[holder][0]
            pops.append((coord, holder))
            if moved.last:
                r.lock[port] = None
            return moved
        for k in range(1, len(PORTS) + 1):
            src = Port((r.ptr[port] + k) % len(PORTS))
            fifo = r.fifos[src]
            if not (fifo and r.between[src] and fifo[0].index == 0):
                continue
            dest = noc.header_dest(self.packets[fifo[0].packet][0])
            if noc.route(coord[0], coord[1], dest[0], dest[1]) is not port:
                continue
            r.ptr[port] = int(src)
            pops.append((coord, src))
            if not fifo[0].last:
                r.lock[port] = src
            return fifo[0]
        return None

    def _hand_on(self, ejected: list[_Push], t: int) -> list[_Push]:
        """Flits leaving output registers: taken by a RECV (LOCAL), by the host (router
        (0, 0)'s NORTH), or pushed into the neighbour's input FIFO (returned)."""
        pushes = []
        for coord, port, flit in ejected:
            if port is Port.LOCAL:
                _take(self.run[coord], flit, self.packets, t)
            elif coord == (0, 0) and port is Port.NORTH:
                if flit.last:
                    self.host.append(self.packets[flit.packet])
            else:
                (dx, dy), back = _NEIGHBOUR[port]
                pushes.append(((coord[0] + dx, coord[1] + dy), back, flit))
        return pushes

    def _inject(self, t: int) -> list[_Push]:
        """A flit of every SEND that is ready and whose router's LOCAL FIFO has room."""
        pushes = []
        for coord, core in self.run.items():
            if core.phase == "send" and t >= core.ready_at and \
                    len(self.routers[coord].fifos[Port.LOCAL]) < noc.ROUTER_FIFO_DEPTH:
                n = len(self.packets[core.packet][1])
                flit = _Flit(core.packet, core.sent, core.sent == n)
                pushes.append((coord, Port.LOCAL, flit))
                core.sent += 1
                if flit.last:
                    core.phase, core.next_fetch = "run", t + 1
        return pushes


def _ready(routers: Mapping[Coord, _Router], run: Mapping[Coord, _Core], coord: Coord,
           port: Port, t: int) -> bool:
    """Whether what output `port` of router `coord` feeds takes a flit in cycle `t` (from
    the state at the start of the cycle)."""
    if port is Port.LOCAL:
        core = run.get(coord)
        return core is not None and core.phase == "recv" and t >= core.ready_at
    if coord == (0, 0) and port is Port.NORTH:
        return True  # the host takes every flit
    (dx, dy), back = _NEIGHBOUR[port]
    there = routers[coord[0] + dx, coord[1] + dy]
    return len(there.fifos[back]) < noc.ROUTER_FIFO_DEPTH


def _take(core: _Core, flit: _Flit, packets: Mapping[int, tuple[dict[str, int],
          npt.NDArray[np.uint8]]], t: int) -> None:
    """A RECV takes `flit` in cycle `t`; the last payload word completes the instruction."""
    header, payload = packets[flit.packet]
    instr = core.instr
    assert instr is not None
    if flit.index == 0:
        core.header = header
    else:
        core.words.append(payload[flit.index - 1])
    core.sent += 1
    if core.sent == instr.n + isa.HEADER_FLITS:
        core.state.receive(instr, core.header, np.array(core.words, dtype=np.uint8))
        core.phase, core.next_fetch = "run", t + 1
