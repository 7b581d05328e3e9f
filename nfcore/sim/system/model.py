"""A SimPy model of the whole chip serving a stream of requests over the mesh.

For each request (arriving by `arrivals`), the host sends the input vector, one packet per
selected tree, through the host port to the tree's core; the core (FIFO, one job at a time)
wakes if it was power-gated, loads the tree's weights from DRAM if they are not on it, runs
the tree's program, and sends the output packet back to the host. A request is done when the
host holds every selected tree's output.

* Cores: a program takes its `PlacedTree.program_cycles`, the sum of its instructions'
  `isa.cycles` (the one timing contract); the per-instruction table is precomputed and the
  run costs one SimPy timeout.
* Split trees (`PlacedTree.stages`, a tree the compiler split over a chain of cores): the host
  sends the input to the first stage's core; each stage runs its part's program on its core
  (wake-up and weight load per core as above), its instructions between network operations
  in one timeout; a SEND hands its packet to the network ISSUE cycles after it starts and
  ends when its last flit is injected; a RECV takes its packet when the header is offered.
  A later stage takes its core when its first packet arrives (`_Chip._stage_input`), so with no
  contention each stage ends when the golden array says. The last stage sends the output
  to the host. Energy is counted per stage: its events, packets, DRAM bytes, wake-ups, and
  leakage over the cycles it held its core.
* Network: `nfcore.sim.net.oneshot.Network` (analytic wormhole links, per-hop latency of
  `nfcore.arch.noc`); every packet, paging's included, goes through it.
* DRAM (`nfcore.sim.system.paging`): the host sends read requests to the DRAM port, the channel
  (`dram.DramChannel`) answers each with a weight packet to the core, as the RTL does.
* Power states per core: active while it holds a job (wake-up, weight load, program), idle
  after, gated once idle for `power.gate_after_idle_cycles`. A job that finds its core gated
  waits `power.wake_up_cycles` and pays one wake-up energy. If `power.gated_retains_sram` is
  false, gating loses the core's weights: they are reloaded from DRAM on the next job. All
  cores start idle at cycle 0 with their resident trees loaded; a core keeps one paged tree
  (the last loaded) besides its resident ones.

Energy of a request is its events (trees' programs and the host I/O writes and reads of the
scratchpad), its packets, its DRAM bytes, the wake-ups it caused, and the leakage of its cores
over the cycles it held them (`EnergyTally`, `ByteTally`). Leakage of idle and gated silicon
is a run-level figure (`SystemResult.idle_leakage_pj`).

`simulate_system` builds a `_Chip` (the SimPy environment, network, DRAM channel and one
`CoreServer` per core in use) whose processes are the host (`_host`), a single-core tree's job
(`_job`), a split tree's stage (`_stage`), and the wake-up and paging a job does first
(`_prepare`, `_load`); a `_Request` collects one request's cycles, energy and bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
import simpy
from tqdm import tqdm

from nfcore.arch import isa, noc
from nfcore.config import NFCoreConfig
from nfcore.sim.core import SimError
from nfcore.sim.cost.energy import EnergyTable
from nfcore.sim.cost.events import component_energy_pj, host_io_events
from nfcore.sim.cost.system_energy import SYSTEM_COMPONENTS, SystemEnergies
from nfcore.sim.cost.system_energy import leakage_pj_from_state_cycles as _leakage_pj
from nfcore.sim.net.oneshot import Delivery, Network
from nfcore.sim.system.dram import DramChannel
from nfcore.sim.system.paging import page_weights
from nfcore.sim.system.workload import PlacedTree, StageSpec, SystemWorkload

BYTE_KINDS = ("weight_sram", "activations", "flit_hops", "dram")
"""Kinds of bytes moved a record counts: weight SRAM bytes read and written, scratchpad bytes
read and written, flit-hops (flits times hops, not bytes), DRAM bytes read."""


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
    network_wait_cycles: int
    dram_queue_cycles: int

    @property
    def energy_pj_total(self) -> float:
        return float(sum(self.energy_pj.values()))

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "trees": list(self.trees),
                "energy_pj_total": self.energy_pj_total}


@dataclass
class CoreServer:
    """One core as the system model serves jobs on it: its queue (`resource`, one job at a
    time), the trees whose weights are on it, its power-state history."""

    resource: simpy.Resource
    loaded: set[int]
    paged: int | None = None
    last_end: int = 0
    busy_starts: list[int] = field(default_factory=list)
    busy_ends: list[int] = field(default_factory=list)
    wakes: int = 0
    gated_cycles: int = 0


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
    dram: dict[str, float]
    energies: SystemEnergies
    clock_hz: float
    packets: list[tuple[int, int, int, int]] = field(default_factory=list)
    """Every packet sent, in send order: (cycle, source, destination, flits) (`Network.trace`)."""

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
    chip = _Chip(cfg, workload, arrivals, energies)
    bar = tqdm(total=len(workload.requests), desc=desc, unit="req", disable=not progress)
    chip.on_record = lambda _: bar.update()
    try:
        records = chip.run()
    finally:
        bar.close()
    return _result(cfg, records, chip.cores, chip.net, chip.dram, energies)


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

    def add(self, other: ByteTally) -> None:
        self.weight_sram += other.weight_sram
        self.activations += other.activations
        self.flit_hops += other.flit_hops
        self.dram += other.dram

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in BYTE_KINDS}


@dataclass(slots=True)
class _Request:
    """What one request has cost so far, while its trees run."""

    rid: int
    pending: int
    """Jobs (one per single-core tree, one per stage of a split tree) not yet ended."""
    energy: EnergyTally = field(default_factory=EnergyTally)
    moved: ByteTally = field(default_factory=ByteTally)
    end: int = 0
    woken: int = 0
    network_wait: int = 0
    dram_wait: int = 0


@dataclass(frozen=True, slots=True)
class _TreeCosts:
    """Per tree, what every run of it needs: endpoints, packet sizes, energy and bytes."""

    parts: tuple[tuple[int, int], ...]
    """(core endpoint, weight bytes) of every core it occupies (one unless split)."""
    core: int
    """Endpoint of its (first) core: where the host sends the input."""
    in_flits: int
    out_flits: int
    run_energy: EnergyTally
    """Its program's events and the host I/O of one run (no leakage: that is charged over
    the cycles its cores are held)."""
    act_bytes: int
    weight_read_bytes: int

    @staticmethod
    def of(tree: PlacedTree, net: Network, lanes: int, energies: SystemEnergies
           ) -> _TreeCosts:
        ev = tree.events + host_io_events(tree.input_bytes, tree.output_bytes, lanes)
        comp = component_energy_pj(ev, energies.core)
        parts = tuple((net.core(xy), nbytes) for xy, nbytes in tree.parts())
        return _TreeCosts(
            parts=parts, core=parts[0][0],
            in_flits=noc.packet_flits(tree.input_bytes, lanes),
            out_flits=noc.packet_flits(tree.output_bytes, lanes),
            run_energy=EnergyTally(mac=comp["mac"], weight_sram=comp["weight_sram"],
                                   act_sram=comp["act_sram"], control=comp["control"]),
            act_bytes=(ev.act_word_reads + ev.act_word_writes) * lanes + ev.act_byte_writes,
            weight_read_bytes=ev.weight_word_reads * lanes)


def _lead_cycles(stage: StageSpec) -> int:
    """Cycles from a stage's start to the cycle its first RECV is ready for a header."""
    lead = isa.ISSUE_CYCLES
    for step in stage.steps:
        if step.kind == "recv":
            break
        lead += step.cycles
    return lead


class _Chip:
    """One `simulate_system` run: the SimPy environment, the network, DRAM and cores, and the
    processes of the host (`_host`), of a single-core tree (`_job`), of a split tree's stage
    (`_stage`) and of weight paging (`_prepare`, `_load`)."""

    def __init__(self, cfg: NFCoreConfig, workload: SystemWorkload, arrivals: Sequence[int],
                 energies: SystemEnergies) -> None:
        self.cfg, self.workload, self.arrivals, self.energies = cfg, workload, arrivals, energies
        self.lanes = cfg.core.lanes
        self.net = Network(cfg)
        self.net.trace = []
        self.dram = DramChannel.of(cfg)
        self.env = simpy.Environment()
        self.trees = workload.placed
        self.router = len(workload.trees) if workload.router is not None else None
        """Index of the router in `trees` (None: no router on the chip)."""
        self.costs = [_TreeCosts.of(t, self.net, self.lanes, energies) for t in self.trees]
        self.cores: dict[int, CoreServer] = {}
        for tid, (t, costs) in enumerate(zip(self.trees, self.costs, strict=True)):
            for ci, _ in costs.parts:
                c = self.cores.setdefault(ci, CoreServer(simpy.Resource(self.env, 1), set()))
                if t.resident:
                    c.loaded.add(tid)
        self.records: list[SystemRecord | None] = [None] * len(workload.requests)
        self.on_record: Callable[[SystemRecord], None] = lambda _: None

    def run(self) -> list[SystemRecord]:
        self.env.process(self._host())
        self.env.run()
        done = [r for r in self.records if r is not None]
        if len(done) != len(self.records):  # pragma: no cover - every process runs to its end
            raise SimError(f"{len(self.records) - len(done)} requests did not complete")
        return done

    def _host(self) -> Generator[simpy.Event, Any, None]:
        env = self.env
        for rid, (at, sel) in enumerate(zip(self.arrivals, self.workload.requests,
                                            strict=True)):
            if at > env.now:
                yield env.timeout(at - env.now)
            # A split tree's stages each report their end; its last returns the output.
            req = _Request(rid, sum(max(1, len(self.trees[tid].stages)) for tid in sel))
            if self.router is None:
                self._start(req, sel)
            else:
                env.process(self._routed(req, sel))

    def _start(self, req: _Request, sel: Sequence[int]) -> None:
        """Start the trees `sel` of `req` now."""
        for tid in sel:
            stages = self.trees[tid].stages
            if stages:
                inboxes = [simpy.Store(self.env) for _ in stages]
                for k in range(len(stages)):
                    self.env.process(self._stage(req, tid, k, inboxes))
            else:
                self.env.process(self._job(req, tid))

    def _routed(self, req: _Request, sel: Sequence[int]) -> Generator[simpy.Event, Any, None]:
        """The router's run first (as a tree's, `_run`), all of its energy booked to `req` as
        `router`; the trees `host.decision_cycles` after its scores reached the host."""
        assert self.router is not None
        own = _Request(req.rid, 0)
        yield from self._run(own, self.router)
        costs = self.costs[self.router]
        own.energy.add(costs.run_energy)
        req.energy.router += own.energy.total
        own.moved.weight_sram += costs.weight_read_bytes
        own.moved.activations += costs.act_bytes
        req.moved.add(own.moved)
        req.woken += own.woken
        req.network_wait += own.network_wait
        req.dram_wait += own.dram_wait
        start = own.end + self.cfg.host.decision_cycles
        yield self.env.timeout(max(0, start - int(self.env.now)))
        self._start(req, sel)

    def _deliver(self, req: _Request, src: int, dst: int, flits: int) -> Delivery:
        """Send a packet now, charging it to `req`."""
        d = self.net.send(src, dst, flits, int(self.env.now))
        req.energy.network += self.energies.packet_pj(flits, d.hops)
        req.moved.flit_hops += flits * d.hops
        req.network_wait += d.wait_cycles
        return d

    def _packet(self, req: _Request, src: int, dst: int, flits: int) -> int:
        """`_deliver`, returning the cycle the packet's tail is delivered."""
        return self._deliver(req, src, dst, flits).done_cycle

    def _job(self, req: _Request, tid: int) -> Generator[simpy.Event, Any, None]:
        """A single-core tree's run (`_run`), one part of `req`."""
        yield from self._run(req, tid)
        self._part_done(req)

    def _run(self, req: _Request, tid: int) -> Generator[simpy.Event, Any, None]:
        """A single-core tree: input packet, its core's turn, wake-up and weight load if
        needed, its program in one timeout, output packet (`req.end`: its tail at the
        host)."""
        env, tree, costs = self.env, self.trees[tid], self.costs[tid]
        ci = costs.core
        core = self.cores[ci]
        yield env.timeout(self._packet(req, self.net.host, ci, costs.in_flits) - env.now)
        with core.resource.request() as turn:
            yield turn
            start = int(env.now)
            yield from self._prepare(req, tid, ci, tree.weight_bytes)
            yield env.timeout(tree.program_cycles)
            self._release(req, core, start)
        req.end = max(req.end, self._packet(req, ci, self.net.host, costs.out_flits))

    def _stage(self, req: _Request, tid: int, k: int, inboxes: list[simpy.Store]
               ) -> Generator[simpy.Event, Any, None]:
        """Stage k of split tree `tid`: its part's program on its chain core, once its input
        is in (`_stage_input`). The last stage sends the output to the host."""
        env, tree, costs = self.env, self.trees[tid], self.costs[tid]
        ci = costs.parts[k][0]
        core = self.cores[ci]
        offers = yield from self._stage_input(req, tid, k, inboxes)
        with core.resource.request() as turn:
            yield turn
            start = int(env.now)
            yield from self._prepare(req, tid, ci, tree.stages[k].weight_bytes)
            yield from self._stage_steps(req, tid, k, inboxes, offers)
            self._release(req, core, start)
        if k == len(tree.stages) - 1:
            req.end = max(req.end, self._packet(req, ci, self.net.host, costs.out_flits))
        self._part_done(req)

    def _stage_input(self, req: _Request, tid: int, k: int, inboxes: list[simpy.Store]
                     ) -> Generator[simpy.Event, Any, list[int]]:
        """Wait until stage k of split tree `tid` asks for its core; return the offer
        cycles of the packets it took from its inbox meanwhile.

        Stage 0 starts when the host's input packet is in; a later stage when its first
        packet's header is offered (less the steps before its first RECV and that RECV's
        ISSUE), so that with no contention every stage keeps the golden array's timing, in
        which all chain cores start together and wait in RECV. The wait for the first packet
        is not charged as busy (the core may serve other trees meanwhile); later RECVs hold
        the core. A packet that waits for its stage's core does not hold the network (as the
        host's input packets do not)."""
        env, costs = self.env, self.costs[tid]
        if k == 0:
            yield env.timeout(self._packet(req, self.net.host, costs.core, costs.in_flits)
                              - env.now)
            return []
        first: int = yield inboxes[k].get()
        lead = _lead_cycles(self.trees[tid].stages[k])
        if first - lead > env.now:
            yield env.timeout(first - lead - env.now)
        return [first]

    def _stage_steps(self, req: _Request, tid: int, k: int, inboxes: list[simpy.Store],
                     offers: list[int]) -> Generator[simpy.Event, Any, None]:
        """Stage k's steps on its core: a run of instructions in one timeout; a SEND hands
        its packet to the network ISSUE cycles after it starts and ends when its last flit
        is injected; a RECV takes its packet when the header is offered."""
        env, parts = self.env, self.costs[tid].parts
        ci = parts[k][0]
        for step in self.trees[tid].stages[k].steps:
            if step.kind == "run":
                yield env.timeout(step.cycles)
                continue
            yield env.timeout(isa.ISSUE_CYCLES)
            if step.kind == "send":
                sent = int(env.now)
                flits = isa.HEADER_FLITS + step.words
                d = self._deliver(req, ci, parts[step.dest][0], flits)
                inboxes[step.dest].put(d.header_cycle)
                yield env.timeout(max(sent + flits, d.source_free_cycle) - env.now)
            else:
                offer = offers.pop(0) if offers else (yield inboxes[k].get())
                if offer > env.now:
                    yield env.timeout(offer - env.now)
                yield env.timeout(step.cycles - isa.ISSUE_CYCLES)

    def _release(self, req: _Request, core: CoreServer, start: int) -> None:
        """Book the core's active interval from `start` to now, and its leakage to `req`."""
        end = int(self.env.now)
        core.last_end = end
        core.busy_starts.append(start)
        core.busy_ends.append(end)
        req.energy.leakage += (end - start) * self.energies.core.leakage_pj_per_cycle

    def _prepare(self, req: _Request, tid: int, ci: int, weight_bytes: int
                 ) -> Generator[simpy.Event, Any, None]:
        """On core `ci`, which the caller holds from now: wake it if it is gated, then load
        the tree's `weight_bytes` there if they are not on it."""
        env, power, core = self.env, self.cfg.power, self.cores[ci]
        start = int(env.now)
        gated_since = core.last_end + power.gate_after_idle_cycles
        if start > gated_since:
            core.gated_cycles += start - gated_since
            core.wakes += 1
            req.woken += 1
            req.energy.wakeup += self.energies.wakeup_pj
            if not power.gated_retains_sram:
                core.loaded.clear()
                core.paged = None
            if power.wake_up_cycles:
                yield env.timeout(power.wake_up_cycles)
        if tid not in core.loaded:
            yield from self._load(req, tid, ci, weight_bytes)

    def _load(self, req: _Request, tid: int, ci: int, weight_bytes: int
              ) -> Generator[simpy.Event, Any, None]:
        """Page `weight_bytes` of tree `tid` from DRAM into core `ci`: requests from the host
        to the DRAM port, weight packets back (`nfcore.sim.system.paging`)."""
        core = self.cores[ci]
        words = -(-weight_bytes // self.lanes)
        req.energy.dram += weight_bytes * self.energies.dram_pj_per_byte
        req.moved.dram += weight_bytes
        req.energy.weight_sram += words * self.energies.weight_word_write_pj
        req.moved.weight_sram += weight_bytes
        paged = yield from page_weights(self.env, self.net, self.dram, self.lanes, ci, words,
                                        partial(self._deliver, req))
        req.dram_wait += paged.dram_queue_cycles
        if not self.trees[tid].resident:
            if core.paged is not None:
                core.loaded.discard(core.paged)
            core.paged = tid
        core.loaded.add(tid)

    def _part_done(self, req: _Request) -> None:
        req.pending -= 1
        if req.pending == 0:
            self._finish(req)

    def _finish(self, req: _Request) -> None:
        """Add the runs' own energy and bytes of every tree `req` selected; record it."""
        sel = self.workload.requests[req.rid]
        for tid in sel:
            costs = self.costs[tid]
            req.moved.weight_sram += costs.weight_read_bytes
            req.moved.activations += costs.act_bytes
            req.energy.add(costs.run_energy)
        arrived = self.arrivals[req.rid]
        record = SystemRecord(
            request_id=req.rid, trees=tuple(sel), arrival_cycle=arrived, end_cycle=req.end,
            latency_cycles=req.end - arrived,
            latency_s=(req.end - arrived) / self.cfg.clock_hz,
            energy_pj=req.energy.as_dict(), cores_woken=req.woken,
            bytes_moved=req.moved.as_dict(),
            weight_bytes_touched=sum(self.trees[t].weight_bytes for t in sel) + (
                0 if self.router is None else self.trees[self.router].weight_bytes),
            network_wait_cycles=req.network_wait, dram_queue_cycles=req.dram_wait)
        self.records[req.rid] = record
        self.on_record(record)


def _result(cfg: NFCoreConfig, records: list[SystemRecord], cores: dict[int, CoreServer],
            net: Network, dram: DramChannel,
            energies: SystemEnergies) -> SystemResult:
    t_end = max((r.end_cycle for r in records), default=0)
    span = t_end  # the chip is powered, idle and loaded at cycle 0
    rows, cols = cfg.mesh.rows, cfg.mesh.cols
    busy = np.zeros(rows * cols, dtype=np.int64)
    states = {"active": 0, "idle": 0, "gated": 0, "off": 0}
    gate_after = cfg.power.gate_after_idle_cycles
    idle_pj = 0.0
    for ci, c in cores.items():
        active = sum(e - s for s, e in zip(c.busy_starts, c.busy_ends, strict=True))
        gated = c.gated_cycles + max(0, t_end - (c.last_end + gate_after))
        idle = span - active - gated
        busy[ci] = active
        states["active"] += active
        states["idle"] += idle
        states["gated"] += gated
        idle_pj += _leakage_pj(energies, {ci: {
            "active_cycles": 0, "idle_cycles": idle, "gated_cycles": gated, "wakes": 0}})
    states["off"] = (rows * cols - len(cores)) * span
    starts = np.concatenate([np.asarray(c.busy_starts, dtype=np.int64) for c in cores.values()]
                            or [np.zeros(0, dtype=np.int64)])
    ends = np.concatenate([np.asarray(c.busy_ends, dtype=np.int64) for c in cores.values()]
                          or [np.zeros(0, dtype=np.int64)])
    return SystemResult(
        records=records,
        span_cycles=span,
        throughput_rps=len(records) / (span / cfg.clock_hz) if span else 0.0,
        core_busy_cycles=busy.reshape(rows, cols),
        router_flits=np.asarray(net.router_flits, dtype=np.int64).reshape(rows, cols),
        busy_intervals=(starts, ends),
        n_cores=rows * cols,
        power_cycles=states,
        wakes=sum(c.wakes for c in cores.values()),
        idle_leakage_pj=idle_pj,
        network={"packets": net.packets, "hops": net.hops_total, "flit_hops": net.flit_hops,
                 "waited_packets": net.waited_packets, "wait_cycles": net.wait_cycles},
        dram={"reads": dram.reads, "bytes": dram.bytes_read, "busy_cycles": dram.busy_cycles,
              "queue_cycles": dram.queue_cycles},
        energies=energies,
        clock_hz=cfg.clock_hz,
        packets=net.trace or [],
    )
