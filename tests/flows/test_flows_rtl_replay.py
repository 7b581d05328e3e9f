"""The slice of a run that `make sim` replays on the array RTL (`nfcore.flows.rtl_replay`):
the run's own trees on the corner next to the host port, its requests in order, its inputs,
and arrivals close enough that packets wait. The RTL side is `sim_tests/`; here the exact
model serves the slice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nfcore.config import NFCoreConfig
from nfcore.eda.replay_job import states
from nfcore.errors import ConfigError
from nfcore.flows.forest_system import ForestSystemOptions, run_forest_system
from nfcore.flows.rtl_replay import forest_slice
from nfcore.flows.sim import SimOptions
from nfcore.flows.system import ArrivalSpec, arrival_interval_cycles
from nfcore.sim.net.dispatch import run_requests


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    cfg = NFCoreConfig.from_dict({"mesh": {"rows": 6, "cols": 6}})
    opts = ForestSystemOptions(dataset="multitask", tasks=6, epochs=1, requests=300,
                               golden_requests=20, quiet=True)
    run = run_forest_system(cfg, opts, Path(tmp_path_factory.mktemp("f")) / "forest")
    arrival = ArrivalSpec("poisson", arrival_interval_cycles(run.workload, cfg), 0)
    arrivals = arrival.cycles(len(run.workload.requests), cfg.clock_hz)
    features = run.forest.features(run.x_test[run.request_rows]).numpy()
    return cfg, run, arrivals, features


def test_the_slice_is_the_runs_corner(run: Any) -> None:
    cfg, r, arrivals, features = run
    sl = forest_slice(cfg, r.image, r.workload.requests, features, arrivals, 60, mesh=(3, 3))
    assert (sl.cfg.mesh.rows, sl.cfg.mesh.cols) == (3, 3) and sl.cfg.core == cfg.core
    cores = [c for t in sl.trees for c in r.image.tree(t).cores]
    assert len(cores) == len(set(cores)) == len(sl.loads), "one tree per core"
    assert all(x < 3 and y < 3 for x, y in cores)
    assert all(r.image.tree(t).resident for t in sl.trees)
    assert len(sl.requests) == 60
    assert list(sl.run_requests) == sorted(sl.run_requests)
    # Every request the slice leaves out picked none of its trees.
    kept = set(sl.run_requests)
    assert all(not set(r.workload.requests[i]) & set(sl.trees)
               for i in range(sl.run_requests[-1]) if i not in kept)
    cycles = [q.arrival_cycle for q in sl.requests]
    assert cycles[0] == 0 and cycles == sorted(cycles)
    for i, q in zip(sl.run_requests, sl.requests, strict=True):
        picked = [t for t in r.workload.requests[i] if t in sl.trees]
        assert [c.core for c in q.calls] == [sl.trees[t] for t in picked]


def test_the_model_serves_the_runs_trees_on_the_runs_inputs(run: Any) -> None:
    """Each call's result equals the compiler's integer reference of its tree on the
    request's stem features, and the scaled arrivals make packets wait."""
    cfg, r, arrivals, features = run
    sl = forest_slice(cfg, r.image, r.workload.requests, features, arrivals, 40)
    assert (sl.cfg.mesh.rows, sl.cfg.mesh.cols) == (4, 4)
    outcomes, model = run_requests(sl.cfg, states(sl.cfg, sl.loads), sl.requests)
    by_core = {c: t for t, c in sl.trees.items()}
    for i, q, o in zip(sl.run_requests, sl.requests, outcomes, strict=True):
        assert o.done_cycle > q.arrival_cycle
        for call, out in zip(q.calls, o.outputs, strict=True):
            quant = r.image.tree(by_core[call.core]).quant
            want = quant.forward_int(quant.quantize_input(features[i:i + 1]))[0]
            got = out.reshape(-1).view(np.int8)[:len(want)]
            np.testing.assert_array_equal(got, want, err_msg=f"run request {i}")
    assert model.host_packets_waited > 0


def test_a_negative_rtl_request_count_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"--rtl-requests is -1; allowed: 0 \(skip\) or more"):
        SimOptions(rtl_requests=-1)
