"""The system model: energy table, per-instruction events, the SimPy core model, reports.

* `energy`: the energy table (`EnergyTable`) and a core's per-event energies;
* `events`: event counts of each instruction and energy by component;
* `core_model`: SimPy model of one core serving requests (`simulate`);
* `report`: `reports/<run>/` writing (`write_report`, `new_run_dir`, `link_latest`).

The multi-core system model: `workload` (its input), `arrivals`, `network` (mesh links),
`dram`, `system` (`simulate_system`), `system_energy`, `baselines`, `system_report` and
`plots`; see docs/architecture.md.
"""

from nfcore.sim.core_model import RequestRecord, SimResult, simulate
from nfcore.sim.energy import EnergyTable, EventEnergies, energy_model_summary
from nfcore.sim.events import COMPONENTS, Events, energy_by_component, events_of
from nfcore.sim.report import link_latest, new_run_dir, summarize_energy, write_report

__all__ = [
    "COMPONENTS", "EnergyTable", "EventEnergies", "Events", "RequestRecord", "SimResult",
    "energy_by_component", "energy_model_summary", "events_of", "link_latest", "new_run_dir",
    "simulate", "summarize_energy", "write_report",
]
