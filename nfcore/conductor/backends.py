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
from nfcore.conductor.tree_source import CompiledTree
from nfcore.config import NFCoreConfig
from nfcore.eda.toolchain import config_tag
from nfcore.errors import CompileError, ConfigError
from nfcore.sim.cost.energy import EnergyTable
from nfcore.sim.cost.system_energy import SystemEnergies

BACKENDS = ("golden", "sim", "rtl")


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
        return [contract_cost(self.cfg, self.energies, [trees[t] for t in sel], cyc, model)
                for sel, cyc in zip(requests, cycles, strict=True)]


@dataclass
class GoldenBackend(Backend):
    name: ClassVar[str] = "golden"

    def execute(self, calls: Sequence[TreeCall]) -> list[TreeOutput]:
        outs = []
        for call in calls:
            logits, cycles = run_tree(call.tree.on_chip(), self.cfg.core, call.x_int)
            outs.append(TreeOutput(logits, cycles))
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
