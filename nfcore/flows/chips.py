"""A workload on the configured chips: partitioned by the compiler's rule, simulated chip by
chip with the links between them (`chips` in the config).

`simulate` is the one entry the flows use: one chip runs `simulate_system` as before; more
run `simulate_chips` on the forest spread by `spread_over_chips`, and also return the report's
`chips` section.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from nfcore.compiler.layout.chips import partition_chips
from nfcore.config import NFCoreConfig
from nfcore.sim.cost.energy import EnergyTable
from nfcore.sim.system.chips import ChipsWorkload, place_tree, simulate_chips
from nfcore.sim.system.model import SystemResult, simulate_system
from nfcore.sim.system.workload import SystemWorkload


def spread_over_chips(cfg: NFCoreConfig, workload: SystemWorkload) -> ChipsWorkload:
    """`workload`'s trees placed over `cfg.chips.count` chips by the compiler's rule
    (`nfcore.compiler.layout.chips`: the most popular trees, by `workload.popularity`, on
    chip 0, every tree resident); the workload's own placement is replaced. Raises
    `CompileError` naming `chips.count` if the forest does not fit."""
    popularity = list(workload.popularity)
    if not popularity:  # unknown: the simulated requests' own calls stand in (an oracle)
        popularity = [0.0] * len(workload.trees)
        for sel in workload.requests:
            for t in sel:
                popularity[t] += 1.0
    cols = cfg.mesh.cols
    slots = partition_chips([[nbytes for _, nbytes in t.parts()] for t in workload.trees],
                            popularity, cfg.chips.count, cfg.mesh.rows * cols,
                            cfg.core.weight_sram_bytes)
    trees = tuple(place_tree(t, [(c % cols, c // cols) for c in slot.cores])
                  for t, slot in zip(workload.trees, slots, strict=True))
    return ChipsWorkload(replace(workload, trees=trees), tuple(s.chip for s in slots),
                         cfg.chips.count)


def simulate(cfg: NFCoreConfig, workload: SystemWorkload, arrivals: Sequence[int],
             table: EnergyTable | None = None, progress: bool = False
             ) -> tuple[SystemResult, dict[str, Any] | None]:
    """(the run as one `SystemResult`, the `chips` section or None for one chip)."""
    if cfg.chips.count == 1:
        return simulate_system(cfg, workload, arrivals, table, progress=progress), None
    spread = spread_over_chips(cfg, workload)
    run = simulate_chips(cfg, spread, arrivals, table, progress=progress)
    return run.merged(cfg), run.summary(cfg, spread)
