"""Several chips serving one forest, composed from the one-chip model (`chips` in the config).

The host is attached to chip 0's host port. A request that calls trees on chip k > 0 sends
their input packets, as one message, over the links from chip 0 to k (`topology` star: the one
link 0 -> k; chain: 0 -> 1 -> ... -> k, stored and forwarded at each chip), where they enter
chip k's host port; chip k's results come back as one message over the reverse links. Each
direction of each link is a FIFO server (`link.ChipLink`: bandwidth, latency, energy per bit).
A message crosses from chip 0's host interface to the link, not through chip 0's mesh (an
assumption: the link's port sits beside the host port).

Each chip is simulated by the one-chip model's entry point (`model.simulate_system`) on its own
trees and the part of each request that calls them, arriving when the link delivers it; a
request ends when the host holds every chip's results. So chips interact only through the
links' queues and the request's end; a message's bytes are its packets' flits (header
included) times `core.lanes`.

Not modelled: the links' protocol (framing, CRC, credits, retries), contention between a
link's traffic and the host port's on chip 0, leakage of a chip no request reaches, and each
chip's idle leakage past its own last request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from nfcore.arch import noc
from nfcore.config import NFCoreConfig
from nfcore.sim.core import SimError
from nfcore.sim.cost.energy import EnergyTable
from nfcore.sim.system.link import ChipLink
from nfcore.sim.system.model import SystemRecord, SystemResult, simulate_system
from nfcore.sim.system.workload import PlacedTree, SystemWorkload, chain_cycles

LINK_COMPONENT = "chip_link"
"""The energy component (and byte kind) of the chip-to-chip links in a record."""

Link = tuple[int, int]
"""A link direction: (from chip, to chip)."""


def place_tree(tree: PlacedTree, xys: Sequence[tuple[int, int]]) -> PlacedTree:
    """`tree`, resident, with its cores (one per part, in chain order) moved to `xys`; a split
    tree's contention-free cycles are counted again for the new cores (`chain_cycles`)."""
    if not tree.stages:
        return replace(tree, core_xy=xys[0], resident=True)
    stages = tuple(replace(s, core_xy=xy) for s, xy in zip(tree.stages, xys, strict=True))
    return replace(tree, core_xy=xys[0], resident=True, stages=stages,
                   program_cycles=chain_cycles(stages)[-1])


@dataclass(frozen=True)
class ChipsWorkload:
    """A forest over chips: `forest` holds every tree (global ids, each placed on its own
    chip's mesh) and the requests; `chip_of[t]` is tree t's chip."""

    forest: SystemWorkload
    chip_of: tuple[int, ...]
    count: int

    def on_chip(self, k: int) -> tuple[SystemWorkload, list[int]]:
        """Chip k's workload (its trees, renumbered in id order, and the requests that call
        them, each with only its trees on k) and the global index of each of its requests."""
        ids = [t for t, c in enumerate(self.chip_of) if c == k]
        local = {t: i for i, t in enumerate(ids)}
        trees = tuple(replace(self.forest.trees[t], tree_id=i) for i, t in enumerate(ids))
        rids, requests = [], []
        for r, sel in enumerate(self.forest.requests):
            mine = tuple(local[t] for t in sel if t in local)
            if mine:
                rids.append(r)
                requests.append(mine)
        wl = SystemWorkload(trees, tuple(requests), name=f"{self.forest.name}-chip{k}",
                            notes=self.forest.notes)
        return wl, rids


def link_path(topology: str, k: int) -> list[Link]:
    """The links from chip 0 to chip k, in order (empty for chip 0)."""
    if k == 0:
        return []
    if topology == "star":
        return [(0, k)]
    return [(j, j + 1) for j in range(k)]


@dataclass
class _Message:
    request: int
    chip: int
    nbytes: int
    path: list[Link]
    ready: int
    energy_pj: float = 0.0
    wait_cycles: int = 0


@dataclass
class ChipsResult:
    """A multi-chip run: the requests end to end, each chip's own run, the links' totals."""

    records: list[SystemRecord]
    chips: list[SystemResult]
    links: dict[Link, ChipLink]
    requests_per_chip: list[int]
    crossing: int
    """Requests that called a tree off chip 0."""
    link_wait_cycles: list[int]
    """Per request, its messages' cycles queued at links."""

    def merged(self, cfg: NFCoreConfig) -> SystemResult:
        """One `SystemResult` of the whole system: the end-to-end records, per-core arrays
        stacked chip by chip along the rows, totals summed; `energies` and `plan` are the
        host chip's."""
        span = max((r.end_cycle for r in self.records), default=0)
        host = self.chips[0]

        def total(key: str) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for c in self.chips:
                for k, v in getattr(c, key).items():
                    out[k] = out.get(k, 0) + v
            return out

        return SystemResult(
            records=self.records, span_cycles=span,
            throughput_rps=len(self.records) / (span / cfg.clock_hz) if span else 0.0,
            core_busy_cycles=np.vstack([c.core_busy_cycles for c in self.chips]),
            router_flits=np.vstack([c.router_flits for c in self.chips]),
            busy_intervals=(np.concatenate([c.busy_intervals[0] for c in self.chips]),
                            np.concatenate([c.busy_intervals[1] for c in self.chips])),
            n_cores=sum(c.n_cores for c in self.chips),
            power_cycles=total("power_cycles"), wakes=sum(c.wakes for c in self.chips),
            idle_leakage_pj=sum(c.idle_leakage_pj for c in self.chips),
            network=total("network"), dram=total("dram"), energies=host.energies,
            clock_hz=cfg.clock_hz, plan=host.plan)

    def summary(self, cfg: NFCoreConfig, workload: ChipsWorkload) -> dict[str, Any]:
        """The report's `chips` section (JSON-serialisable)."""
        n = len(self.records)
        link_bytes = [r.bytes_moved[LINK_COMPONENT] for r in self.records]
        lat = np.array([r.latency_cycles for r in self.records], dtype=float)
        wait = float(np.mean(self.link_wait_cycles)) if n else 0.0
        trees = workload.forest.trees
        return {
            "count": cfg.chips.count, "topology": cfg.chips.topology,
            "link": {**cfg.chips.link.__dict__,
                     "source": "UCIe 1.0 standard package (Das Sharma et al., IEEE Trans. "
                               "CPMT 2022) unless the config says otherwise; serialization "
                               "and queueing modelled, not the protocol"},
            "trees_per_chip": [workload.chip_of.count(k) for k in range(workload.count)],
            "weight_bytes_per_chip": [sum(t.weight_bytes for t, c in zip(
                trees, workload.chip_of, strict=True) if c == k) for k in range(workload.count)],
            "requests_per_chip": self.requests_per_chip,
            "requests_crossing": self.crossing,
            "share_crossing": self.crossing / n if n else 0.0,
            "per_request": {
                "link_bytes": float(np.mean(link_bytes)) if n else 0.0,
                "link_wait_cycles": wait,
                "link_wait_s": wait / cfg.clock_hz,
                "link_energy_pj": float(np.mean([r.energy_pj[LINK_COMPONENT]
                                                 for r in self.records])) if n else 0.0,
            },
            "links": [{"from": a, "to": b, **lk.summary()}
                      for (a, b), lk in sorted(self.links.items())],
            "latency_cycles_p99_end_to_end": float(np.percentile(lat, 99)) if n else 0.0,
            "latency_cycles_p99_per_chip": [
                float(np.percentile(c.latencies_cycles(), 99)) if c.records else None
                for c in self.chips],
        }


def simulate_chips(cfg: NFCoreConfig, workload: ChipsWorkload, arrivals: Sequence[int],
                   table: EnergyTable | None = None, progress: bool = False) -> ChipsResult:
    """Serve `workload.forest.requests` arriving at `arrivals` (cycles) on the chips."""
    if len(arrivals) != len(workload.forest.requests):
        raise SimError(f"{len(arrivals)} arrival times for {len(workload.forest.requests)} "
                       "requests")
    lanes, topology = cfg.core.lanes, cfg.chips.topology
    trees = workload.forest.trees
    links: dict[Link, ChipLink] = {lk: ChipLink(cfg.chips.link, cfg.clock_hz)
                                   for k in range(1, workload.count)
                                   for lk in link_path(topology, k) + _reverse(topology, k)}
    forward: dict[tuple[int, int], _Message] = {}
    for r, sel in enumerate(workload.forest.requests):
        for k in sorted({workload.chip_of[t] for t in sel} - {0}):
            nbytes = lanes * sum(noc.packet_flits(trees[t].input_bytes, lanes)
                                 for t in sel if workload.chip_of[t] == k)
            forward[r, k] = _Message(r, k, nbytes, link_path(topology, k), arrivals[r])
    _pass(links, list(forward.values()))
    chips: list[SystemResult] = []
    per_chip: list[dict[int, SystemRecord]] = []
    for k in range(workload.count):
        wl, rids = workload.on_chip(k)
        at = [arrivals[r] if k == 0 else forward[r, k].ready for r in rids]
        order = sorted(range(len(rids)), key=lambda i: (at[i], rids[i]))
        wl = replace(wl, requests=tuple(wl.requests[i] for i in order))
        res = simulate_system(cfg, wl, [at[i] for i in order], table, progress=progress,
                              desc=f"chip {k}")
        chips.append(res)
        per_chip.append({rids[i]: rec for i, rec in zip(order, res.records, strict=True)})
    back: dict[tuple[int, int], _Message] = {}
    for (r, k), fwd in forward.items():
        rec = per_chip[k][r]
        nbytes = lanes * sum(noc.packet_flits(trees[t].output_bytes, lanes)
                             for t in workload.forest.requests[r] if workload.chip_of[t] == k)
        back[r, k] = _Message(r, k, nbytes, _reverse(topology, k), rec.end_cycle,
                              wait_cycles=fwd.wait_cycles, energy_pj=fwd.energy_pj)
    _pass(links, list(back.values()))
    records, waits = [], []
    for r, sel in enumerate(workload.forest.requests):
        parts = [(k, per_chip[k][r]) for k in range(workload.count) if r in per_chip[k]]
        msgs = [(forward[r, k], back[r, k]) for k, _ in parts if k]
        records.append(_record(cfg, r, sel, arrivals[r], parts, msgs))
        waits.append(sum(b.wait_cycles for _, b in msgs))
    return ChipsResult(records, chips, links, [len(p) for p in per_chip],
                       sum(any(workload.chip_of[t] for t in sel)
                           for sel in workload.forest.requests), waits)


def _reverse(topology: str, k: int) -> list[Link]:
    return [(b, a) for a, b in reversed(link_path(topology, k))]


def _pass(links: dict[Link, ChipLink], messages: list[_Message]) -> None:
    """Pass every message along its path: each link serves its messages in order of their
    ready cycle (ties: request order); links are taken in the order messages cross them
    (outward from chip 0 by their sending chip, inward towards it the other way)."""
    order = sorted({lk for m in messages for lk in m.path},
                   key=lambda lk: lk[0] if lk[0] < lk[1] else -lk[0])
    for lk in order:
        for m in sorted((m for m in messages if lk in m.path),
                        key=lambda m: (m.ready, m.request)):
            tr = links[lk].send(m.ready, m.nbytes)
            m.ready = tr.arrival_cycle
            m.energy_pj += tr.energy_pj
            m.wait_cycles += tr.wait_cycles


def _record(cfg: NFCoreConfig, r: int, sel: tuple[int, ...], arrival: int,
            parts: list[tuple[int, SystemRecord]],
            msgs: list[tuple[_Message, _Message]]) -> SystemRecord:
    """Request r end to end: its chips' records summed, its link messages added, ending
    when the last chip's results reach the host."""
    end = max([rec.end_cycle for k, rec in parts if k == 0] + [b.ready for _, b in msgs])
    energy: dict[str, float] = {}
    moved: dict[str, int] = {}
    for _, rec in parts:
        for key, v in rec.energy_pj.items():
            energy[key] = energy.get(key, 0.0) + v
        for key, b in rec.bytes_moved.items():
            moved[key] = moved.get(key, 0) + b
    energy[LINK_COMPONENT] = sum(b.energy_pj for _, b in msgs)
    moved[LINK_COMPONENT] = sum(f.nbytes + b.nbytes for f, b in msgs)
    recs = [rec for _, rec in parts]
    return SystemRecord(
        request_id=r, trees=tuple(sel), arrival_cycle=arrival, end_cycle=end,
        latency_cycles=end - arrival, latency_s=(end - arrival) / cfg.clock_hz,
        energy_pj=energy, cores_woken=sum(x.cores_woken for x in recs), bytes_moved=moved,
        weight_bytes_touched=sum(x.weight_bytes_touched for x in recs),
        dram_queue_cycles=sum(x.dram_queue_cycles for x in recs))
