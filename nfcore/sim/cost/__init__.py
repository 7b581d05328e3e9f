"""Costs of events: the sourced energy tables (`energy`), a program's events (`events`),
the system-level energies (`system_energy`) and silicon area (`area`).

No network model here: a packet's energy (`system_energy.SystemEnergies.packet_pj`) is priced
on the flits and hops the caller reports (the system model's, on the routes of
`nfcore.sim.net.topology`); leakage from power-state cycles
(`system_energy.leakage_pj_from_state_cycles`) takes the array RTL's counters or
`nfcore.sim.net.array.core_state_cycles`, and the system model's own.
"""
