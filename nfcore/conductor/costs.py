"""What a request cost: cycles, energy by component, cores, bytes, idle silicon.

Two cost models, both from the one timing contract (`nfcore.arch.isa.cycles`) and the one energy
table (`nfcore/sim/tables/energy`):

* `contract_cost` (backends golden and rtl): the request alone on an idle chip. Its trees
  run in parallel on their cores; latency is the slowest tree's measured program cycles (the
  golden model's count, or the RTL's `last_run_cycles`) plus its host I/O words (a word a
  cycle in, a word a cycle out). Energy is each tree's events (every executed instruction,
  LOOP bodies once per iteration, plus host I/O) times the per-event energies, with leakage
  over the core-cycles counted. Not modelled here, and reported as such: the network,
  DRAM paging and power-state wake-ups (use the sim backend); every core a tree runs on
  counts as woken (an upper bound: the golden model has no power states).
* `simulate_costs` (backend sim): the SimPy system model (`nfcore.sim.system.model`) serves the
  batch with the given arrival cycles from an idle chip with resident weights loaded at
  cycle 0; records come from it unchanged, including network, DRAM and wake-up energy.

`idle_silicon_share` of a request: 1 - (core-cycles its trees' programs were active) /
(mesh cores x its latency cycles): the share of the chip's silicon that did no work for it
while it was in flight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nfcore.arch import isa
from nfcore.conductor.tree_source import CompiledTree
from nfcore.config import NFCoreConfig
from nfcore.flows.system import arrival_interval_cycles
from nfcore.sim.arrivals import make_arrivals
from nfcore.sim.cost.events import Events, component_energy_pj, host_io_events, program_events
from nfcore.sim.cost.system_energy import SystemEnergies
from nfcore.sim.system.model import simulate_system
from nfcore.sim.system.workload import CoreProgram, PlacedTree, SystemWorkload, tree_from_chain

NOT_MODELLED = ("network", "dram", "wakeup")
"""Energy components `contract_cost` does not model (null in its records)."""


def unrolled(program: Sequence[isa.Instruction]) -> list[isa.Instruction]:
    """The instructions a run executes, in order: each LOOP followed by its body `count`
    times (the ISA has no nested loops and no branches, so this is every run's trace up to
    the address strides, which change no event count)."""
    out: list[isa.Instruction] = []
    k = 0
    while k < len(program):
        instr = program[k]
        out.append(instr)
        if instr.op is isa.Opcode.LOOP:
            out += list(program[k + 1 : k + 1 + instr.body]) * instr.count
            k += instr.body
        k += 1
    return out


@dataclass(frozen=True)
class TreeCost:
    """One tree's per-run figures by the timing contract, over all its cores."""

    tree_id: int
    coords: tuple[tuple[int, int], ...]
    core_cycles: tuple[int, ...]
    """Per core, its program's cycles without network waits."""
    program_events: Events
    """Every core's executed instructions."""
    io_events: Events
    """The host writing the input and reading the output."""
    weight_bytes: int
    macs: int
    input_bytes: int
    output_bytes: int
    resident: bool
    programs: tuple[CoreProgram, ...]
    """Per core, its (x, y) and program, in chain order."""
    lanes: int
    wbuf_words: int

    @classmethod
    def of(cls, tree: CompiledTree) -> TreeCost:
        tp = tree.program
        lanes = tp.lanes
        events, cycles, macs = Events(), [], 0
        for code in tp.cores:
            trace = unrolled(code.instructions())
            cycles.append(sum(isa.cycles(i, lanes) for i in trace))
            events += sum(program_events(code.instructions(), lanes, tree.wbuf_words), Events())
            for i in trace:
                if i.op is isa.Opcode.MATVEC:
                    macs += i.rows * i.cols
        io = host_io_events(tp.plan.input_len, tp.plan.output_len, lanes)
        return cls(tree.tree_id, tuple(tree.coords), tuple(cycles), events, io,
                   tree.weight_bytes, macs, tp.plan.input_len, tp.plan.output_len,
                   tree.resident, tuple((c.coord, c.instructions()) for c in tp.cores), lanes,
                   tree.wbuf_words)

    @property
    def events(self) -> Events:
        return self.program_events + self.io_events

    @property
    def io_cycles(self) -> int:
        return self.io_events.cycles

    @property
    def active_core_cycles(self) -> int:
        return sum(self.core_cycles)


@dataclass(frozen=True)
class RequestCost:
    """One request's cost. Energy in pJ by component; None where the model has no figure."""

    model: str
    latency_cycles: int
    latency_s: float
    energy_pj: dict[str, float | None]
    cores_woken: int
    bytes_moved: dict[str, int | None]
    weight_bytes_touched: int
    idle_silicon_share: float

    @property
    def energy_pj_total(self) -> float:
        return float(sum(v for v in self.energy_pj.values() if v is not None))

    def to_dict(self) -> dict[str, Any]:
        return {"cost_model": self.model, "cycles": self.latency_cycles,
                "latency_s": self.latency_s, "energy_pj": self.energy_pj,
                "energy_pj_total": self.energy_pj_total, "cores_woken": self.cores_woken,
                "bytes_moved": self.bytes_moved,
                "weight_bytes_touched": self.weight_bytes_touched,
                "idle_silicon_share": self.idle_silicon_share}


def _idle_share(cfg: NFCoreConfig, active_core_cycles: int, latency_cycles: int) -> float:
    n_cores = cfg.mesh.rows * cfg.mesh.cols
    if latency_cycles <= 0:
        return 1.0
    return max(0.0, 1.0 - active_core_cycles / (n_cores * latency_cycles))


def contract_cost(cfg: NFCoreConfig, energies: SystemEnergies, trees: Sequence[TreeCost],
                  measured_cycles: Sequence[int], model: str) -> RequestCost:
    """The cost of one request whose trees `trees` took `measured_cycles` (see module)."""
    lanes = cfg.core.lanes
    latency = max(c + t.io_cycles for t, c in zip(trees, measured_cycles, strict=True))
    events = Events()
    for t in trees:
        events += t.events
    comp: dict[str, float | None] = dict(component_energy_pj(events, energies.core))
    comp.update({c: None for c in NOT_MODELLED})
    cores = {xy for t in trees for xy in t.coords}
    nbytes: dict[str, int | None] = {
        "weight_sram": events.weight_word_reads * lanes,
        "activations": (events.act_word_reads + events.act_word_writes) * lanes
        + events.act_byte_writes,
        "flit_hops": None, "dram": None}
    return RequestCost(model, latency, latency / cfg.clock_hz, comp, len(cores), nbytes,
                       sum(t.weight_bytes for t in trees),
                       _idle_share(cfg, sum(t.active_core_cycles for t in trees), latency))


def simulate_costs(cfg: NFCoreConfig, trees: Sequence[TreeCost],
                   requests: Sequence[Sequence[int]], interval_cycles: float | None = None,
                   progress: bool = False) -> list[RequestCost]:
    """Serve `requests` (tree ids of `trees`) on the SimPy system model, arriving every
    `interval_cycles` (None: the interval that loads the busiest core or the host link to
    `nfcore.flows.system.HOT_UTILIZATION`, as `make sim` does; one request arrives at cycle 0).

    Only the trees named are placed (their ids re-indexed); a tree split over a chain of
    cores runs there stage by stage (`nfcore.sim.system.workload.tree_from_chain`).
    """
    index = {t.tree_id: i for i, t in enumerate(trees)}
    specs = []
    for i, t in enumerate(trees):
        if len(t.coords) != 1:
            specs.append(tree_from_chain(i, t.programs, t.lanes, t.input_bytes,
                                         t.output_bytes, t.resident, wbuf_words=t.wbuf_words))
            continue
        specs.append(PlacedTree(tree_id=i, core_xy=t.coords[0],
                                program_cycles=t.core_cycles[0], events=t.program_events,
                                weight_bytes=t.weight_bytes, macs=t.macs,
                                input_bytes=t.input_bytes, output_bytes=t.output_bytes,
                                resident=t.resident))
    reqs = tuple(tuple(index[t] for t in sel) for sel in requests)
    wl = SystemWorkload(tuple(specs), reqs, name="conductor")
    if interval_cycles is None:
        interval_cycles = arrival_interval_cycles(wl, cfg)
    arrivals = make_arrivals(len(reqs), "fixed", interval_cycles)
    result = simulate_system(cfg, wl, arrivals, progress=progress, desc="sim")
    out = []
    for rec, sel in zip(result.records, reqs, strict=True):
        active = sum(trees[i].active_core_cycles for i in sel)
        out.append(RequestCost(
            f"sim: SimPy system model (nfcore.sim.system.model), {len(reqs)} requests every "
            f"{interval_cycles:.0f} cycles from an idle chip at cycle 0",
            rec.latency_cycles, rec.latency_s, dict(rec.energy_pj), rec.cores_woken,
            dict(rec.bytes_moved), rec.weight_bytes_touched,
            _idle_share(cfg, active, rec.latency_cycles)))
    return out
