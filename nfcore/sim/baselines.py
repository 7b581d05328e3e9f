"""Baselines, run on the same requests as NF-Core and printed beside it.

(a) `all_trees`: the same forest with every tree evaluated for every request (no routing),
    simulated by the system model on the same chip: what routing saves.
(b) `monolith_nfcore_dram`: a monolithic network on NF-Core with its weights streamed from
    DRAM for every inference (batch 1): what residency saves. Analytic, below.
(c) `gpu_sweep`: the monolith on a GPU (H100, H200) at every batch size, with kernels
    launched in a stream or as a persistent kernel: roofline time, idle power while the GPU
    works plus the dynamic energy of its weight reads (L2 when they fit, else HBM), I/O and
    MACs priced at the GPU's node; the batch-fill wait at the run's arrival rate is added
    to latency, and `best_batches` picks the batch of least energy that keeps up.
(d) `floors`: the MAC energy of the MACs the selected trees need, and that plus one read of
    every weight byte touched from the smallest SRAM bank that holds its tree: the least a
    weight-stationary chip can spend at batch 1.

The monolith is an explicit input (`MonolithSpec`: parameter bytes at int8, MACs per
inference, layers). GPU figures come from `tables/baselines/gpus.yaml` (datasheets; launch
overhead and idle power are stated parameters); every row carries the node it is priced at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from nfcore.arch import noc
from nfcore.config import NFCoreConfig, read_yaml
from nfcore.errors import ConfigError, NFCoreError
from nfcore.sim.cost.energy import EnergyTable
from nfcore.sim.cost.events import Events, component_energy_pj, matvec_events
from nfcore.sim.cost.nodes import node_scaling
from nfcore.sim.cost.system_energy import SystemEnergies
from nfcore.sim.system.dram import DramChannel
from nfcore.sim.system.model import SystemResult, simulate_system
from nfcore.sim.system.workload import SystemWorkload

GPU_TABLE = Path(__file__).resolve().parent / "tables" / "baselines" / "gpus.yaml"
BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class BaselineError(NFCoreError):
    """A baseline's input (GPU table, monolith size) is invalid."""


@dataclass(frozen=True)
class Baseline:
    """One row of the side-by-side table. `latency_s` is None for floors (no time)."""

    name: str
    energy_pj_per_inference: float
    latency_s: float | None
    notes: str
    kind: str = "baseline"
    """`nfcore` (the forest as simulated), `baseline` (a competitor on NF-Core), `gpu` (a
    competitor on a GPU), or `floor`."""
    by_component: dict[str, float] = field(default_factory=dict)
    node_nm: int | None = None
    """Technology node the row's energies are priced at."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name,
                               "energy_pj_per_inference": self.energy_pj_per_inference,
                               "latency_s": self.latency_s, "notes": self.notes,
                               "kind": self.kind, "node_nm": self.node_nm}
        if self.by_component:
            out["by_component"] = dict(self.by_component)
        return out


@dataclass(frozen=True)
class MonolithSpec:
    """A dense int8 network: `param_bytes` weights (one byte each), `macs` per inference."""

    param_bytes: int
    macs: int
    layers: int = 4
    input_bytes: int = 64
    output_bytes: int = 16
    notes: str = ""
    matvecs: tuple[tuple[int, int, int], ...] = ()
    """Its layers as matrix-vector products (rows, cols, times per inference); a convolution
    is one per output position, a recurrent cell one per step. Empty: shapes unknown, and
    the MACs are charged as one row of `macs` columns (least padding, one requant)."""

    def __post_init__(self) -> None:
        for name in ("param_bytes", "macs", "layers", "input_bytes", "output_bytes"):
            if getattr(self, name) < 1:
                raise BaselineError(f"monolith {name} = {getattr(self, name)}; must be >= 1")
        if any(len(m) != 3 or min(m) < 1 for m in self.matvecs):
            raise BaselineError(f"monolith matvecs = {self.matvecs}; each is (rows, cols, "
                                "times), all >= 1")

    def events(self, lanes: int) -> Events:
        """Datapath events of one inference on `lanes` lanes, as the core counts them."""
        total = Events()
        for rows, cols, times in self.matvecs or ((1, self.macs, 1),):
            one = matvec_events(rows, cols, lanes)
            total += Events(*(times * v for v in one.astuple()))
        return total


@dataclass(frozen=True)
class GpuSpec:
    name: str
    node_nm: int
    hbm_bytes: float
    hbm_bandwidth_bytes_per_s: float
    int8_ops_per_s_dense: float
    board_power_w: float
    l2_bytes: float
    source: str


@dataclass(frozen=True)
class GpuTable:
    gpus: tuple[GpuSpec, ...]
    kernel_launch_overhead_s: float
    """Launch gap per kernel (one kernel per monolith layer) for kernels launched in a stream."""
    persistent_launch_overhead_s: float
    """The same with a persistent kernel or a whole-network CUDA graph."""
    idle_power_w: float
    parameters: tuple[dict[str, Any], ...]
    path: Path

    def launch_modes(self) -> dict[str, float]:
        """Launch overhead per kernel in s, by launch mode."""
        return {"stream": self.kernel_launch_overhead_s,
                "persistent": self.persistent_launch_overhead_s}


_GPU_NUMERIC = ("hbm_bytes", "hbm_bandwidth_bytes_per_s", "int8_ops_per_s_dense",
                "board_power_w", "l2_bytes")
_GPU_PARAMETERS = ("kernel_launch_overhead_s", "persistent_launch_overhead_s", "idle_power_w")


def load_gpu_table(path: str | Path = GPU_TABLE) -> GpuTable:
    """Load and check the GPU table; `BaselineError` names the file and entry at fault."""
    path = Path(path)
    try:
        data = read_yaml(path)
    except (OSError, ConfigError) as exc:
        raise BaselineError(f"{path}: cannot read GPU table: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("gpus"), list):
        raise BaselineError(f"{path}: a GPU table is a mapping with a list under 'gpus'")
    gpus = []
    for i, g in enumerate(data["gpus"]):
        where = f"{path}: gpus[{i}]"
        if not isinstance(g, dict) or not str(g.get("source", "")).strip():
            raise BaselineError(f"{where}: every GPU needs a 'source'")
        for key in _GPU_NUMERIC:
            v = g.get(key)
            if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
                raise BaselineError(f"{where}: {key} must be a number > 0, got {v!r}")
        node = g.get("node_nm")
        if isinstance(node, bool) or not isinstance(node, int) or node <= 0:
            raise BaselineError(f"{where}: node_nm must be an integer > 0, got {node!r}")
        gpus.append(GpuSpec(name=str(g["name"]), node_nm=node,
                            source=" ".join(str(g["source"]).split()),
                            **{k: float(g[k]) for k in _GPU_NUMERIC}))
    params = {p.get("name"): p for p in data.get("parameters", []) if isinstance(p, dict)}
    for key in _GPU_PARAMETERS:
        p = params.get(key)
        if p is None or not isinstance(p.get("value"), int | float) or p["value"] < 0 \
                or not str(p.get("source", "")).strip():
            raise BaselineError(f"{path}: parameter {key!r} needs a value >= 0 and a source")
    launch, persistent, idle = (float(params[k]["value"]) for k in _GPU_PARAMETERS)
    return GpuTable(tuple(gpus), launch, persistent, idle, tuple(params.values()), path)


@dataclass(frozen=True)
class GpuEnergies:
    """Dynamic energies of a GPU at its node, from the energy table and the node model."""

    hbm_pj_per_byte: float
    """`hbm_pj_per_bit` x 8 (off-chip: not moved with the node)."""
    l2_pj_per_byte: float
    """The table's SRAM read energy for an array of the L2's size (clamped at the table's
    largest point, 1 MiB: an under-estimate for a 50 MB L2), per byte, moved to the GPU's
    node."""
    mac_pj: float
    """One int8 multiply and one 32-bit add, moved to the GPU's node (no operand delivery:
    an under-estimate of a tensor core's MAC)."""

    @classmethod
    def of(cls, gpu: GpuSpec, table: EnergyTable) -> GpuEnergies:
        node = node_scaling(table.node_nm, gpu.node_nm)
        return cls(
            hbm_pj_per_byte=8 * table.value("hbm_pj_per_bit") * node.row_factor("hbm_pj_per_bit"),
            l2_pj_per_byte=node.logic * table.sram_read_64b_pj(int(gpu.l2_bytes)) / 8,
            mac_pj=node.logic * (table.value("mult_int8") + table.value("add_int32")))


@dataclass(frozen=True)
class GpuPoint:
    """The monolith at one batch size on one GPU with one launch mode, at an arrival rate."""

    gpu: str
    node_nm: int
    launch: str
    """`stream` (a launch gap per layer) or `persistent` (none)."""
    batch: int
    weights_from: str
    """`L2` when the monolith's weights fit the GPU's L2, else `HBM`."""
    fill_wait_s: float
    """Mean wait for the batch to fill at the arrival rate: (batch - 1) / (2 rate)."""
    service_s: float
    """Launch gaps plus the roofline time of the batch's kernels."""
    latency_s: float
    """fill_wait_s + service_s: the mean latency of an inference of the batch."""
    keeps_up: bool
    """Whether a batch is served before the next one has filled (service_s <= batch / rate)."""
    energy_pj_per_inference: float
    dynamic_pj_per_inference: float
    """Weight reads (L2 or HBM), input/output HBM traffic and MACs; the rest is idle power."""
    bound: str
    """`memory` or `compute`: which roof the batch hits."""


def gpu_point(gpu: GpuSpec, mono: MonolithSpec, batch: int, launch: str, launch_s: float,
              idle_w: float, e: GpuEnergies, rate_per_s: float | None) -> GpuPoint:
    """One batch of `batch` inferences of `mono` on `gpu`.

    bytes = weights once per batch + inputs and outputs of every inference; t_memory =
    bytes / HBM bandwidth (weights read from L2 are timed at the HBM bandwidth too: an upper
    bound); t_compute = 2 * macs * batch / int8 ops per s (a MAC is two ops); service =
    layers * launch_s + max(t_memory, t_compute).
    Energy per batch = idle_w * service + weight bytes * (L2 or HBM pJ per byte) + I/O bytes
    * HBM pJ per byte + macs * batch * MAC pJ; per inference, divided by the batch.
    At `rate_per_s` requests per second an inference waits (batch - 1) / (2 rate) on average
    for its batch to fill (0 without a rate); idle power is not charged for that wait.
    """
    if batch < 1:
        raise BaselineError(f"batch = {batch}; must be >= 1")
    io_bytes = batch * (mono.input_bytes + mono.output_bytes)
    t_mem = (mono.param_bytes + io_bytes) / gpu.hbm_bandwidth_bytes_per_s
    t_cmp = 2.0 * mono.macs * batch / gpu.int8_ops_per_s_dense
    service = mono.layers * launch_s + max(t_mem, t_cmp)
    in_l2 = mono.param_bytes <= gpu.l2_bytes
    dynamic_pj = (mono.param_bytes * (e.l2_pj_per_byte if in_l2 else e.hbm_pj_per_byte)
                  + io_bytes * e.hbm_pj_per_byte + mono.macs * batch * e.mac_pj)
    fill = fill_wait_s(batch, rate_per_s)
    return GpuPoint(
        gpu.name, gpu.node_nm, launch, batch, "L2" if in_l2 else "HBM", fill, service,
        fill + service, rate_per_s is None or service <= batch / rate_per_s,
        (idle_w * service * 1e12 + dynamic_pj) / batch, dynamic_pj / batch,
        "memory" if t_mem >= t_cmp else "compute")


def fill_wait_s(batch: int, rate_per_s: float | None) -> float:
    """Mean time an inference waits for a batch of `batch` to fill at Poisson rate
    `rate_per_s`: arrivals are spread evenly over the fill, so (batch - 1) / (2 rate)."""
    return 0.0 if rate_per_s is None else (batch - 1) / (2.0 * rate_per_s)


def gpu_sweep(table: GpuTable, mono: MonolithSpec, energy_table: EnergyTable,
              rate_per_s: float | None = None,
              batches: tuple[int, ...] = BATCHES) -> list[GpuPoint]:
    """Every GPU of `table`, every launch mode, at every batch size."""
    for g in table.gpus:
        if mono.param_bytes > g.hbm_bytes:
            raise BaselineError(f"monolith of {mono.param_bytes} bytes does not fit {g.name}'s "
                                f"{g.hbm_bytes:g} bytes of HBM")
    energies = {g.name: GpuEnergies.of(g, energy_table) for g in table.gpus}
    return [gpu_point(g, mono, b, mode, launch_s, table.idle_power_w, energies[g.name],
                      rate_per_s)
            for g in table.gpus for mode, launch_s in table.launch_modes().items()
            for b in batches]


def best_batches(points: list[GpuPoint]) -> list[GpuPoint]:
    """Per GPU and launch mode, the point of least energy per inference among those that keep
    up with the arrival rate (all points if none does)."""
    out = []
    for key in dict.fromkeys((p.gpu, p.launch) for p in points):
        group = [p for p in points if (p.gpu, p.launch) == key]
        feasible = [p for p in group if p.keeps_up] or group
        out.append(min(feasible, key=lambda p: p.energy_pj_per_inference))
    return out


def gpu_row(p: GpuPoint, why: str) -> Baseline:
    """A GPU point as a table row."""
    launch = ("stream launches" if p.launch == "stream"
              else "persistent kernel (no launch gaps)")
    return Baseline(
        f"monolith on {p.gpu}, {launch}, batch {p.batch}", p.energy_pj_per_inference,
        p.latency_s,
        f"{why}; weights from {p.weights_from}; {p.bound}-bound roofline; latency = batch "
        f"fill {p.fill_wait_s * 1e6:,.2f} us + service {p.service_s * 1e6:,.2f} us; dynamic "
        f"{p.dynamic_pj_per_inference:,.0f} pJ, the rest idle power"
        + ("" if p.keeps_up else "; does NOT keep up with the arrival rate"),
        kind="gpu", node_nm=p.node_nm)


def monolith_nfcore_dram(cfg: NFCoreConfig, e: SystemEnergies,
                         mono: MonolithSpec) -> Baseline:
    """The monolith on this NF-Core chip with every weight streamed from DRAM per inference.

    Weights enter at the DRAM port and spread evenly over all cores (mean hops from the DRAM
    router); each weight byte is read from DRAM, carried over the mesh, written into and read
    once from a weight SRAM. The MACs and scratchpad traffic are charged as the simulated
    core charges them (`MonolithSpec.events`: padded lanes, adder tree, accumulator, requant,
    through `events.component_energy_pj`). Latency: DRAM latency plus the slowest of DRAM
    transfer, the DRAM port's one flit per cycle, and the MACs spread over every lane, plus
    the mean hop latency. Every core leaks over that time.
    """
    lanes, rows, cols = cfg.core.lanes, cfg.mesh.rows, cfg.mesh.cols
    n_cores = rows * cols
    mean_hops = float(np.mean([noc.hops(noc.DRAM_ROUTER, (x, y))
                               for y in range(rows) for x in range(cols)]))
    packets = noc.transfer_packets(mono.param_bytes, lanes)
    flits = sum(packets)
    words = math.ceil(mono.param_bytes / lanes)
    dram = DramChannel.of(cfg)
    c = e.core
    cycles = dram.latency_cycles + max(dram.transfer_cycles(mono.param_bytes), flits,
                                       math.ceil(mono.macs / (n_cores * lanes))) \
        + math.ceil(mean_hops * noc.ROUTER_HOP_CYCLES)
    core = component_energy_pj(mono.events(lanes), c)
    by = {
        "mac": core["mac"],
        "weight_sram": words * (e.weight_word_write_pj + c.weight_word_read_pj),
        "act_sram": core["act_sram"],
        "control": 0.0,
        "network": flits * (mean_hops * e.wire_pj_per_flit_hop
                            + (mean_hops + 1) * e.router_pj_per_flit),
        "dram": mono.param_bytes * e.dram_pj_per_byte,
        "leakage": cycles * n_cores * c.leakage_pj_per_cycle,
        "wakeup": 0.0,
    }
    return Baseline(
        "monolith on NF-Core, weights from DRAM", float(sum(by.values())),
        cycles / cfg.clock_hz,
        f"{mono.param_bytes:,} weight bytes streamed per inference (batch 1) over "
        f"dram.kind = {cfg.dram.kind} at {cfg.dram.bandwidth_gbps:g} Gb/s and the DRAM "
        f"port's one {lanes}-byte flit per cycle; analytic", by_component=by,
        node_nm=cfg.technology.node_nm)


def floors(cfg: NFCoreConfig, e: SystemEnergies, workload: SystemWorkload,
           table: EnergyTable) -> list[Baseline]:
    """Floors for the requests of `workload`, counted as the core counts them: the MAC
    energy (one int8 multiply and one 32-bit add per MAC) of the trees each request touches,
    and that plus every weight byte of those trees read once from the smallest bank that
    holds the tree (a 64-bit read of an array of the tree's weight bytes, per byte), priced
    at the config's node and scale."""
    c = e.core
    scale = c.energy_scale * c.node_factor
    per_tree_read_pj = [t.weight_bytes * scale * table.sram_read_64b_pj(t.weight_bytes) / 8
                        for t in workload.trees]
    macs = np.mean([sum(workload.trees[t].macs for t in sel) for sel in workload.requests])
    wbytes = np.mean([sum(workload.trees[t].weight_bytes for t in sel)
                      for sel in workload.requests])
    read_pj = float(np.mean([sum(per_tree_read_pj[t] for t in sel)
                             for sel in workload.requests]))
    mac_pj = float(macs) * (c.mult_int8_pj + c.add_int32_pj)
    node = cfg.technology.node_nm
    return [
        Baseline("floor: MAC energy", mac_pj, None,
                 f"{macs:,.0f} MACs per request x {c.mult_int8_pj + c.add_int32_pj:.4g} pJ",
                 kind="floor", node_nm=node),
        Baseline("floor: MAC + each weight byte read once from the smallest bank",
                 mac_pj + read_pj, None,
                 f"plus {wbytes:,.0f} weight bytes per request, each tree's read once from an "
                 f"SRAM of its own size: {read_pj:,.0f} pJ", kind="floor", node_nm=node),
    ]


def nfcore_row(name: str, result: SystemResult, notes: str, node_nm: int,
               kind: str = "nfcore") -> Baseline:
    """A system simulation as a table row: mean energy per request, including the run's
    idle-silicon leakage spread over its requests, and median latency."""
    recs = result.records
    by = {k: float(np.mean([r.energy_pj[k] for r in recs])) for k in recs[0].energy_pj}
    by["leakage"] += result.idle_leakage_pj / len(recs)
    return Baseline(name, float(sum(by.values())),
                    float(np.median([r.latency_s for r in recs])), notes, kind=kind,
                    by_component=by, node_nm=node_nm)


def all_trees(cfg: NFCoreConfig, workload: SystemWorkload, table: EnergyTable | None = None,
              requests: int = 2, progress: bool = False) -> Baseline:
    """Every tree evaluated for `requests` requests, one at a time (no queueing between
    them: each arrives after the previous one has finished), on the same chip and placement."""
    every = tuple(range(len(workload.trees)))
    one = replace(workload, requests=(every,), name=f"{workload.name}-all-trees")
    single = simulate_system(cfg, one, [0], table, progress=False)
    gap = single.records[0].latency_cycles + 1
    many = replace(one, requests=(every,) * requests)
    result = simulate_system(cfg, many, [i * gap for i in range(requests)], table,
                             progress=progress, desc="all trees")
    return nfcore_row("forest, every tree evaluated (no routing)", result,
                      f"{len(every)} trees per request, {requests} isolated requests, "
                      "simulated", cfg.technology.node_nm, kind="baseline")


TIE_REL_TOL = 0.005
"""Two figures within this relative distance are reported as a tie, not a win or a loss."""


def verdicts(nfcore: Baseline, rows: list[Baseline]) -> list[str]:
    """Sentences comparing NF-Core with each competitor and floor of `rows`, generated from the
    numbers: where it loses (more energy or more latency) and by how much, and how far it is
    above each floor. A row is compared with the NF-Core row of `rows` priced at the same
    node when there is one (`kind` "nfcore"), else with `nfcore`; the node is then named."""
    at_node = {b.node_nm: b for b in rows if b.kind == "nfcore"}
    out = []
    for b in rows:
        if b.kind == "nfcore":
            continue
        ours = at_node.get(b.node_nm, nfcore)
        who = "NF-Core" if ours is nfcore else f"NF-Core (at {ours.node_nm} nm)"
        if b.kind == "floor":
            ratio = ours.energy_pj_per_inference / b.energy_pj_per_inference
            out.append(f"{who} spends {ratio:,.1f}x the {b.name} "
                       f"({b.energy_pj_per_inference:,.0f} pJ).")
            continue
        for metric, mine, theirs, unit in (
                ("energy per inference", ours.energy_pj_per_inference,
                 b.energy_pj_per_inference, "pJ"),
                ("latency", ours.latency_s, b.latency_s, "s")):
            if mine is None or theirs is None or theirs <= 0 or mine <= 0:
                continue
            if math.isclose(mine, theirs, rel_tol=TIE_REL_TOL):
                out.append(f"{who} ties with {b.name} on {metric}: {_fmt(mine, unit)} vs "
                           f"{_fmt(theirs, unit)} (within {TIE_REL_TOL:.1%}).")
            elif mine > theirs:
                out.append(f"{who} LOSES to {b.name} on {metric}: {_fmt(mine, unit)} vs "
                           f"{_fmt(theirs, unit)} ({mine / theirs:,.2f}x worse).")
            else:
                out.append(f"{who} beats {b.name} on {metric}: {_fmt(mine, unit)} vs "
                           f"{_fmt(theirs, unit)} ({theirs / mine:,.2f}x better).")
    return out


def _fmt(value: float, unit: str) -> str:
    return f"{value:,.0f} pJ" if unit == "pJ" else f"{value:.3g} s"
