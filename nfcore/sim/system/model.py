"""A SimPy model of the whole chip serving a stream of requests over the mesh.

For each request (arriving by `arrivals`), the host sends the input vector, one packet per
selected tree, through the host port to the tree's core; the core (FIFO, one job at a time)
wakes if it was power-gated, loads the tree's weights from DRAM if they are not on it, runs
the tree's program, and sends the output packet back to the host. A request is done when the
host holds every selected tree's output.

* Cores: a program takes its `TreeSpec.program_cycles`, the sum of its instructions'
  `isa.cycles` (the one timing contract); the per-instruction table is precomputed and the
  run costs one SimPy timeout.
* Split trees (`TreeSpec.stages`, a tree the compiler split over a chain of cores): the host
  sends the input to the first stage's core; each stage runs its part's program on its core
  (wake-up and weight load per core as above), its instructions between network operations
  in one timeout; a SEND hands its packet to the network ISSUE cycles after it starts and
  ends when its last flit is injected; a RECV takes its packet when the header is offered.
  A later stage takes its core when its first packet arrives (see `stage`), so with no
  contention each stage ends when the golden array says. The last stage sends the output
  to the host. Energy is counted per stage: its events, packets, DRAM bytes, wake-ups, and
  leakage over the cycles it held its core.
* Network: `network.Network` (analytic wormhole links, per-hop latency of `nfcore.arch.noc`).
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
over the cycles it held them. Leakage of idle and gated silicon is a run-level figure
(`SystemResult.idle_leakage_pj`).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
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
from nfcore.sim.system.workload import Workload

_NET, _DRAM, _LEAK, _WAKE = (SYSTEM_COMPONENTS.index(c)
                             for c in ("network", "dram", "leakage", "wakeup"))
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
class CoreState:
    """Power state and history of one core."""

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


def simulate_system(cfg: NFCoreConfig, workload: Workload, arrivals: Sequence[int],
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
    lanes = cfg.core.lanes
    net = Network(cfg)
    net.trace = []
    dram = DramChannel.of(cfg)
    env = simpy.Environment()
    trees = workload.trees
    leak = energies.core.leakage_pj_per_cycle
    wake_cycles, gate_after = cfg.power.wake_up_cycles, cfg.power.gate_after_idle_cycles
    retains = cfg.power.gated_retains_sram

    # Per-tree tables: core endpoint, packet sizes, energies and bytes of one run.
    core_of = [net.core(t.core_xy) for t in trees]
    in_flits = [noc.packet_flits(t.input_bytes, lanes) for t in trees]
    out_flits = [noc.packet_flits(t.output_bytes, lanes) for t in trees]
    base_pj, act_bytes, weight_read_bytes = [], [], []
    for t in trees:
        ev = t.events + host_io_events(t.input_bytes, t.output_bytes, lanes)
        comp = component_energy_pj(ev, energies.core)
        base_pj.append([comp.get(c, 0.0) if c != "leakage" else 0.0
                        for c in SYSTEM_COMPONENTS])
        act_bytes.append((ev.act_word_reads + ev.act_word_writes) * lanes + ev.act_byte_writes)
        weight_read_bytes.append(ev.weight_word_reads * lanes)

    # Per tree, (core endpoint, weight bytes) of every core it occupies (one unless split).
    parts_of = [[(net.core(xy), nbytes) for xy, nbytes in t.parts()] for t in trees]
    cores: dict[int, CoreState] = {}
    for tid, t in enumerate(trees):
        for ci, _ in parts_of[tid]:
            c = cores.setdefault(ci, CoreState(simpy.Resource(env, 1), set()))
            if t.resident:
                c.loaded.add(tid)

    records: list[SystemRecord | None] = [None] * len(workload.requests)
    bar = tqdm(total=len(records), desc=desc, unit="req", disable=not progress)

    class Acc:
        __slots__ = ("pj", "nbytes", "pending", "end", "woken", "net_wait", "dram_wait")

        def __init__(self, k: int) -> None:
            self.pj = [0.0] * len(SYSTEM_COMPONENTS)
            self.nbytes = [0] * len(BYTE_KINDS)
            self.pending, self.end, self.woken, self.net_wait, self.dram_wait = k, 0, 0, 0, 0

    def packet(acc: Acc, src: int, dst: int, flits: int) -> int:
        return deliver(acc, src, dst, flits).done_cycle

    def deliver(acc: Acc, src: int, dst: int, flits: int) -> Delivery:
        d = net.send(src, dst, flits, int(env.now))
        acc.pj[_NET] += energies.packet_pj(flits, d.hops)
        acc.nbytes[2] += flits * d.hops
        acc.net_wait += d.wait_cycles
        return d

    def job(rid: int, tid: int, acc: Acc) -> Generator[simpy.Event, Any, None]:
        ci = core_of[tid]
        core = cores[ci]
        yield env.timeout(packet(acc, net.host, ci, in_flits[tid]) - env.now)
        with core.resource.request() as turn:
            yield turn
            start = int(env.now)
            yield from prepare(tid, ci, trees[tid].weight_bytes, acc)
            yield env.timeout(trees[tid].program_cycles)
            end = int(env.now)
            core.last_end = end
            core.busy_starts.append(start)
            core.busy_ends.append(end)
            acc.pj[_LEAK] += (end - start) * leak
        done = packet(acc, ci, net.host, out_flits[tid])
        acc.end = max(acc.end, done)
        acc.pending -= 1
        if acc.pending == 0:
            finish(rid, acc)

    def prepare(tid: int, ci: int, weight_bytes: int, acc: Acc
                ) -> Generator[simpy.Event, Any, None]:
        """On core `ci`, which the caller holds from now: wake it if it is gated, then load
        the tree's `weight_bytes` there if they are not on it."""
        core = cores[ci]
        start = int(env.now)
        gated_since = core.last_end + gate_after
        if start > gated_since:
            core.gated_cycles += start - gated_since
            core.wakes += 1
            acc.woken += 1
            acc.pj[_WAKE] += energies.wakeup_pj
            if not retains:
                core.loaded.clear()
                core.paged = None
            if wake_cycles:
                yield env.timeout(wake_cycles)
        if tid not in core.loaded:
            yield from load(tid, core, ci, weight_bytes, acc)

    def load(tid: int, core: CoreState, ci: int, weight_bytes: int, acc: Acc
             ) -> Generator[simpy.Event, Any, None]:
        t = trees[tid]
        words = -(-weight_bytes // lanes)
        acc.pj[_DRAM] += weight_bytes * energies.dram_pj_per_byte
        acc.nbytes[3] += weight_bytes
        acc.pj[1] += words * energies.weight_word_write_pj
        acc.nbytes[0] += weight_bytes
        # Requests from the host to the DRAM port, weight packets back (nfcore.sim.system.paging).
        paged = yield from page_weights(env, net, dram, lanes, ci, words,
                                        lambda src, dst, flits: deliver(acc, src, dst, flits))
        acc.dram_wait += paged.dram_queue_cycles
        if not t.resident:
            if core.paged is not None:
                core.loaded.discard(core.paged)
            core.paged = tid
        core.loaded.add(tid)

    def stage(rid: int, tid: int, k: int, inboxes: list[simpy.Store], acc: Acc
              ) -> Generator[simpy.Event, Any, None]:
        """Stage k of split tree `tid`: its part's program on its chain core. Stage 0 starts
        when the host's input packet is in; a later stage when its first packet's header
        is offered (less the steps before its first RECV and that RECV's ISSUE), so that
        with no contention every stage keeps the golden array's timing, in which all chain
        cores start together and wait in RECV. The wait for the first packet is not charged
        as busy (the core may serve other trees meanwhile); later RECVs hold the core. A
        packet that waits for its stage's core does not hold the network (as the host's
        input packets do not)."""
        t = trees[tid]
        st = t.stages[k]
        ci = parts_of[tid][k][0]
        core = cores[ci]
        offers: list[int] = []
        if k == 0:
            yield env.timeout(packet(acc, net.host, ci, in_flits[tid]) - env.now)
        else:
            offers.append((yield inboxes[k].get()))
            lead = isa.ISSUE_CYCLES
            for step in st.steps:
                if step.kind == "recv":
                    break
                lead += step.cycles
            if offers[0] - lead > env.now:
                yield env.timeout(offers[0] - lead - env.now)
        with core.resource.request() as turn:
            yield turn
            start = int(env.now)
            yield from prepare(tid, ci, st.weight_bytes, acc)
            for step in st.steps:
                if step.kind == "run":
                    yield env.timeout(step.cycles)
                    continue
                yield env.timeout(isa.ISSUE_CYCLES)
                if step.kind == "send":
                    sent = int(env.now)
                    flits = isa.HEADER_FLITS + step.words
                    d = deliver(acc, ci, parts_of[tid][step.dest][0], flits)
                    inboxes[step.dest].put(d.header_cycle)
                    yield env.timeout(max(sent + flits, d.source_free_cycle) - env.now)
                else:
                    offer = offers.pop(0) if offers else (yield inboxes[k].get())
                    if offer > env.now:
                        yield env.timeout(offer - env.now)
                    yield env.timeout(step.cycles - isa.ISSUE_CYCLES)
            end = int(env.now)
            core.last_end = end
            core.busy_starts.append(start)
            core.busy_ends.append(end)
            acc.pj[_LEAK] += (end - start) * leak
        if k == len(t.stages) - 1:
            acc.end = max(acc.end, packet(acc, ci, net.host, out_flits[tid]))
        acc.pending -= 1
        if acc.pending == 0:
            finish(rid, acc)

    def finish(rid: int, acc: Acc) -> None:
        sel = workload.requests[rid]
        for tid in sel:
            acc.nbytes[0] += weight_read_bytes[tid]
            acc.nbytes[1] += act_bytes[tid]
            for i, v in enumerate(base_pj[tid]):
                acc.pj[i] += v
        arrived = arrivals[rid]
        records[rid] = SystemRecord(
            request_id=rid, trees=tuple(sel), arrival_cycle=arrived, end_cycle=acc.end,
            latency_cycles=acc.end - arrived, latency_s=(acc.end - arrived) / cfg.clock_hz,
            energy_pj=dict(zip(SYSTEM_COMPONENTS, acc.pj, strict=True)),
            cores_woken=acc.woken, bytes_moved=dict(zip(BYTE_KINDS, acc.nbytes, strict=True)),
            weight_bytes_touched=sum(trees[t].weight_bytes for t in sel),
            network_wait_cycles=acc.net_wait, dram_queue_cycles=acc.dram_wait)
        bar.update()

    def host() -> Generator[simpy.Event, Any, None]:
        for rid, (at, sel) in enumerate(zip(arrivals, workload.requests, strict=True)):
            if at > env.now:
                yield env.timeout(at - env.now)
            # A split tree's stages each report their end; its last returns the output.
            acc = Acc(sum(max(1, len(trees[tid].stages)) for tid in sel))
            for tid in sel:
                if trees[tid].stages:
                    inboxes = [simpy.Store(env) for _ in trees[tid].stages]
                    for k in range(len(trees[tid].stages)):
                        env.process(stage(rid, tid, k, inboxes, acc))
                else:
                    env.process(job(rid, tid, acc))

    env.process(host())
    try:
        env.run()
    finally:
        bar.close()
    done = [r for r in records if r is not None]
    if len(done) != len(records):  # pragma: no cover - every process runs to its end
        raise SimError(f"{len(records) - len(done)} requests did not complete")
    return _result(cfg, done, arrivals, cores, net, dram, energies)


def _result(cfg: NFCoreConfig, records: list[SystemRecord], arrivals: Sequence[int],
            cores: dict[int, CoreState], net: Network, dram: DramChannel,
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
