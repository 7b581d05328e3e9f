"""An array of cores that run SEND/RECV programs over the mesh, with the host port.

`run_array_model` runs each core's RUNs, flit by flit by the router RTL's rules, in the
compiled loop of `nfcore.sim.net.kernel` (the rules of `nfcore.sim.net.flit`, the per-cycle
reference equal to the RTL, without its Python step per cycle): an instruction takes its
`isa.cycles` (the one timing contract); a SEND ready in cycle t (its fetch, then
`isa.ISSUE_CYCLES`) pushes its flits from t and ends in the cycle after its last push; a RECV
ready in cycle r takes the packet its router's ejection port offers in max(r, offer) and ends
in the cycle after its tail. With no contention this is the golden array's timing; with
contention it equals `nfcore.sim.net.flit` and the RTL (`tests/sim/test_array_agreement.py`).

A program's control flow does not depend on data (`isa.executed_instructions`), so the
timing runs first, on each program's steps (`TimedProgram`), and the values after: every
loaded core (`nfcore.golden.core.CoreState`) then runs its instructions again, its SENDs and
RECVs in the order the timing found, so results are bit-exact with `nfcore.golden.array`.

The host port takes part as `nfcore.golden.array` describes: `run_array_model` injects its
`HostPacket`s (one packet after the other through router (0, 0)'s host input, each pushed
from its cycle, or from the cycle after its core took a given RUN, with backpressure, as a
SEND pushes) and takes every flit of a SEND with `to_host` when it is offered. A core may be
RUN several times (`runs`): a RUN presented in cycle t to a core is taken in the first cycle
from t in which the core is idle (the cycle after its last program's `done`,
`nfcore.hdl.core.sequencer`), and the program starts again at its first instruction in the
next cycle. A RUN may also wait for the host's decision on another core's result (the
on-chip router's scores, `nfcore.sim.net.dispatch`): it is presented only
`host.decision_cycles` after the host took that result's tail.

`core_state_cycles` gives each core's cycles in each power state over a window around the
run, as the array's counters (`nfcore.hdl.power`) count them, for the leakage accounting
(`nfcore.sim.cost.system_energy.leakage_pj_from_state_cycles`).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property

import numpy as np
import numpy.typing as npt

from nfcore.arch import isa, noc
from nfcore.arch.isa import Instruction, Opcode
from nfcore.config import NFCoreConfig
from nfcore.errors import ExecutionError
from nfcore.golden.array import HostPacket
from nfcore.golden.core import MAX_STEPS, CoreState
from nfcore.sim.net import kernel
from nfcore.sim.net.topology import Network

Coord = tuple[int, int]
Ints = npt.NDArray[np.int64]


POWER_COUNTERS = ("gated_cycles", "idle_cycles", "active_cycles", "wakes")
"""Per-core power counters, named as the array RTL's (`nfcore.hdl.power.COUNTERS`)."""


def core_state_cycles(cfg: NFCoreConfig, cycles: Mapping[Coord, int],
                      gated: Collection[Coord], window_cycles: int, lead_cycles: int = 0
                      ) -> dict[Coord, dict[str, int]]:
    """Each core's `POWER_COUNTERS` over a window of `window_cycles` cycles whose
    `lead_cycles`-th cycle (0-based) is the one in which RUN is presented to every core,
    given each core's run `cycles` (RUN to HALT) and the cores `gated` before RUN.

    By `nfcore.hdl.power`, with W = `cfg.power.wake_up_cycles`: an awake core is idle in the
    RUN cycle, active for its `cycles`, idle otherwise. A gated core is gated from the
    window's start through the RUN cycle (if W > 0), then active while waking (W - 1
    cycles), idle in the cycle it takes RUN, active for its `cycles`, idle after; it counts
    one wake. Every cycle of the window counts in exactly one of the three cycle counters.

    Raises ExecutionError if a run does not fit in the window."""
    wake = cfg.power.wake_up_cycles
    out = {}
    for coord, run in cycles.items():
        asleep = coord in gated
        gated_cycles = lead_cycles + min(wake, 1) if asleep else 0
        active = run + (max(wake - 1, 0) if asleep else 0)
        end = lead_cycles + 1 + (wake if asleep else 0) + run
        if end > window_cycles:
            raise ExecutionError(f"core {coord}: its run ends in cycle {end} of a window of "
                                 f"{window_cycles} cycles")
        out[coord] = {"gated_cycles": gated_cycles,
                      "idle_cycles": window_cycles - gated_cycles - active,
                      "active_cycles": active, "wakes": int(asleep)}
    return out


@dataclass(frozen=True)
class TimedProgram:
    """A program's timing alone, for a run that needs cycles but not values: the
    instructions it executes (`isa.executed_instructions`) as steps, each a run of local
    instructions (`op` None, their contract cycles summed) or one SEND, RECV or HALT.
    SENDs carry zero payloads; nothing is computed."""

    steps: tuple[tuple[int, Instruction | None], ...]
    """(cycles, instruction): cycles of a run of local instructions, or `isa.cycles` of a
    SEND, RECV or HALT."""

    @staticmethod
    def of(program: Sequence[Instruction], lanes: int) -> TimedProgram:
        return TimedProgram.of_executed(isa.executed_instructions(program), lanes)

    @staticmethod
    def of_executed(executed: Sequence[Instruction], lanes: int) -> TimedProgram:
        """The timing of the instructions a run executes, in order (the last one a HALT)."""
        steps: list[tuple[int, Instruction | None]] = []
        run = 0
        for instr in executed:
            cycles = isa.cycles(instr, lanes)
            if instr.op in (Opcode.SEND, Opcode.RECV, Opcode.HALT):
                if run:
                    steps.append((run, None))
                steps.append((cycles, instr))
                run = 0
            else:
                run += cycles
        if not steps or steps[-1][1] is None or steps[-1][1].op is not Opcode.HALT:
            raise ExecutionError("a timed program must end in HALT")
        return TimedProgram(tuple(steps))


Program = CoreState | TimedProgram
"""What a core runs: a loaded golden core (values and cycles) or a program's timing."""


@dataclass(frozen=True)
class HostDelivery:
    """A packet a core sent to the host, as the host port took it."""

    src: Coord
    tag: int
    payload: npt.NDArray[np.uint8]
    header_cycle: int
    """Cycle the host took its header."""
    tail_cycle: int
    """Cycle the host took its last flit."""


@dataclass(frozen=True)
class Traffic:
    """Every packet of a run: source and destination endpoints (numbered as `Network`'s:
    core y * cols + x, then the host) and flits."""

    cfg: NFCoreConfig
    src: Ints
    dst: Ints
    flits: Ints


@dataclass
class ArrayModelResult:
    cycles: dict[Coord, int]
    """Each core's cycles from RUN to its HALT (as `last_run_cycles` counts them); of its
    last run if it ran several times."""
    send_stall_cycles: dict[Coord, int]
    """Cycles each core's SENDs waited for the network."""
    recv_wait_cycles: dict[Coord, int]
    """Cycles each core's RECVs waited for a header."""
    traffic: Traffic
    gated: frozenset[Coord] = frozenset()
    runs: dict[Coord, list[tuple[int, int]]] = field(default_factory=dict)
    """Per core, (cycle RUN was taken, cycle of `done`) of each run, in order."""
    host_out: list[HostDelivery] = field(default_factory=list)
    """The packets sent to the host, in the order their tails reached it."""
    host_packets: int = 0
    """Packets to and from the host port."""
    host_packets_waited: int = 0
    """Of those, the packets whose header reached its destination later than
    `noc.header_latency_cycles` after its sender could first push it (the host port busy,
    links taken, or its core not yet in its RECV)."""

    def state_cycles(self, cfg: NFCoreConfig, window_cycles: int, lead_cycles: int = 0
                     ) -> dict[Coord, dict[str, int]]:
        """`core_state_cycles` of this run."""
        return core_state_cycles(cfg, self.cycles, self.gated, window_cycles, lead_cycles)

    @cached_property
    def network(self) -> Network:
        """The run's packets counted on the mesh (packets, hops, flit-hops, per router)."""
        net = Network(self.traffic.cfg)
        for src, dst, flits in zip(self.traffic.src.tolist(), self.traffic.dst.tolist(),
                                   self.traffic.flits.tolist(), strict=True):
            net.count(src, dst, flits)
        return net



def run_array_model(cfg: NFCoreConfig, cores: Mapping[Coord, CoreState],
                    max_steps: int = MAX_STEPS, gated: Collection[Coord] = (),
                    host_in: Sequence[HostPacket] = (),
                    runs: Mapping[Coord, Sequence[int | tuple[int, TimedProgram]]] | None = None,
                    host_after_run: Sequence[int | None] | None = None,
                    run_after_result: Mapping[tuple[Coord, int], tuple[Coord, int]] | None = None,
                    woken: Collection[tuple[Coord, int]] = ()) -> ArrayModelResult:
    """Run the loaded programs of `cores` (keyed by (x, y) on `cfg.mesh`), all started in the
    same cycle, until every core HALTs. The states are updated in place.

    With `runs`, core c is presented RUN in each cycle of `runs[c]` (in order; a core not
    in it is not run) instead of once in cycle 0; an entry (cycle, `TimedProgram`) runs that
    program's timing instead of the core's loaded program (a core serving several trees).
    The host port injects the packets `host_in` one after the other, each from its `cycle`
    and, if `host_after_run[i]` is k, from the cycle after its destination core took its
    k-th RUN (0-based; the host sees the `cmd` handshake); when it is free it takes the
    packet that became eligible first (ties: the order of `host_in`). With
    `run_after_result`, core c's k-th RUN keyed (c, k) -> (src, j) is presented no earlier
    than `cfg.host.decision_cycles` after the host took the tail of the j-th result packet
    (0-based) core src sent it: the host's decision on what it read (a core whose next RUN
    waits so does not take it, and the host packet waiting for that RUN follows).

    The cores in `gated` are power-gated when RUN comes: they start `cfg.power.wake_up_cycles`
    later (the wake-up latency of `nfcore.hdl.power`); their `cycles` count from their own
    start, as `last_run_cycles` does. Likewise core c's k-th RUN for each (c, k) in `woken`
    (the host gated the core before it): it is taken `wake_up_cycles` after it is presented
    (and released by its result, if it waits for one) or after the core is free.

    Raises ExecutionError on a deadlock, a packet to a coordinate without a core, a host
    packet waiting for a RUN that is not given (or that another packet waits for), a RUN
    waiting for a result that is not sent, a RECV
    whose packet has another tag or length, or packets never received."""
    strangers = sorted(set(gated) - set(cores))
    if strangers:
        raise ExecutionError(f"gated cores {strangers} are not among the cores run")
    schedule: dict[Coord, list[tuple[int, Program]]] = {}
    for c in cores:
        given = runs.get(c, ()) if runs is not None else (0,)
        schedule[c] = [r if isinstance(r, tuple) else (r, cores[c]) for r in given]
    gates: list[int | None] = list(host_after_run) if host_after_run is not None else \
        [None] * len(host_in)
    if len(gates) != len(host_in):
        raise ExecutionError(f"{len(gates)} host_after_run entries for {len(host_in)} packets")
    for hp in host_in:
        if hp.dest not in cores:
            raise ExecutionError(f"the host sends to {hp.dest}, which has no core")
    return _ArrayRun(cfg, schedule, frozenset(gated), max_steps, host_in, gates,
                     run_after_result or {}, frozenset(woken)).result()


@cache
def _mesh_tables(rows: int, cols: int) -> tuple[Ints, Ints, Ints]:
    """`kernel.run`'s `route` (to every router and the host, node rows * cols) and
    `neighbour` tables of a rows x cols mesh, from `noc.route`; and each router's
    `noc.header_latency_cycles` to and from the host (columns 0 and 1)."""
    n = rows * cols
    route = np.zeros((n, n + 1), np.int64)
    neighbour = np.full((n, len(noc.Port)), -1, np.int64)
    host_latency = np.zeros((n, 2), np.int64)
    step = {noc.Port.EAST: (1, 0), noc.Port.WEST: (-1, 0), noc.Port.SOUTH: (0, 1),
            noc.Port.NORTH: (0, -1)}
    for r in range(n):
        x, y = r % cols, r // cols
        for d in range(n + 1):
            dx, dy = noc.HOST if d == n else (d % cols, d // cols)
            route[r, d] = int(noc.route(x, y, dx, dy))
        for port, (sx, sy) in step.items():
            if 0 <= x + sx < cols and 0 <= y + sy < rows:
                neighbour[r, int(port)] = (y + sy) * cols + x + sx
        host_latency[r] = (noc.header_latency_cycles((x, y), noc.HOST),
                           noc.header_latency_cycles(noc.HOST, (x, y)))
    return route, neighbour, host_latency


_KIND = {Opcode.SEND: kernel.SEND, Opcode.RECV: kernel.RECV, Opcode.HALT: kernel.HALT}


class _ArrayRun:
    """One `run_array_model` call: the programs as the kernel's arrays (a program's steps
    once, however often it runs), the kernel's run, then the values (`_replay`) and the
    result."""

    def __init__(self, cfg: NFCoreConfig, schedule: dict[Coord, list[tuple[int, Program]]],
                 gated: frozenset[Coord], max_steps: int, host_in: Sequence[HostPacket],
                 gates: list[int | None],
                 run_gates: Mapping[tuple[Coord, int], tuple[Coord, int]],
                 woken: frozenset[tuple[Coord, int]]) -> None:
        self.cfg, self.schedule, self.gated, self.host_in = cfg, schedule, gated, host_in
        self.lanes, self.cols = cfg.core.lanes, cfg.mesh.cols
        self.host = cfg.mesh.rows * cfg.mesh.cols
        self.coords = list(schedule)
        net = Network(cfg)
        nodes = [net.core(c) for c in self.coords]  # refuses a core off the mesh
        self.steps: list[Instruction | None] = []
        """The kernel's steps: SEND, RECV and HALT instructions, None for a local run."""
        self.tags: list[int] = []
        """Each step's tag (a SEND's; 0 for others)."""
        kinds: list[int] = []
        cycles: list[int] = []
        dests: list[int] = []
        flits: list[int] = []
        # id(program) -> (first step, SENDs, SENDs to the host)
        first: dict[int, tuple[int, int, int]] = {}
        keep: list[Program] = []  # the programs whose ids `first` holds
        run_start = [0]
        presented: list[int] = []
        run_step: list[int] = []
        run_results: list[int] = []  # each run's SENDs to the host
        sends = 0
        for coord in self.coords:
            for cycle, program in schedule[coord]:
                known = first.get(id(program))
                if known is None:
                    known = first[id(program)] = (len(kinds), 0, 0)
                    keep.append(program)
                    for n, instr in self._timed(coord, program, max_steps).steps:
                        self.steps.append(instr)
                        cycles.append(n)
                        if instr is None:
                            kinds.append(kernel.LOCAL)
                            dests.append(-1)
                            flits.append(0)
                            self.tags.append(0)
                            continue
                        kinds.append(_KIND[instr.op])
                        send = instr.op is Opcode.SEND
                        dests.append(self._dest(coord, instr) if send else -1)
                        flits.append(isa.HEADER_FLITS + instr.n if send else 0)
                        self.tags.append(instr.tag if send else 0)
                        known = (known[0], known[1] + send,
                                 known[2] + (send and bool(instr.to_host)))
                    first[id(program)] = known
                presented.append(cycle)
                run_step.append(known[0])
                run_results.append(known[2])
                sends += known[1]
            run_start.append(len(presented))
        self.run_start = run_start
        run_host = [-1] * len(presented)
        index = {c: i for i, c in enumerate(self.coords)}
        for i, (hp, g) in enumerate(zip(host_in, gates, strict=True)):
            if g is None:
                continue
            c = index[hp.dest]
            if g >= run_start[c + 1] - run_start[c]:
                raise ExecutionError(f"host packet {i} waits for RUN {g} of core {hp.dest}, "
                                     f"which is RUN {run_start[c + 1] - run_start[c]} times")
            j = run_start[c] + g
            if run_host[j] >= 0:
                raise ExecutionError(f"host packets {run_host[j]} and {i} wait for the same "
                                     f"RUN {g} of core {hp.dest}")
            run_host[j] = i
        run_wait, run_result = self._result_gates(run_gates, run_results)
        wake = cfg.power.wake_up_cycles
        run_delay = [0] * len(presented)
        for coord in gated:
            run_delay[run_start[index[coord]]] = wake
        for coord, k in woken:
            c = index.get(coord, -1)
            if c < 0 or not 0 <= k < run_start[c + 1] - run_start[c]:
                raise ExecutionError(f"RUN {k} of core {coord} is woken, but that core has no "
                                     "such RUN")
            run_delay[run_start[c] + k] = wake

        def ints(values: Sequence[int]) -> Ints:
            return np.asarray(values, dtype=np.int64)

        route, neighbour, self.host_latency = _mesh_tables(cfg.mesh.rows, cfg.mesh.cols)
        out = kernel.run(
            noc.ROUTER_FIFO_DEPTH, isa.ISSUE_CYCLES, route, neighbour,
            net.core(noc.HOST_ROUTER), int(noc.HOST_PORT),
            ints(kinds), ints(cycles), ints(dests), ints(flits),
            ints(nodes), ints(run_start), ints(presented), ints(run_step), ints(run_host),
            ints(run_delay),
            ints([net.core(hp.dest) for hp in host_in]),
            ints([isa.HEADER_FLITS + len(hp.payload) for hp in host_in]),
            ints([hp.cycle for hp in host_in]), ints(run_wait), ints(run_result),
            cfg.host.decision_cycles, len(host_in) + sends)
        (self.run_taken, self.run_done, self.stalls, self.waits, src, dst, flits_of, ready,
         sent, taken, tail, packet_step, n_packets, log, logged) = out
        n = int(n_packets)
        self.src, self.dst, self.flits = src[:n], dst[:n], flits_of[:n]
        self.ready, self.sent, self.taken, self.tail = ready[:n], sent[:n], taken[:n], tail[:n]
        self.packet_step = packet_step[:n]
        self.log = log[:logged]

    def _result_gates(self, run_gates: Mapping[tuple[Coord, int], tuple[Coord, int]],
                      run_results: Sequence[int]) -> tuple[list[int], list[int]]:
        """`kernel.run`'s `run_wait` and `run_result` for `run_after_result`: each RUN's
        index among all runs is the run whose result it waits for, and that run's index of
        its result packet (among its SENDs to the host) that releases it."""
        run_wait = [-1] * len(run_results)
        run_result = [-1] * len(run_results)
        index = {c: i for i, c in enumerate(self.coords)}
        start = self.run_start
        before: dict[int, list[int]] = {}  # per core, results sent before each of its runs
        for (coord, k), (src, j) in run_gates.items():
            if coord not in index or not 0 <= k < start[index[coord] + 1] - start[index[coord]]:
                raise ExecutionError(f"RUN {k} of core {coord} waits for a result, but that "
                                     "core has no such RUN")
            if src not in index:
                raise ExecutionError(f"RUN {k} of core {coord} waits for a result of {src}, "
                                     "which has no core")
            lo, hi = start[index[src]], start[index[src] + 1]
            if index[src] not in before:
                before[index[src]] = list(itertools.accumulate(run_results[lo:hi], initial=0))
            counts = before[index[src]]
            if not 0 <= j < counts[-1]:
                raise ExecutionError(f"RUN {k} of core {coord} waits for result {j} of core "
                                     f"{src}, which sends {counts[-1]}")
            run = bisect.bisect_right(counts, j) - 1
            g, left = lo + run, j - counts[run]
            if run_result[g] not in (-1, left):
                raise ExecutionError(f"two results of one run of core {src} release RUNs")
            run_wait[start[index[coord]] + k] = g
            run_result[g] = left
        return run_wait, run_result

    def _timed(self, coord: Coord, program: Program, max_steps: int) -> TimedProgram:
        """A program's steps: a loaded core's instructions as its run fetches them."""
        if isinstance(program, TimedProgram):
            return program
        program.start()
        executed = []
        for _ in range(max_steps):
            executed.append(program.fetch())
            if executed[-1].op is Opcode.HALT:
                return TimedProgram.of_executed(executed, self.lanes)
        raise ExecutionError(f"core {coord} did not halt within {max_steps} instructions")

    def _dest(self, coord: Coord, send: Instruction) -> int:
        if send.to_host:
            return self.host
        dest = (send.dest_x, send.dest_y)
        if dest not in self.schedule:
            raise ExecutionError(f"core {coord} sends to {dest}, which has no core")
        return dest[1] * self.cols + dest[0]

    # -- results -------------------------------------------------------------------------
    def _coord(self, node: int) -> Coord:
        return noc.HOST if node == self.host else (node % self.cols, node // self.cols)

    def _tag(self, packet: int) -> int:
        if packet < len(self.host_in):
            return self.host_in[packet].tag
        return self.tags[int(self.packet_step[packet])]

    def result(self) -> ArrayModelResult:
        coords = self.coords
        runs: dict[Coord, list[tuple[int, int]]] = {}
        cycles: dict[Coord, int] = {}
        unfinished = []
        taken_all, done_all = self.run_taken.tolist(), self.run_done.tolist()
        for c, coord in enumerate(coords):
            lo, hi = self.run_start[c], self.run_start[c + 1]
            done = [(taken_all[j], done_all[j]) for j in range(lo, hi) if done_all[j] >= 0]
            runs[coord] = done
            if done:
                cycles[coord] = done[-1][1] - done[-1][0]
            if len(done) < hi - lo:
                unfinished.append(coord)
        if unfinished:
            raise ExecutionError(f"deadlock: cores {sorted(unfinished)} never halted (a RECV "
                                 "waits for a packet never sent, or a SEND for its packet to "
                                 "be taken)")
        host, n_host = self.host, len(self.host_in)
        injected = np.arange(len(self.src)) >= n_host
        injected[:n_host] = self.sent[:n_host] >= 0
        lost = np.flatnonzero((self.dst != host) & (self.taken < 0) & injected)
        if len(lost):
            p = int(lost[0])
            raise ExecutionError(f"{len(lost)} packets were never received, e.g. tag "
                                 f"{self._tag(p)} from {self._coord(int(self.src[p]))} to "
                                 f"{self._coord(int(self.dst[p]))}")
        payloads = self._replay()
        # Packets to and from the host that waited: header taken later than the latency
        # without contention after the sender could first push it.
        to_host = self.dst == host
        from_host = (self.src == host) & injected
        latency = np.zeros(len(self.src), np.int64)
        latency[to_host] = self.host_latency[self.src[to_host], 0]
        latency[from_host] = self.host_latency[self.dst[from_host], 1]
        timed = to_host | from_host
        waited = int(np.count_nonzero(timed & (self.taken > self.ready + latency)))
        host_out = [HostDelivery(self._coord(src), self._tag(p), payloads[p], taken, tail)
                    for p, src, taken, tail in zip(
                        np.flatnonzero(to_host).tolist(), self.src[to_host].tolist(),
                        self.taken[to_host].tolist(), self.tail[to_host].tolist(), strict=True)]
        host_out.sort(key=lambda d: (d.tail_cycle, d.src[1], d.src[0]))
        return ArrayModelResult(
            cycles, dict(zip(coords, self.stalls.tolist(), strict=True)),
            dict(zip(coords, self.waits.tolist(), strict=True)),
            Traffic(self.cfg, self.src, self.dst, self.flits), self.gated, runs, host_out,
            int(np.count_nonzero(timed)), waited)

    def _replay(self) -> dict[int, npt.NDArray[np.uint8]]:
        """Run the loaded cores' instructions with their SENDs and RECVs in the order of the
        timing (`log`); every SEND's payload (zeros for a `TimedProgram`, read-only)."""
        payloads: dict[int, npt.NDArray[np.uint8]] = {}
        zeros: dict[int, npt.NDArray[np.uint8]] = {}
        for packet in np.flatnonzero(self.src != self.host).tolist():
            words = int(self.flits[packet]) - isa.HEADER_FLITS
            if words not in zeros:
                zeros[words] = np.zeros((words, self.lanes), np.uint8)
                zeros[words].flags.writeable = False
            payloads[packet] = zeros[words]
        cores = {c: self._values(coord) for c, coord in enumerate(self.coords)
                 if any(isinstance(p, CoreState) for _, p in self.schedule[coord])}
        if not cores:
            return payloads  # timing alone: nothing to compute
        for c, packet, s in self.log.tolist():
            if c not in cores:
                continue
            instr = self.steps[s]
            assert instr is not None
            state = next(cores[c])
            if instr.op is Opcode.SEND:
                if state is not None:
                    payloads[packet] = state.send_payload(instr)
            elif state is not None:
                payload = self.host_in[packet].payload if packet < len(self.host_in) \
                    else payloads[packet]
                state.receive(instr, self._header(packet), payload)
        for values in cores.values():
            for _ in values:
                raise AssertionError("a core fetched a SEND or RECV the timing did not run")
        return payloads

    def _header(self, packet: int) -> dict[str, int]:
        """The decoded header of `packet`, as its sender encodes it."""
        if packet < len(self.host_in):
            return self.host_in[packet].packet().header
        send = self.steps[int(self.packet_step[packet])]
        assert send is not None
        src = self._coord(int(self.src[packet]))
        to_host = bool(send.to_host)
        return noc.decode_header(noc.encode_header(
            dest_x=0 if to_host else send.dest_x, dest_y=0 if to_host else send.dest_y,
            src_x=src[0], src_y=src[1], length=send.n, tag=send.tag, to_host=int(to_host)))

    def _values(self, coord: Coord) -> Iterator[CoreState | None]:
        """Core `coord`'s runs: a loaded core's instructions executed up to each SEND and
        RECV, where it yields the state (None in a `TimedProgram`'s run)."""
        for _, program in self.schedule[coord]:
            if isinstance(program, TimedProgram):
                for _, instr in program.steps:
                    if instr is not None and instr.op in (Opcode.SEND, Opcode.RECV):
                        yield None
                continue
            program.start()
            while (instr := program.fetch()).op is not Opcode.HALT:
                if instr.op in (Opcode.SEND, Opcode.RECV):
                    yield program
                else:
                    program.execute(instr)
