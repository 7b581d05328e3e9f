"""One design point: compile and simulate the sweep's forest on one config; the figures.

`evaluate` runs in a worker (a local process or a Dask worker) and never raises: a point that
fails (a config the ISA cannot address, a tree that does not fit, ...) returns its error, so
the sweep records it and goes on.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nfcore.config import NFCoreConfig
from nfcore.flows.chips import simulate
from nfcore.flows.forest_system import ForestSystemOptions, run_forest_system
from nfcore.flows.system import arrival_interval_cycles
from nfcore.sim import baselines as bl
from nfcore.sim.arrivals import make_arrivals
from nfcore.sim.cost.area import area_summary
from nfcore.sim.cost.energy import EnergyTable
from nfcore.sweep.forests import FOREST_FOLDER, load_trained
from nfcore.sweep.task import PointTask


def evaluate(task: PointTask) -> dict[str, Any]:
    """{"status": "ok", "metrics": {...}, "seconds": s} or {"status": "error", "error": msg,
    "seconds": s}."""
    t0 = time.perf_counter()
    try:
        if task.forest_error:
            raise RuntimeError(f"training the forest failed: {task.forest_error}")
        metrics = _metrics(task)
    except Exception as exc:  # a failing point is a result of the sweep, not its end
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}",
                "seconds": time.perf_counter() - t0}
    return {"status": "ok", "metrics": metrics, "seconds": time.perf_counter() - t0}


def _metrics(task: PointTask) -> dict[str, Any]:
    # Workers run side by side on the same cores: one torch thread each.
    torch.set_num_threads(1)
    sim = task.simulation
    cfg = NFCoreConfig.from_dict(task.config, source=f"point {task.index}")
    trained = load_trained(task.forest_entry)
    opts = ForestSystemOptions(requests=sim["requests"], golden_requests=sim["golden_requests"],
                               seed=sim["seed"], quiet=True)
    # The forest is already trained (and saved in its cache entry, where the compiler reads it).
    run = run_forest_system(cfg, opts, Path(task.forest_entry) / FOREST_FOLDER,
                            trained=trained)
    table = EnergyTable.load(cfg.technology.energy_table)
    rate = sim.get("rate_rps", 0.0)
    interval = cfg.clock_hz / rate if rate else \
        arrival_interval_cycles(run.workload, cfg, sim["utilization"])
    arrivals = make_arrivals(len(run.workload.requests), "poisson", interval, sim["seed"],
                             None, cfg.clock_hz)
    result, chips = simulate(cfg, run.workload, arrivals, table)
    row = bl.nfcore_row("point", result, "", cfg.technology.node_nm)
    lat_c = result.latencies_cycles()
    area = area_summary(cfg)
    layout = run.summary["layout"]
    return {
        "energy_pj_per_inference": row.energy_pj_per_inference,
        "energy_by_component_pj": row.by_component,
        "latency_s_p50": float(np.percentile(lat_c, 50)) / cfg.clock_hz,
        "latency_s_p99": float(np.percentile(lat_c, 99)) / cfg.clock_hz,
        "latency_cycles_p50": float(np.percentile(lat_c, 50)),
        "latency_cycles_p99": float(np.percentile(lat_c, 99)),
        "throughput_rps": result.throughput_rps,
        "arrival_interval_cycles": interval,
        "area_mm2": area["chip_mm2"] * cfg.chips.count,
        "core_area_mm2": area["core_mm2"],
        "area_by_component_mm2": area["core_by_component_mm2"],
        "pitch_footprint_mm2": area["pitch_footprint_mm2"],
        "accuracy_int8": run.summary["accuracy"]["int8_forest_golden"],
        "accuracy_float": run.summary["accuracy"]["forest_float"],
        "trees": run.summary["trees"],
        "top_k": run.summary["top_k"],
        "resident_trees": layout["resident_trees"],
        "paged_trees": 0 if chips else layout["paged_trees"],  # more chips: all resident
        "cores_used": layout["cores_used"],
        "hop_bytes_per_request": layout["hop_bytes_per_request"],
        "idle_silicon_fraction": result.idle_silicon_fraction,
        "requests": len(result.records),
        "chips": cfg.chips.count,
        "link_bytes_per_request": chips["per_request"]["link_bytes"] if chips else 0.0,
    }
