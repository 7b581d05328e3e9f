"""The system model: the workload (`workload`: `PlacedTree`, `SystemWorkload`), the chip
serving it (`model.simulate_system`), weight paging (`paging`) and the DRAM channel (`dram`);
several chips joined by links (`chips.simulate_chips`, each link a `link.ChipLink`), composed
of one-chip runs.

Requests go through the host port as the array RTL serves them (`nfcore.sim.net.dispatch`),
timed by the exact model (`nfcore.sim.net.array` on `nfcore.sim.net.worm`): every tree's
programs RECV their input, SEND between a split tree's cores and SEND the result to the
host. The host's power gating and paging come before a core's RUN (`model`).
"""
