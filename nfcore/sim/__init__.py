"""The models: cycles and energy of one core and of the whole chip.

* `cost/`: the sourced energy and area tables and the events they price;
* `core`: SimPy model of one core serving requests (`simulate`);
* `stats`: percentiles and mean energy of a run's records;
* `arrivals`: request arrival processes;
* `net/`: network models of the mesh;
* `system/`: the multi-core system model (`workload`, `model.simulate_system`, paging, DRAM);
* `baselines`: the comparison points (all trees, monolith, GPU roofline, floors).

See docs/architecture.md. Nothing here imports `nfcore.report`.
"""

from nfcore.sim.core import RequestRecord, SimResult, simulate
from nfcore.sim.cost.energy import EnergyTable, EventEnergies, energy_model_summary
from nfcore.sim.cost.events import COMPONENTS, Events, energy_by_component, events_of
from nfcore.sim.stats import percentiles, summarize_energy

__all__ = [
    "COMPONENTS", "EnergyTable", "EventEnergies", "Events", "RequestRecord", "SimResult",
    "energy_by_component", "energy_model_summary", "events_of", "percentiles", "simulate",
    "summarize_energy",
]
