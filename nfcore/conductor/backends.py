"""The three backends behind one interface: run compiled trees on int8 inputs, price requests.

A backend does two things for a batch of requests:

* `execute(calls)`: each call is one tree with the int8 inputs of the requests routed to
  it; the backend returns the tree's int8 logits and the measured program cycles per input;
* `costs(...)`: what each request cost (`nfcore.conductor.costs`).

`golden` runs programs on the golden ISA model (`nfcore.compiler.golden_run.run_tree`, one
or more cores), loaded as the image puts them on the chip (`CompiledTree.on_chip`). `sim`
takes its values from the same golden model (the SimPy system model is a timing and energy
model; its core model also computes values with the golden model) and its costs from the
SimPy system model. `rtl` runs each tree's program on the micro-core RTL under Verilator
through cocotb (`nfcore.eda.rtl_runner.run_rtl`, one simulator run per tree and batch;
single-core trees only, the mesh RTL is not driven here).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from nfcore.compiler.golden_run import run_tree
from nfcore.conductor.costs import RequestCost, TreeCost, contract_cost, simulate_costs
from nfcore.conductor.grouped import forward_grouped
from nfcore.conductor.tree_source import CompiledTree
from nfcore.config import NFCoreConfig
from nfcore.eda.toolchain import config_tag
from nfcore.errors import AgreementError, CompileError, ConfigError
from nfcore.sim.cost.energy import EnergyTable
from nfcore.sim.cost.system_energy import SystemEnergies

BACKENDS = ("golden", "sim", "rtl")
COST_MEMO_SIZE = 100_000
"""Request costs kept by (trees, cycles) before the memo is cleared (bounds its memory)."""


@dataclass(frozen=True, eq=False)
class TreeCall:
    """Tree `tree` on the int8 inputs `x_int` (m, *input_shape) of requests `rows`."""

    tree: CompiledTree
    rows: npt.NDArray[np.int64]
    x_int: npt.NDArray[np.int8]


@dataclass(frozen=True, eq=False)
class TreeOutput:
    """int8 logits (m, classes) and each input's measured program cycles."""

    logits_int: npt.NDArray[np.int8]
    cycles: list[int]


@dataclass
class Backend(ABC):
    """A backend for `cfg`."""

    cfg: NFCoreConfig
    name: ClassVar[str]
    energies: SystemEnergies = field(init=False)
    _cost_memo: dict[tuple[tuple[int, ...], tuple[int, ...]], RequestCost] = field(
        default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.energies = SystemEnergies.of(self.cfg,
                                          EnergyTable.load(self.cfg.technology.energy_table))

    @abstractmethod
    def execute(self, calls: Sequence[TreeCall]) -> list[TreeOutput]: ...

    def costs(self, trees: dict[int, TreeCost], requests: Sequence[Sequence[int]],
              cycles: Sequence[Sequence[int]]) -> list[RequestCost]:
        """Cost of each request: `requests[i]` its tree ids, `cycles[i]` their measured
        program cycles (same order)."""
        model = (f"{self.name}: measured program cycles, events by the timing contract, request "
                 "alone on an idle chip; network, DRAM and wake-ups not modelled")
        out = []
        for sel, cyc in zip(requests, cycles, strict=True):
            key = (tuple(sel), tuple(cyc))  # a request's cost depends on nothing else
            cost = self._cost_memo.get(key)
            if cost is None:
                if len(self._cost_memo) >= COST_MEMO_SIZE:
                    self._cost_memo.clear()
                cost = self._cost_memo[key] = contract_cost(
                    self.cfg, self.energies, [trees[t] for t in sel], cyc, model)
            out.append(cost)
        return out


@dataclass
class GoldenBackend(Backend):
    """The golden ISA model's values and cycles.

    With `grouped` (the default), a tree's first batch runs on the ISA model, which fixes
    its program cycles (the same for every input: the programs have no data-dependent
    control flow; checked on that batch) and checks that its integer reference
    (`QuantizedTree.forward_int`) gives the same logits bit for bit; later batches take the
    tree's logits from that reference, trees of one shape as one grouped matmul
    (`nfcore.conductor.grouped`), and its cycles from the first run. A tree whose cycles
    vary with the input stays on the ISA model. Without `grouped` every batch runs on the
    ISA model.
    """

    name: ClassVar[str] = "golden"
    grouped: bool = True
    _cycles: dict[int, int | None] = field(default_factory=dict, init=False, repr=False)
    """Per tree checked on the ISA model: its program cycles, or None if they vary."""

    def execute(self, calls: Sequence[TreeCall]) -> list[TreeOutput]:
        fast = [c for c in calls
                if self.grouped and self._cycles.get(c.tree.tree_id) is not None]
        logits = forward_grouped([c.tree.quant for c in fast], [c.x_int for c in fast])
        by_call = {id(c): y for c, y in zip(fast, logits, strict=True)}
        outs = []
        for call in calls:
            t = call.tree.tree_id
            if id(call) in by_call:
                cycles = self._cycles[t]
                assert cycles is not None
                outs.append(TreeOutput(by_call[id(call)], [cycles] * len(call.x_int)))
                continue
            y, cyc = run_tree(call.tree.on_chip(), self.cfg.core, call.x_int)
            if self.grouped and t not in self._cycles:
                if not np.array_equal(y, call.tree.quant.forward_int(call.x_int)):
                    raise AgreementError(f"tree {t}: the integer reference and the golden "
                                         "ISA model disagree")
                self._cycles[t] = cyc[0] if len(set(cyc)) == 1 else None
            outs.append(TreeOutput(y, cyc))
        return outs


@dataclass
class SimBackend(GoldenBackend):
    """Golden values; costs from the SimPy system model, requests `interval_cycles` apart
    (None: `costs.simulate_costs`'s default)."""

    name: ClassVar[str] = "sim"
    interval_cycles: float | None = None
    progress: bool = False

    def costs(self, trees: dict[int, TreeCost], requests: Sequence[Sequence[int]],
              cycles: Sequence[Sequence[int]]) -> list[RequestCost]:
        return simulate_costs(self.cfg, list(trees.values()), requests, self.interval_cycles,
                              self.progress)


@dataclass
class RtlBackend(Backend):
    """Verilator runs under `build_dir` (the core is built once per config and reused)."""

    name: ClassVar[str] = "rtl"
    build_dir: Path = Path("build/conductor_rtl")

    def execute(self, calls: Sequence[TreeCall]) -> list[TreeOutput]:
        # cocotb (through the RTL runner) only for this backend: a golden or sim Conductor's
        # resident memory, which `nfcore.flows.host_memory` reports, stays without it.
        from nfcore.eda.rtl_runner import run_rtl

        outs = []
        for call in calls:
            tp = call.tree.on_chip()
            if len(tp.cores) != 1:
                raise CompileError(f"tree {call.tree.tree_id} is split over {len(tp.cores)} "
                                   "cores; the rtl backend runs single-core trees only")
            code = tp.cores[0]
            results = run_rtl(self.cfg, code.weights, code.program,
                              list(tp.plan.pack_input(call.x_int)), tp.plan.input_addr,
                              tp.plan.output_addr, tp.plan.output_len,
                              build_dir=Path(self.build_dir) / f"core_{config_tag(self.cfg)}")
            outs.append(TreeOutput(np.stack([o for o, _ in results]).astype(np.int8),
                                   [c for _, c in results]))
        return outs


def make_backend(name: str, cfg: NFCoreConfig, *, interval_cycles: float | None = None,
                 build_dir: Path | None = None, progress: bool = False) -> Backend:
    """The backend called `name` (golden, sim or rtl) for `cfg`."""
    if name == "golden":
        return GoldenBackend(cfg)
    if name == "sim":
        return SimBackend(cfg, interval_cycles=interval_cycles, progress=progress)
    if name == "rtl":
        return RtlBackend(cfg, build_dir=build_dir or Path("build/conductor_rtl"))
    raise ConfigError(f"--backend {name!r}: choose one of {', '.join(BACKENDS)}")
