"""The models: cycles and energy of one core and of the whole chip.

* `core`: SimPy model of one core serving requests (`simulate`), no network: the single-core
  part of `make sim`;
* `system/`: the multi-core system model (`workload`, `model.simulate_system`, paging, DRAM),
  which `make sim`, the sweep, the conductor and `baselines.all_trees` run. It serves
  requests through the host port on `net.array` (`net.dispatch`);
* `net/`: one family of network models of the mesh, all by the router RTL's rules:
  - `topology`: endpoints, XY routes and the traffic counted on them;
  - `worm`: the router RTL's rules (input FIFOs, output registers, wormhole locks, round
    robin), per packet and event-driven; equal to the RTL on every scenario tested;
  - `array`: SEND/RECV programs on an array of golden cores (`run_array_model`), flit by
    flit in the compiled loop of `kernel` (numba); the tests compare it with the RTL;
  - `dispatch`: requests through the host port on `array` (what the system model runs);
  - `flit`: the same programs flit by flit, cycle by cycle, in Python (`run_array_flits`):
    the reference `worm` and `array` are checked against, and what the RTL tests use to predict
    scratchpads under contention;
* `cost/`: the sourced energy and area tables and the events they price;
* `stats`: percentiles and mean energy of a run's records;
* `arrivals`: request arrival processes;
* `baselines`: the comparison points (all trees, monolith, GPU roofline, floors).

See docs/architecture.md. Nothing here imports `nfcore.report`, `nfcore.flows`,
`nfcore.hdl` or `nfcore.eda`.
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
