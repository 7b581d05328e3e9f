"""The whole chip serving a stream of requests: the host's plan, run on the exact model.

Requests are served as the chip serves them (`nfcore.sim.net.dispatch`): for each request, in
arrival order, and each tree it selects, the host presents RUN to the tree's core (every
core of a split tree's chain) over its `cmd` bus, and once the core has taken it sends the
input packet through the host port; the tree's program RECVs it, runs, and SENDs its
result to the host (`PlacedTree.served_programs`: the programs of
`nfcore.compiler.lower.host_io`, as timing). A request is done in the cycle the host takes
the tail of its last result. The cycles come from `nfcore.sim.net.array.run_array_model`
on `nfcore.sim.net.worm` (the router RTL's rules: a packet for a core not yet in its RECV
waits in the network, holding its links), the model the RTL array equals cycle for cycle
(`tests/sim/test_array_agreement.py`, `sim_tests/test_host_replay_rtl.py`).

With an on-chip router (`SystemWorkload.router`) every request calls it first
(`HostRequest.router`): its trees' RUNs (and their paging) are presented only
`host.decision_cycles` after the host took the tail of the router's result, and the
request's latency runs to its last tree's result. All of the router's energy (its events,
packets, leakage and wake-ups) is booked to the request's `router` component.

Around that the host does what the array leaves to it (`_Chip._plan`), per RUN of a core
(a *visit*):

* Power states: a core is active from the cycle it starts a visit (waking, paging or
  running) to the cycle after its program's `done`, idle after, gated once idle for
  `power.gate_after_idle_cycles` (the host SLEEPs it). A visit whose RUN is presented to a
  gated core starts `power.wake_up_cycles` later (the RTL's wake-up contract) and pays one
  wake-up energy; if `power.gated_retains_sram` is false, gating loses the core's weights.
  All cores start idle at cycle 0 with their resident trees loaded; a core keeps one paged
  tree (the last loaded) besides its resident ones.
* Paging: a visit whose tree is not on its core first pages its weights from DRAM
  (`nfcore.sim.system.paging.page_core`: request packets to the DRAM port, the channel's
  queueing, weight packets back, by the one paging formula of `dram.page_timeline`), from
  the cycle the core is free, and only then takes the tree's RUN. In the exact run this is
  a RUN of a program of that many local cycles before the tree's RUN (`_prep_program`), so
  the core is busy and the input packet is not sent until the weights are in. The paging
  packets are counted in the traffic and energy but do not take part in the exact
  network (an assumption: the mesh is taken as free for them).

Whether a visit finds its core gated and when its paging starts depend on when the core's
previous visit ended, which the exact run gives. The plan is therefore made from the
previous run's cycles (the first from the programs' cycles with no waits) and run again
until it does not change, at most `MAX_PLAN_PASSES` times (`SystemResult.plan` says how
many and whether it converged); what is reported is the last exact run of a plan.

Energy of a request is its trees' events (programs and the host I/O of inputs and
outputs), its packets (inputs, results, a split tree's packets, paging's), its DRAM bytes,
the wake-ups it caused, and the leakage of its cores over the cycles it held them
(`EnergyTally`, `ByteTally`). Leakage of idle and gated silicon is a run-level figure
(`SystemResult.idle_leakage_pj`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from nfcore.arch import isa
from nfcore.config import NFCoreConfig
from nfcore.golden.core import CoreState
from nfcore.sim.core import SimError
from nfcore.sim.cost.energy import EnergyTable
from nfcore.sim.cost.events import component_energy_pj, host_io_events
from nfcore.sim.cost.system_energy import SYSTEM_COMPONENTS, SystemEnergies
from nfcore.sim.cost.system_energy import leakage_pj_from_state_cycles as _leakage_pj
from nfcore.sim.net.array import ArrayModelResult, TimedProgram, run_array_model
from nfcore.sim.net.dispatch import HostRequest, RequestOutcome, TreeCall, collect, dispatch
from nfcore.sim.net.topology import Network
from nfcore.sim.system.dram import DramChannel
from nfcore.sim.system.paging import Paging, page_core
from nfcore.sim.system.workload import PlacedTree, SystemWorkload

Coord = tuple[int, int]

BYTE_KINDS = ("weight_sram", "activations", "flit_hops", "dram")
"""Kinds of bytes moved a record counts: weight SRAM bytes read and written, scratchpad bytes
read and written, flit-hops (flits times hops, not bytes), DRAM bytes read."""

MAX_PLAN_PASSES = 4
"""Exact runs at most per simulation while the host's plan changes (an assumption: enough
in every run measured; `SystemResult.plan` reports it)."""


@dataclass
class SystemRecord:
    """One request. Cycles are absolute simulated cycles; energy in pJ by component."""

    request_id: int
    trees: tuple[int, ...]
    arrival_cycle: int
    end_cycle: int
    latency_cycles: int
    latency_s: float
    energy_pj: dict[str, float]
    cores_woken: int
    bytes_moved: dict[str, int]
    weight_bytes_touched: int
    """Weight bytes of the trees it ran: what a weight-stationary chip must read."""
    dram_queue_cycles: int

    @property
    def energy_pj_total(self) -> float:
        return float(sum(self.energy_pj.values()))

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "trees": list(self.trees),
                "energy_pj_total": self.energy_pj_total}


@dataclass
class SystemResult:
    """Per-request records and run-level statistics of one system simulation."""

    records: list[SystemRecord]
    span_cycles: int
    """From cycle 0 (chip powered, idle, resident weights loaded) to the last request's
    end."""
    throughput_rps: float
    core_busy_cycles: npt.NDArray[np.int64]
    """(rows, cols): cycles each core was active over the span."""
    router_flits: npt.NDArray[np.int64]
    """(rows, cols): flits through each router."""
    busy_intervals: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]
    """Starts and ends of every active interval of every core."""
    n_cores: int
    power_cycles: dict[str, int]
    """Core-cycles over the span in each state, summed over cores: active (waking, loading
    or running), idle, gated, and off (cores with no tree)."""
    wakes: int
    idle_leakage_pj: float
    """Leakage of idle and gated cores over the span (not in any record)."""
    network: dict[str, int]
    """Traffic of the run (`network_stats`)."""
    dram: dict[str, float]
    energies: SystemEnergies
    clock_hz: float
    plan: dict[str, int]
    """How the host's plan was reached (`_Chip.run`): `passes` (exact runs made),
    `converged` (1 if the last plan equals the one its run implies, else 0)."""

    @property
    def utilization(self) -> npt.NDArray[np.float64]:
        return self.core_busy_cycles / self.span_cycles if self.span_cycles else \
            np.zeros_like(self.core_busy_cycles, dtype=float)

    @property
    def idle_silicon_fraction(self) -> float:
        """Share of core-cycles over the span in which a core was not active."""
        total = self.n_cores * self.span_cycles
        return 1.0 - float(self.core_busy_cycles.sum()) / total if total else 1.0

    def idle_silicon_series(self, bins: int = 100) -> tuple[npt.NDArray[np.float64],
                                                            npt.NDArray[np.float64]]:
        """(bin start cycles, share of cores not active in each bin) over the span."""
        edges = np.linspace(0, max(self.span_cycles, 1), bins + 1)
        starts, ends = (np.sort(a.astype(np.float64)) for a in self.busy_intervals)

        def active_integral(t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
            # sum over intervals of clip(t - start, 0, end - start), by prefix sums.
            cs, ce = np.concatenate(([0.0], np.cumsum(starts))), \
                np.concatenate(([0.0], np.cumsum(ends)))
            ks, ke = np.searchsorted(starts, t, "right"), np.searchsorted(ends, t, "right")
            return (ks * t - cs[ks]) - (ke * t - ce[ke])

        active = np.diff(active_integral(edges)) / np.diff(edges)
        return edges[:-1], 1.0 - active / self.n_cores

    def latencies_cycles(self) -> npt.NDArray[np.int64]:
        return np.array([r.latency_cycles for r in self.records], dtype=np.int64)


def simulate_system(cfg: NFCoreConfig, workload: SystemWorkload, arrivals: Sequence[int],
                    table: EnergyTable | None = None, progress: bool = False,
                    desc: str = "system") -> SystemResult:
    """Serve `workload.requests` arriving at `arrivals` (cycles, non-decreasing)."""
    workload.validate(cfg)
    if len(arrivals) != len(workload.requests):
        raise SimError(f"{len(arrivals)} arrival times for {len(workload.requests)} requests")
    if any(b < a for a, b in zip(arrivals, arrivals[1:], strict=False)) or \
            (len(arrivals) and arrivals[0] < 0):
        raise SimError("arrival cycles must be >= 0 and non-decreasing")
    table = table or EnergyTable.load(cfg.technology.energy_table)
    energies = SystemEnergies.of(cfg, table)
    return _Chip(cfg, workload, arrivals, energies).run(progress, desc)


@dataclass(slots=True)
class EnergyTally:
    """Energy in pJ by component: one field per `SYSTEM_COMPONENTS` entry, in its order."""

    mac: float = 0.0
    weight_sram: float = 0.0
    act_sram: float = 0.0
    control: float = 0.0
    network: float = 0.0
    dram: float = 0.0
    leakage: float = 0.0
    wakeup: float = 0.0
    router: float = 0.0

    def add(self, other: EnergyTally) -> None:
        self.mac += other.mac
        self.weight_sram += other.weight_sram
        self.act_sram += other.act_sram
        self.control += other.control
        self.network += other.network
        self.dram += other.dram
        self.leakage += other.leakage
        self.wakeup += other.wakeup
        self.router += other.router

    @property
    def total(self) -> float:
        return sum(getattr(self, c) for c in SYSTEM_COMPONENTS)

    def as_dict(self) -> dict[str, float]:
        return {c: getattr(self, c) for c in SYSTEM_COMPONENTS}


@dataclass(slots=True)
class ByteTally:
    """Bytes moved by kind: one field per `BYTE_KINDS` entry, in its order."""

    weight_sram: int = 0
    activations: int = 0
    flit_hops: int = 0
    dram: int = 0

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in BYTE_KINDS}


@dataclass(frozen=True, slots=True)
class _TreeCosts:
    """Per tree, what every run of it costs besides its cores' cycles: its program's events
    and the host I/O (no leakage: that is charged over the cycles its cores are held), and
    its own packets (input, result, and a split tree's packets between its cores)."""

    run_energy: EnergyTally
    act_bytes: int
    weight_read_bytes: int
    network_pj: float
    flit_hops: int

    @staticmethod
    def of(tree: PlacedTree, net: Network, lanes: int, energies: SystemEnergies) -> _TreeCosts:
        ev = tree.events + host_io_events(tree.input_bytes, tree.output_bytes, lanes)
        comp = component_energy_pj(ev, energies.core)
        programs = tree.served_programs(lanes)
        # The input packet from the host, then every SEND of its cores' programs.
        first_core, first_program = programs[0]
        first_recv = first_program.steps[0][1]
        assert first_recv is not None and first_recv.op is isa.Opcode.RECV
        packets = [(isa.HEADER_FLITS + first_recv.n, net.hops(net.host, net.core(first_core)))]
        for xy, prog in programs:
            for _, instr in prog.steps:
                if instr is not None and instr.op is isa.Opcode.SEND:
                    dst = net.host if instr.to_host else net.core((instr.dest_x, instr.dest_y))
                    packets.append((isa.HEADER_FLITS + instr.n, net.hops(net.core(xy), dst)))
        return _TreeCosts(
            run_energy=EnergyTally(mac=comp["mac"], weight_sram=comp["weight_sram"],
                                   act_sram=comp["act_sram"], control=comp["control"]),
            act_bytes=(ev.act_word_reads + ev.act_word_writes) * lanes + ev.act_byte_writes,
            weight_read_bytes=ev.weight_word_reads * lanes,
            network_pj=sum(energies.packet_pj(f, h) for f, h in packets),
            flit_hops=sum(f * h for f, h in packets))


@dataclass(frozen=True, slots=True)
class _Visit:
    """One RUN of one core for one tree a request selects, in the order the host presents
    them (request, then call, then chain order, as `nfcore.sim.net.dispatch` does)."""

    rid: int
    tid: int
    core: Coord
    arrival: int
    weight_bytes: int
    """Weight bytes of the tree's part on this core."""
    program: TimedProgram
    nominal_cycles: int
    """Cycles of its program with no waits."""
    gate: tuple[Coord, int] | None
    """For a tree of a routed request: the router's result it waits for (its core, the
    index of that result among the core's results; `dispatch`'s `run_after_result`)."""


@dataclass(frozen=True, slots=True)
class _Prep:
    """What the host does before a visit's RUN: wake its core, page its weights."""

    woken: bool
    paging: Paging | None


def _prep_program(paging_cycles: int) -> TimedProgram:
    """A program that holds its core for `paging_cycles` from the cycle its RUN is taken to
    the cycle before the next RUN can be taken (`done` + 1): local cycles, then HALT."""
    halt = isa.cycles(isa.halt(), 1)
    local = paging_cycles - halt
    return TimedProgram(((local, None), (halt, isa.halt())) if local > 0 else
                        ((halt, isa.halt()),))


class _Chip:
    """One `simulate_system` run: the visits of every core, the host's plan for them
    (`_plan`), its exact run (`_run_plan`) and what the records and result take from it."""

    def __init__(self, cfg: NFCoreConfig, workload: SystemWorkload, arrivals: Sequence[int],
                 energies: SystemEnergies) -> None:
        self.cfg, self.workload, self.energies = cfg, workload, energies
        self.arrivals = [int(a) for a in arrivals]
        lanes = cfg.core.lanes
        self.topology = Network(cfg)
        self.placed = trees = workload.placed
        self.router = len(workload.trees) if workload.router is not None else None
        """The router's index in `placed` (None: no router on the chip)."""
        served = [t.served_programs(lanes) for t in trees]
        self.costs = [_TreeCosts.of(t, self.topology, lanes, energies) for t in trees]
        payloads = [np.zeros((isa.words_for(t.input_bytes, lanes), lanes), np.uint8)
                    for t in trees]
        calls = [TreeCall(served[tid][0][0], 0, payloads[tid],
                          chain=tuple(xy for xy, _ in served[tid][1:]))
                 for tid in range(len(trees))]
        router = () if self.router is None else (self.router,)
        self.requests = [HostRequest(at, tuple(calls[tid] for tid in sel),
                                     None if self.router is None else calls[self.router])
                         for at, sel in zip(self.arrivals, workload.requests, strict=True)]
        _, self.host_in, self.host_gates, run_gates = dispatch(self.requests)
        self.visits: list[_Visit] = []
        self.by_core: dict[Coord, list[int]] = {}
        for rid, (at, sel) in enumerate(zip(self.arrivals, workload.requests, strict=True)):
            for tid in (*router, *sel):  # `dispatch`'s order: the router's call first
                parts = dict(trees[tid].parts())
                for xy, prog in served[tid]:
                    order = self.by_core.setdefault(xy, [])
                    self.visits.append(_Visit(rid, tid, xy, at, parts[xy], prog,
                                              sum(c for c, _ in prog.steps),
                                              run_gates.get((xy, len(order)))))
                    order.append(len(self.visits) - 1)
        self.resident: dict[Coord, set[int]] = {}
        """The trees (indices in `placed`) resident on each core that holds one (the cores
        not off)."""
        for tid, t in enumerate(trees):
            for xy, _ in t.parts():
                self.resident.setdefault(xy, set()).update({tid} if t.resident else ())

    def run(self, progress: bool, desc: str) -> SystemResult:
        """Plan, run exactly, plan again from the run's cycles, until the plan holds."""
        done: list[int] | None = None
        released: list[int] | None = None
        plan: list[_Prep] | None = None  # none yet: the first pass always runs
        passes = 0
        with tqdm(total=MAX_PLAN_PASSES, desc=desc, unit="pass", disable=not progress) as bar:
            while True:
                new, dram = self._plan(done, released)
                if new == plan or passes == MAX_PLAN_PASSES:
                    break
                plan, plan_dram = new, dram
                outcomes, run, main = self._run_plan(plan)
                done = [run.runs[v.core][main[j]][1] for j, v in enumerate(self.visits)]
                released = self._released(run)
                passes += 1
                bar.update()
        assert plan is not None
        return self._result(outcomes, run, main, plan, plan_dram,
                            {"passes": passes, "converged": int(new == plan)})

    def _released(self, run: ArrayModelResult) -> list[int]:
        """Each visit's first cycle the host may present its RUN in `run`: the request's
        arrival, or for a routed tree `host.decision_cycles` after the host took the tail of
        the router's result."""
        tails: dict[Coord, list[int]] = {}
        for d in run.host_out:  # in the order the host took their tails
            tails.setdefault(d.src, []).append(d.tail_cycle)
        decision = self.cfg.host.decision_cycles
        return [v.arrival if v.gate is None else
                max(v.arrival, tails[v.gate[0]][v.gate[1]] + decision) for v in self.visits]

    def _plan(self, done: list[int] | None, released: list[int] | None
              ) -> tuple[list[_Prep], DramChannel]:
        """The host's decisions for every visit, given each visit's `done` cycle and its
        release (`_released`) in the last exact run (None: each as if it started when its
        core was free and did not wait, a routed tree once the router's program ran)."""
        power, wake = self.cfg.power, self.cfg.power.wake_up_cycles
        if released is None:
            routing = {v.rid: v.nominal_cycles for v in self.visits if v.tid == self.router}
            decision = self.cfg.host.decision_cycles
            released = [v.arrival if v.gate is None else v.arrival + routing[v.rid] + decision
                        for v in self.visits]
        woken = [False] * len(self.visits)
        pages: list[tuple[int, int]] = []  # (start cycle, visit)
        for core, order in self.by_core.items():
            loaded, paged = set(self.resident[core]), None
            free = 0  # first cycle the core is free again (after the last visit's done)
            for j in order:
                v = self.visits[j]
                woken[j] = gated = released[j] > free + power.gate_after_idle_cycles
                if gated and not power.gated_retains_sram:
                    loaded.clear()
                    paged = None
                start = max(released[j], free) + wake * gated
                if v.tid not in loaded:
                    pages.append((start, j))
                    if not self.placed[v.tid].resident:
                        loaded.discard(paged)
                        paged = v.tid
                    loaded.add(v.tid)
                free = (done[j] if done is not None else start + v.nominal_cycles) + 1
        dram = DramChannel.of(self.cfg)
        paging: dict[int, Paging] = {}
        for start, j in sorted(pages):
            v = self.visits[j]
            paging[j] = page_core(dram, self.cfg.core.lanes, v.core,
                                  -(-v.weight_bytes // self.cfg.core.lanes), start)
        return [_Prep(w, paging.get(j)) for j, w in enumerate(woken)], dram

    def _run_plan(self, plan: list[_Prep]
                  ) -> tuple[list[RequestOutcome], ArrayModelResult, list[int]]:
        """The exact run of `plan`: each request's outcome, the run, and each visit's index
        among its core's runs (a paging visit is preceded by its `_prep_program` RUN)."""
        runs: dict[Coord, list[int | tuple[int, TimedProgram]]] = {}
        main = [0] * len(self.visits)
        run_gates: dict[tuple[Coord, int], tuple[Coord, int]] = {}
        woken: list[tuple[Coord, int]] = []  # the first RUN of a visit that wakes its core
        for core, order in self.by_core.items():
            entries = runs[core] = []
            for j in order:
                v, prep = self.visits[j], plan[j]
                if prep.woken:
                    woken.append((core, len(entries)))
                if prep.paging is not None:
                    if v.gate is not None:  # the host pages the tree the router picked
                        run_gates[core, len(entries)] = v.gate
                    entries.append((v.arrival, _prep_program(prep.paging.paging_cycles)))
                main[j] = len(entries)
                if v.gate is not None:
                    run_gates[core, len(entries)] = v.gate
                entries.append((v.arrival, v.program))
        # The k-th call a core is presented is its k-th visit (the dispatch's order).
        nth = {core: [main[j] for j in order] for core, order in self.by_core.items()}
        gates = [None if g is None else nth[hp.dest][g]
                 for hp, g in zip(self.host_in, self.host_gates, strict=True)]
        cores = {c: CoreState(self.cfg.core) for c in runs}
        run = run_array_model(self.cfg, cores, host_in=self.host_in, runs=runs,
                              host_after_run=gates, run_after_result=run_gates, woken=woken)
        return collect(self.requests, run.host_out), run, main

    def _result(self, outcomes: list[RequestOutcome], run: ArrayModelResult, main: list[int],
                plan: list[_Prep], dram: DramChannel, how: dict[str, int]) -> SystemResult:
        """Records, power states, energy and traffic of the last exact run."""
        cfg, e = self.cfg, self.energies
        gate_after, wake = cfg.power.gate_after_idle_cycles, cfg.power.wake_up_cycles
        net = run.network
        n = len(self.requests)
        energy = [EnergyTally() for _ in range(n)]
        routing = [EnergyTally() for _ in range(n)]  # the router's run, booked as `router`

        def tally(rid: int, tid: int) -> EnergyTally:
            return routing[rid] if tid == self.router else energy[rid]

        moved = [ByteTally() for _ in range(n)]
        woken = [0] * n
        dram_wait = [0] * n
        rows, cols = cfg.mesh.rows, cfg.mesh.cols
        busy = np.zeros(rows * cols, dtype=np.int64)
        starts, ends = [], []
        states = {"active": 0, "idle": 0, "gated": 0, "off": 0}
        span = max((o.done_cycle for o in outcomes), default=0)
        idle_pj = 0.0
        for core in self.resident:
            order = self.by_core.get(core, [])
            core_runs = run.runs.get(core, [])
            free = 0
            active = gated = 0
            for j in order:
                v, prep = self.visits[j], plan[j]
                first = core_runs[main[j] - (prep.paging is not None)][0]
                start = first - wake * prep.woken
                end = core_runs[main[j]][1] + 1
                if prep.woken:
                    gated += max(0, start - (free + gate_after))
                    woken[v.rid] += 1
                    tally(v.rid, v.tid).wakeup += e.wakeup_pj
                if prep.paging is not None:
                    self._charge_paging(tally(v.rid, v.tid), moved[v.rid], net, v, prep.paging)
                    dram_wait[v.rid] += prep.paging.dram_queue_cycles
                tally(v.rid, v.tid).leakage += (end - start) * e.core.leakage_pj_per_cycle
                active += end - start
                starts.append(start)
                ends.append(end)
                free = end
            gated += max(0, span - (free + gate_after))
            busy[net.core(core)] = active
            idle = span - active - gated
            states["active"] += active
            states["idle"] += idle
            states["gated"] += gated
            idle_pj += _leakage_pj(e, {core: {"active_cycles": 0, "idle_cycles": idle,
                                              "gated_cycles": gated, "wakes": 0}})
        states["off"] = (rows * cols - len(self.resident)) * span
        records = []
        router = () if self.router is None else (self.router,)
        for rid, (out, sel) in enumerate(zip(outcomes, self.workload.requests, strict=True)):
            for tid in (*router, *sel):
                costs = self.costs[tid]
                tally(rid, tid).add(costs.run_energy)
                tally(rid, tid).network += costs.network_pj
                moved[rid].flit_hops += costs.flit_hops
                moved[rid].weight_sram += costs.weight_read_bytes
                moved[rid].activations += costs.act_bytes
            energy[rid].router = routing[rid].total
            arrived = self.arrivals[rid]
            records.append(SystemRecord(
                request_id=rid, trees=tuple(sel), arrival_cycle=arrived,
                end_cycle=out.done_cycle, latency_cycles=out.done_cycle - arrived,
                latency_s=(out.done_cycle - arrived) / cfg.clock_hz,
                energy_pj=energy[rid].as_dict(), cores_woken=woken[rid],
                bytes_moved=moved[rid].as_dict(),
                weight_bytes_touched=sum(self.placed[t].weight_bytes for t in (*router, *sel)),
                dram_queue_cycles=dram_wait[rid]))
        return SystemResult(
            records=records,
            span_cycles=span,
            throughput_rps=n / (span / cfg.clock_hz) if span else 0.0,
            core_busy_cycles=busy.reshape(rows, cols),
            router_flits=np.asarray(net.router_flits, dtype=np.int64).reshape(rows, cols),
            busy_intervals=(np.asarray(starts, dtype=np.int64),
                            np.asarray(ends, dtype=np.int64)),
            n_cores=rows * cols,
            power_cycles=states,
            wakes=sum(woken),
            idle_leakage_pj=idle_pj,
            network=network_stats(run),
            dram={"reads": dram.reads, "bytes": dram.bytes_read,
                  "busy_cycles": dram.busy_cycles, "queue_cycles": dram.queue_cycles},
            energies=e,
            clock_hz=cfg.clock_hz,
            plan=how)

    def _charge_paging(self, energy: EnergyTally, moved: ByteTally, net: Network, v: _Visit,
                       paging: Paging) -> None:
        """A visit's paging: DRAM bytes, weight SRAM writes, and its packets (counted in
        the run's traffic, `net`)."""
        e, lanes = self.energies, self.cfg.core.lanes
        words = -(-v.weight_bytes // lanes)
        energy.dram += v.weight_bytes * e.dram_pj_per_byte
        moved.dram += v.weight_bytes
        energy.weight_sram += words * e.weight_word_write_pj
        moved.weight_sram += v.weight_bytes
        core = net.core(v.core)
        for kind, flits in paging.packets:
            src, dst = (net.host, net.dram) if kind == "request" else (net.dram, core)
            hops = net.hops(src, dst)
            net.count(src, dst, flits)
            energy.network += e.packet_pj(flits, hops)
            moved.flit_hops += flits * hops


def network_stats(run: ArrayModelResult) -> dict[str, int]:
    """The traffic of an exact run: packets, hops and flit-hops of every packet (paging's
    included once counted in `run.network`), the packets to and from the host port and those
    of them that waited (`ArrayModelResult.host_packets_waited`), and the cycles cores'
    SENDs stalled and RECVs waited for a header."""
    net = run.network
    return {"packets": net.packets, "hops": net.hops_total, "flit_hops": net.flit_hops,
            "host_packets": run.host_packets, "waited_packets": run.host_packets_waited,
            "send_stall_cycles": sum(run.send_stall_cycles.values()),
            "recv_wait_cycles": sum(run.recv_wait_cycles.values())}
