"""The SimPy system model: the workload (`workload`: `PlacedTree`, `SystemWorkload`), the
chip serving it (`model.simulate_system`), weight paging (`paging`) and the DRAM channel
(`dram`); several chips joined by links (`chips.simulate_chips`, each link a `link.ChipLink`),
composed of one-chip runs.

Every packet, the host's, the split trees' and paging's, is timed by the one-shot network
`nfcore.sim.net.oneshot`; `nfcore.sim.net.check` measures its error against the router RTL's
rules (`nfcore.sim.net.worm`) on a run's own packets. Cores run a program in one timeout of
its contract cycles; a split tree runs stage by stage (its stages' SEND/RECV on the one-shot
network, not on `nfcore.sim.net.array`).
"""
