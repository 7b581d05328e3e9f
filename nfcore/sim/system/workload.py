"""The system model's input: placed trees and the trees each request selects.

The description is hardware-neutral enough to be built before the forest, placement and
SEND/RECV exist: per tree, the core it is placed on, its program's cycles and events per
request (from `isa.cycles` and `events.program_events` of its compiled program: the one timing
contract), weight bytes, MACs, input and output bytes, and whether its weights are resident
or paged from DRAM; per request, the trees the router selected. A tree the compiler split
over a chain of cores (`nfcore.compiler.lower.split`) has one `StageSpec` per chain core
(`tree_from_chain`), which the system model runs stage by stage.

`synthetic_workload` builds a seeded forest of MLP trees whose programs are real MATVEC
sequences, placed on the mesh, with requests that pick the top-k trees by a skewed (Zipf)
popularity, for tests and the benchmark. It is not a trained forest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nfcore.arch import isa, noc
from nfcore.arch.isa import Instruction
from nfcore.config import NFCoreConfig
from nfcore.errors import NFCoreError
from nfcore.sim.cost.events import Events, program_events
from nfcore.sim.net.array import TimedProgram


class WorkloadError(NFCoreError):
    """A workload does not fit the configured chip (placement, capacity, tree ids)."""


@dataclass(frozen=True)
class Step:
    """A piece of a stage's program for the system model: `run` (instructions that do not
    touch the network, `cycles` by the timing contract), or one `send` / `recv` of `words`
    payload words (`cycles` = its contract cycles without network waits)."""

    kind: str
    """"run", "send" or "recv"."""
    cycles: int
    words: int = 0
    dest: int = -1
    """For a send: index of the receiving stage in the tree's chain."""


@dataclass(frozen=True)
class StageSpec:
    """One core of a tree split over a chain of cores (`nfcore.compiler.lower.split`): its part's
    program as `steps`, with its contract cycles (no waits), events and weight bytes."""

    core_xy: tuple[int, int]
    steps: tuple[Step, ...]
    program_cycles: int
    events: Events
    weight_bytes: int
    macs: int


@dataclass(frozen=True)
class PlacedTree:
    """One placed tree. Cycles and events are per request, by the timing contract."""

    tree_id: int
    core_xy: tuple[int, int]
    """(x, y) = (column, row) of the core holding it."""
    program_cycles: int
    events: Events
    """Events of one run of its program (host I/O not included)."""
    weight_bytes: int
    """Bytes of its weight SRAM image (row headers included)."""
    macs: int
    input_bytes: int
    output_bytes: int
    resident: bool = True
    """False: paged, its weights come from DRAM when a request needs them and they are not
    on the core."""
    kind: str = "mlp"
    instr_cycles: tuple[int, ...] = ()
    """Cycles of each instruction its program executes, in order (a LOOP body once per
    iteration; empty if not known)."""
    stages: tuple[StageSpec, ...] = ()
    """Empty for a tree on one core. For a tree split over a chain of cores: every chain
    core's part, in chain order (the host writes the input to the first, reads the logits
    from the last); then `core_xy` is the first's, `events`, `weight_bytes` and `macs` are
    the sums over stages and `program_cycles` is the chain's cycles with no contention (all
    stages started together, `chain_cycles`), as the golden array counts them."""

    def served_programs(self, lanes: int) -> tuple[tuple[tuple[int, int], TimedProgram], ...]:
        """(core, timing of its program) of every core it occupies, in chain order, as the
        chip serves the tree through the host port (`nfcore.compiler.lower.host_io`): the
        first core RECVs the input, the last SENDs the output to the host before its HALT;
        a split tree's stages SEND to each other as their programs do. Tags are 0."""
        n_in = isa.words_for(self.input_bytes, lanes)
        n_out = isa.words_for(self.output_bytes, lanes)
        halt = (isa.cycles(isa.halt(), lanes), isa.halt())
        recv = isa.recv(n=n_in, addr=0)
        send = isa.send_to_host(n=n_out, addr=0)
        stages = self.stages or (StageSpec(self.core_xy, (Step("run", self.program_cycles),),
                                           self.program_cycles, self.events,
                                           self.weight_bytes, self.macs),)
        out = []
        for k, stage in enumerate(stages):
            steps: list[tuple[int, Instruction | None]] = []
            if k == 0:
                steps.append((isa.cycles(recv, lanes), recv))
            for step in stage.steps:
                if step.kind == "run":
                    steps.append((step.cycles, None))
                elif step.kind == "send":
                    x, y = stages[step.dest].core_xy
                    steps.append((step.cycles, isa.send(n=step.words, addr=0, dest_x=x,
                                                        dest_y=y)))
                else:
                    steps.append((step.cycles, isa.recv(n=step.words, addr=0)))
            # The program's HALT ends its last run of local instructions.
            last, _ = steps.pop()
            if last > halt[0]:
                steps.append((last - halt[0], None))
            if k == len(stages) - 1:
                steps.append((isa.cycles(send, lanes), send))
            out.append((stage.core_xy, TimedProgram((*steps, halt))))
        return tuple(out)

    def parts(self) -> tuple[tuple[tuple[int, int], int], ...]:
        """(core, weight bytes) of every core the tree occupies."""
        if not self.stages:
            return ((self.core_xy, self.weight_bytes),)
        return tuple((s.core_xy, s.weight_bytes) for s in self.stages)


@dataclass(frozen=True)
class SystemWorkload:
    """Trees and requests (`requests[i]` lists the tree ids request i selected)."""

    trees: tuple[PlacedTree, ...]
    requests: tuple[tuple[int, ...], ...]
    name: str = "workload"
    notes: dict[str, object] = field(default_factory=dict)
    popularity: tuple[float, ...] = ()
    """Expected share of requests that call each tree, from the router on data other than
    `requests` (a calibration set, or the synthetic router's weights); empty: unknown. The
    chip partition puts the most popular trees on the host chip."""
    router: PlacedTree | None = None
    """The on-chip router (resident, on one core): every request runs it first, and its
    trees once its scores reached the host (`nfcore.sim.net.dispatch`); None: the trees
    start at once (a router off the chip, charged nothing)."""

    @property
    def placed(self) -> tuple[PlacedTree, ...]:
        """The trees, then the router if it is on the chip."""
        return self.trees if self.router is None else (*self.trees, self.router)

    @property
    def forest_weight_bytes(self) -> int:
        return sum(t.weight_bytes for t in self.trees)

    @property
    def forest_macs(self) -> int:
        return sum(t.macs for t in self.trees)

    def validate(self, cfg: NFCoreConfig) -> None:
        """Raise `WorkloadError` if a tree lies off the mesh, a core's resident weights do
        not fit its SRAM, a paged tree is larger than the SRAM left for it, ids are not
        0..n-1, or a request names an unknown tree or none; or the router is paged or split
        over cores (not modelled)."""
        rows, cols, sram = cfg.mesh.rows, cfg.mesh.cols, cfg.core.weight_sram_bytes
        if self.router is not None and (not self.router.resident or self.router.stages):
            raise WorkloadError(f"{self.name}: the router must be resident on one core")
        for i, t in enumerate(self.placed):
            if t.tree_id != i and t is not self.router:
                raise WorkloadError(f"{self.name}: tree at index {i} has id {t.tree_id}")
            for (x, y), _ in t.parts():
                if not (0 <= x < cols and 0 <= y < rows):
                    raise WorkloadError(
                        f"{self.name}: tree {i} is placed at {(x, y)}, off the {cols} x "
                        f"{rows} mesh (mesh.cols x mesh.rows)")
        resident: dict[tuple[int, int], int] = {}
        for t in self.placed:
            if t.resident:
                for xy, nbytes in t.parts():
                    resident[xy] = resident.get(xy, 0) + nbytes
        for xy, used in resident.items():
            if used > sram:
                raise WorkloadError(f"{self.name}: resident trees on core {xy} need {used} "
                                    f"bytes; core.weight_sram_bytes = {sram}")
        for t in self.trees:
            for xy, nbytes in t.parts():
                if not t.resident and nbytes > sram - resident.get(xy, 0):
                    raise WorkloadError(
                        f"{self.name}: paged tree {t.tree_id} ({nbytes} bytes) does not fit "
                        f"the {sram - resident.get(xy, 0)} bytes left on core {xy}")
        n = len(self.trees)
        for r, sel in enumerate(self.requests):
            if not sel or any(not 0 <= tid < n for tid in sel) or len(set(sel)) != len(sel):
                raise WorkloadError(f"{self.name}: request {r} selects {list(sel)}; expected "
                                    f"distinct tree ids in 0..{n - 1}")


def tree_from_program(tree_id: int, core_xy: tuple[int, int], program: Sequence[Instruction],
                      lanes: int, input_bytes: int, output_bytes: int, resident: bool = True,
                      kind: str = "mlp", wbuf_words: int = 0) -> PlacedTree:
    """A `PlacedTree` whose cycles and events come from its program by the timing contract,
    on a core with a weight reuse buffer of `wbuf_words` words (`events.program_events`).

    Weight bytes are the MATVEC regions' words times `lanes` (and the SETLUT table); MACs
    are rows x cols summed over the instructions executed (a LOOP body once per iteration).
    """
    executed = isa.executed_instructions(program)
    per_instr = [isa.cycles(i, lanes) for i in executed]
    events = sum(program_events(program, lanes, wbuf_words), Events())
    macs = 0
    for instr in executed:
        if instr.op is isa.Opcode.MATVEC:
            macs += instr.rows * instr.cols
    weight_words = sum(isa.matvec_region_words(i.rows, i.cols, lanes) for i in program
                       if i.op is isa.Opcode.MATVEC)
    weight_words += sum(isa.lut_words(lanes) for i in program if i.op is isa.Opcode.SETLUT)
    return PlacedTree(tree_id=tree_id, core_xy=core_xy, program_cycles=sum(per_instr),
                      events=events, weight_bytes=weight_words * lanes, macs=macs,
                      input_bytes=input_bytes, output_bytes=output_bytes, resident=resident,
                      kind=kind, instr_cycles=tuple(per_instr))


CoreProgram = tuple[tuple[int, int], Sequence[Instruction]]
"""A chain core's (x, y) and its program."""


def tree_from_chain(tree_id: int, programs: Sequence[CoreProgram], lanes: int,
                    input_bytes: int, output_bytes: int, resident: bool = True,
                    kind: str = "mlp", wbuf_words: int = 0) -> PlacedTree:
    """A `PlacedTree` of a tree split over a chain of cores: `programs` lists each chain
    core's (x, y) and program, in chain order (as `nfcore.compiler.lower.split.partition_tree`
    emits them: a core SENDs only to cores of the chain and RECVs only from them). One
    program gives a single-core tree (`tree_from_program`).

    Raises `WorkloadError` if a SEND goes to a core outside the chain.
    """
    if len(programs) == 1:
        xy, program = programs[0]
        return tree_from_program(tree_id, xy, program, lanes, input_bytes, output_bytes,
                                 resident, kind, wbuf_words)
    index = {xy: k for k, (xy, _) in enumerate(programs)}
    stages = []
    for xy, program in programs:
        single = tree_from_program(tree_id, xy, program, lanes, 0, 0, resident, kind,
                                   wbuf_words)
        steps: list[Step] = []
        for instr, cyc in zip(isa.executed_instructions(program), single.instr_cycles,
                              strict=True):
            if instr.op is isa.Opcode.RECV:
                steps.append(Step("recv", cyc, instr.n))
            elif instr.op is isa.Opcode.SEND:
                dest = (instr.dest_x, instr.dest_y)
                if dest not in index:
                    raise WorkloadError(f"tree {tree_id}: core {xy} sends to {dest}, which "
                                        f"is not in its chain {list(index)}")
                steps.append(Step("send", cyc, instr.n, index[dest]))
            elif steps and steps[-1].kind == "run":
                steps[-1] = Step("run", steps[-1].cycles + cyc)
            else:
                steps.append(Step("run", cyc))
        stages.append(StageSpec(xy, tuple(steps), single.program_cycles, single.events,
                                single.weight_bytes, single.macs))
    events = Events()
    for st in stages:
        events += st.events
    return PlacedTree(tree_id=tree_id, core_xy=stages[0].core_xy,
                      program_cycles=chain_cycles(stages)[-1],
                      events=events, weight_bytes=sum(st.weight_bytes for st in stages),
                      macs=sum(st.macs for st in stages), input_bytes=input_bytes,
                      output_bytes=output_bytes, resident=resident, kind=kind,
                      stages=tuple(stages))


def chain_cycles(stages: Sequence[StageSpec]) -> list[int]:
    """Each stage's cycles from a common start to its HALT with no contention, as the
    golden array (`nfcore.golden.array`) counts them: a SEND starting in cycle t hands its
    header to the network in t + ISSUE, which is offered `noc.packet_latency_cycles` later;
    a RECV starting in r takes it in max(r + ISSUE, offer) and its payload after. A stage
    receives only from stages before it in the chain (`nfcore.compiler.lower.split`)."""
    inbox: list[list[int]] = [[] for _ in stages]
    out = []
    for k, st in enumerate(stages):
        t = 0  # cycles done; the next step starts in cycle t + 1
        for step in st.steps:
            if step.kind == "send":
                if step.dest <= k:
                    raise WorkloadError(f"stage {k} at {st.core_xy} sends to stage "
                                        f"{step.dest}: a chain sends forward only")
                dest = stages[step.dest].core_xy
                inbox[step.dest].append(t + 1 + isa.ISSUE_CYCLES
                                        + noc.packet_latency_cycles(st.core_xy, dest))
            if step.kind == "recv":
                if not inbox[k]:
                    raise WorkloadError(f"stage {k} at {st.core_xy} receives more packets "
                                        "than its chain sends it")
                offer = inbox[k].pop(0)
                t += step.cycles + max(0, offer - (t + 1) - isa.ISSUE_CYCLES)
            else:
                t += step.cycles
        out.append(t)
    return out


def mlp_program(dims: Sequence[int], lanes: int) -> list[Instruction]:
    """MATVEC per layer of an MLP with layer widths `dims` (ReLU between), then HALT.

    Activations ping-pong between scratchpad word 0 and the word after the widest layer.
    """
    half = max(isa.words_for(d, lanes) for d in dims)
    program, w_addr = [], 0
    for k, (cols, rows) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        last = k == len(dims) - 2
        program.append(isa.matvec(rows=rows, cols=cols, w_addr=w_addr,
                                  x_addr=(k % 2) * half, y_addr=((k + 1) % 2) * half,
                                  act=isa.Activation.NONE if last else isa.Activation.RELU))
        w_addr += isa.matvec_region_words(rows, cols, lanes)
    program.append(isa.halt())
    return program


def synthetic_workload(cfg: NFCoreConfig, n_trees: int, n_requests: int, top_k: int = 4,
                       seed: int = 0, paged_fraction: float = 0.0, zipf_s: float = 1.0,
                       input_dims: tuple[int, int] = (16, 128),
                       hidden_dims: tuple[int, int] = (16, 96),
                       output_dims: tuple[int, int] = (4, 16)) -> SystemWorkload:
    """A seeded forest of `n_trees` MLP trees (one or two hidden layers, widths drawn
    uniformly from the ranges) placed round-robin over the mesh's cores, and `n_requests`
    requests that each select `top_k` distinct trees with probability proportional to
    `1 / rank**zipf_s` (a skewed router). The `paged_fraction` least popular trees are paged.

    With `chips.count` > 1 every tree is resident and unplaced (at core (0, 0)): the chip
    partition places it (`nfcore.flows.chips.spread_over_chips`), so the forest may be larger
    than one chip.
    """
    if n_trees < 1 or not 1 <= top_k <= n_trees:
        raise WorkloadError(f"synthetic workload: need 1 <= top_k ({top_k}) <= n_trees "
                            f"({n_trees})")
    if not 0.0 <= paged_fraction <= 1.0:
        raise WorkloadError(f"synthetic workload: paged_fraction = {paged_fraction}; "
                            "expected 0 to 1")
    rng = np.random.default_rng(seed)
    lanes, rows, cols = cfg.core.lanes, cfg.mesh.rows, cfg.mesh.cols
    # Popularity rank: tree i has rank order[i]; the least popular are paged.
    order = rng.permutation(n_trees)
    multi_chip = cfg.chips.count > 1
    n_paged = 0 if multi_chip else int(round(paged_fraction * n_trees))
    resident = order < n_trees - n_paged
    programs = []
    for _ in range(n_trees):
        n_hidden = int(rng.integers(1, 3))
        dims = [int(rng.integers(input_dims[0], input_dims[1] + 1))]
        dims += [int(rng.integers(hidden_dims[0], hidden_dims[1] + 1)) for _ in range(n_hidden)]
        dims.append(int(rng.integers(output_dims[0], output_dims[1] + 1)))
        programs.append((dims, mlp_program(dims, lanes)))
    sizes = [sum(isa.matvec_region_words(i.rows, i.cols, lanes) for i in prog
                 if i.op is isa.Opcode.MATVEC) * lanes for _, prog in programs]
    slots = [0] * n_trees if multi_chip else \
        place_round_robin(sizes, resident.tolist(), rows * cols, cfg.core.weight_sram_bytes)
    trees = tuple(
        tree_from_program(i, (slots[i] % cols, slots[i] // cols), prog, lanes,
                          input_bytes=dims[0], output_bytes=dims[-1], resident=bool(resident[i]),
                          wbuf_words=cfg.core.wbuf_words)
        for i, (dims, prog) in enumerate(programs))
    weights = 1.0 / (order + 1.0) ** zipf_s
    weights /= weights.sum()
    requests = tuple(tuple(int(t) for t in rng.choice(n_trees, size=top_k, replace=False,
                                                      p=weights))
                     for _ in range(n_requests))
    wl = SystemWorkload(trees, requests, name=f"synthetic-{n_trees}t-top{top_k}-seed{seed}",
                        notes={"generator": "synthetic_workload", "n_trees": n_trees,
                               "top_k": top_k, "seed": seed,
                               "paged_fraction": 0.0 if multi_chip else paged_fraction,
                               "zipf_s": zipf_s,
                               "tree_kind": "mlp (synthetic shapes, not trained)"},
                        popularity=tuple(float(w) for w in weights))
    if not multi_chip:
        wl.validate(cfg)
    return wl


def place_round_robin(weight_bytes: Sequence[int], resident: Sequence[bool], n_cores: int,
                      sram_bytes: int) -> list[int]:
    """Core index (row-major) of each tree: tree i goes to core `i % n_cores` or, if its
    weights do not fit there, the next core that has room. Resident trees are placed first
    and keep their SRAM; a paged tree needs the room resident trees leave on its core.

    A stand-in for the compiler's placement, which optimises hops; this one only balances.
    """
    used = [0] * n_cores
    out = [-1] * len(weight_bytes)
    for want_resident in (True, False):
        for i, (size, res) in enumerate(zip(weight_bytes, resident, strict=True)):
            if res != want_resident:
                continue
            for step in range(n_cores):
                c = (i + step) % n_cores
                if used[c] + size <= sram_bytes:
                    out[i] = c
                    used[c] += size if res else 0
                    break
            else:
                raise WorkloadError(f"placement: tree {i} ({size} bytes) fits on no core; "
                                    f"the forest needs more cores or core.weight_sram_bytes")
    return out
