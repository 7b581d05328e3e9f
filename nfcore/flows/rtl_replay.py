"""`make sim`'s RTL check: a slice of the run's own forest and requests, served on the array
RTL under Verilator and on the exact model, compared request by request.

The slice (`forest_slice`) is the corner of the run's chip next to the host port,
`SLICE_MESH` (or the whole chip if it is smaller), with what the run put there:

* trees: the resident trees whose cores all lie in the corner, most requested first, one
  per core (a core runs one loaded program; the chip writes the selected tree's slot
  before RUN, which the host dispatch does not model yet); each keeps its compiled weights
  at their base word and its relocated program, wrapped with the host RECV of its input and
  SEND of its result (`nfcore.compiler.lower.host_io.serve_chain`, tag: its index in the
  slice). A split tree keeps its chain of cores.
* requests: the run's requests in order, each calling the slice's trees among its router
  picks (requests that pick none are left out), with the run's inputs (the test row's stem
  features, quantized and packed as the host sends them).
* arrivals: the run's arrival cycles (the system model's), moved to start at 0 and scaled
  so that the slice's busiest resource, a core or the host link, is offered
  `REPLAY_UTILIZATION` of its cycles: the slice has a few of the chip's trees, so at the
  run's own rate its packets would hardly meet.

`check_slice` serves the slice on the exact model (`nfcore.sim.net.dispatch.run_requests`,
golden cores) and on the RTL (`nfcore.eda.array_tb.run_array_replay`) and compares every
request's completion cycle and outputs (`dispatch.compare`).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nfcore.arch import isa
from nfcore.compiler.images.forest_image import ForestImage, ForestTree, relocate
from nfcore.compiler.lower.host_io import serve_chain
from nfcore.compiler.lower.program import program_cycles
from nfcore.config import MeshConfig, NFCoreConfig
from nfcore.eda.array_tb import run_array_replay
from nfcore.eda.replay_job import CoreLoad, states
from nfcore.errors import CompileError, ExecutionError
from nfcore.sim.net.dispatch import Agreement, HostRequest, TreeCall, collect, compare, run_requests

Coord = tuple[int, int]

SLICE_MESH = (4, 4)
"""Rows and columns of the replayed corner, the issue's choice. Its Verilator build (default
core) takes 136 s of compiler CPU (measured 2026-12-03; 8.7 to 19 minutes wall on the shared
2-core machine at load averages of 10 to 17), once per build key (cached in
`build/rtl_array/`); a replay of 150 requests about a minute (Python per cycle)."""

REPLAY_UTILIZATION = 0.8
"""Offered load of the slice's busiest resource after the arrivals are scaled: an
assumption, high enough that packets meet at the host port and on links."""


@dataclass(frozen=True, eq=False)
class ReplaySlice:
    """Trees and requests of a run, on a small mesh, as the host serves them."""

    cfg: NFCoreConfig
    """The run's config on the slice's mesh."""
    loads: dict[Coord, CoreLoad]
    requests: tuple[HostRequest, ...]
    trees: dict[int, Coord]
    """Tree id -> its first core, for the trees on the slice."""
    run_requests: tuple[int, ...]
    """Each request's index among the run's requests."""
    arrival_scale: float
    """Factor from the run's arrival cycles to the slice's."""
    utilization: float
    """The busiest resource's offered load the scale was chosen for."""


def forest_slice(cfg: NFCoreConfig, image: ForestImage, picks: Sequence[Sequence[int]],
                 features: npt.NDArray[np.floating], arrivals: Sequence[int],
                 n_requests: int, mesh: tuple[int, int] = SLICE_MESH,
                 utilization: float = REPLAY_UTILIZATION) -> ReplaySlice:
    """The slice (module docstring) of a run: `picks[i]` are request i's tree ids,
    `features[i]` its stem features (float, as the trees' input), `arrivals[i]` its arrival
    cycle; at most `n_requests` requests. Raises ExecutionError if no tree lies in the
    corner."""
    rows, cols = min(mesh[0], cfg.mesh.rows), min(mesh[1], cfg.mesh.cols)
    small = dataclasses.replace(cfg, mesh=MeshConfig(rows=rows, cols=cols,
                                                     core_pitch_mm=cfg.mesh.core_pitch_mm))
    counts = Counter(t for sel in picks for t in sel)
    taken: set[Coord] = set()
    chosen: dict[int, tuple[ForestTree, list[list[int]]]] = {}
    for t in sorted(counts, key=lambda t: (-counts[t], t)):
        tree = image.tree(t)
        if not tree.resident or any(x >= cols or y >= rows or (x, y) in taken
                                    for x, y in tree.cores):
            continue
        try:
            served = serve_chain(tree.program, cfg.core, tag=len(chosen))
        except CompileError:  # no room in imem for the host RECV and SEND
            continue
        chosen[t] = (tree, [relocate(c.program, b)
                            for c, b in zip(served.cores, tree.base_words, strict=True)])
        taken |= set(tree.cores)
    if not chosen:
        raise ExecutionError(f"no resident tree of the run lies on the {rows} x {cols} corner "
                             "of the chip next to the host port")
    tags = {t: k for k, t in enumerate(chosen)}
    loads = {code.coord: CoreLoad(code.weights, tuple(program), base)
             for tree, programs in chosen.values()
             for code, program, base in zip(tree.program.cores, programs, tree.base_words,
                                            strict=True)}
    kept, calls = [], []
    for i, sel in enumerate(picks):
        mine = [t for t in sel if t in chosen]
        if not mine:
            continue
        kept.append(i)
        calls.append(tuple(_call(chosen[t][0], tags[t], features[i], cfg.core.lanes)
                           for t in mine))
        if len(kept) == n_requests:
            break
    busiest = _busiest_cycles(small, loads, {tags[t]: tree for t, (tree, _) in chosen.items()},
                              calls)
    span = arrivals[kept[-1]] - arrivals[kept[0]]
    scale = busiest / utilization / span if span > 0 else 0.0
    requests = tuple(HostRequest(round((arrivals[i] - arrivals[kept[0]]) * scale), c)
                     for i, c in zip(kept, calls, strict=True))
    return ReplaySlice(small, loads, requests,
                       {t: tree.cores[0] for t, (tree, _) in chosen.items()}, tuple(kept),
                       scale, utilization)


def _call(tree: ForestTree, tag: int, features: npt.NDArray[np.floating], lanes: int
          ) -> TreeCall:
    """The call of `tree` for one request: its packed input as whole words."""
    vec = tree.pack_input(np.asarray(features)[None])[0]
    words = np.zeros(isa.words_for(len(vec), lanes) * lanes, dtype=np.int8)
    words[:len(vec)] = vec
    return TreeCall(tree.cores[0], tag, words.view(np.uint8).reshape(-1, lanes),
                    chain=tree.cores[1:])


def _busiest_cycles(cfg: NFCoreConfig, loads: dict[Coord, CoreLoad],
                    by_tag: dict[int, ForestTree], calls: Sequence[tuple[TreeCall, ...]]
                    ) -> int:
    """The cycles `calls` keep their busiest resource busy: a core (its program's contract
    cycles per call, waits not counted) or the host link (a flit per cycle of every input
    and result packet)."""
    lanes = cfg.core.lanes
    cycles = {c: program_cycles([isa.decode(w) for w in load.program], lanes)
              for c, load in loads.items()}
    busy: Counter[Coord] = Counter()
    host_flits = 0
    for request in calls:
        for call in request:
            for c in (call.core, *call.chain):
                busy[c] += cycles[c]
            out_words = isa.words_for(by_tag[call.tag].program.plan.output_len, lanes)
            host_flits += 1 + len(call.payload) + 1 + out_words
    return max(max(busy.values()), host_flits)


def check_slice(sl: ReplaySlice, build_root: Path) -> tuple[dict[str, Any], Agreement]:
    """Serve the slice on the exact model and the RTL; the report's `sim_vs_rtl` and the
    comparison."""
    expected, model = run_requests(sl.cfg, states(sl.cfg, sl.loads), sl.requests)
    cycles = max(o.done_cycle for o in expected)
    got = collect(sl.requests, run_array_replay(sl.cfg, sl.loads, sl.requests, build_root,
                                                max_cycles=2 * cycles + 10_000))
    agreement = compare(expected, got)
    first = agreement.first_mismatch
    if agreement.first_request is not None:
        first = f"{first} (the run's request {sl.run_requests[agreement.first_request]})"
    return {
        "level": "system",
        "mesh": f"{sl.cfg.mesh.rows}x{sl.cfg.mesh.cols}",
        "requests_compared": agreement.requests_compared,
        "packets_compared": model.host_packets,
        "packets_waited": model.host_packets_waited,
        "cycle_mismatches": agreement.cycle_mismatches,
        "output_mismatches": agreement.output_mismatches,
        "first_mismatch": first,
        "trees": sorted(sl.trees),
        "tree_calls": sum(len(r.calls) for r in sl.requests),
        "cycles": cycles,
        "arrival_scale": sl.arrival_scale,
        "utilization": sl.utilization,
        "model": "nfcore.sim.net.dispatch.run_requests (golden cores, router RTL rules)",
    }, agreement
