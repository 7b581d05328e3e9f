"""The simulator's cycles against the RTL's on the shared scenarios (`nfcore.scenarios`).

The RTL side is the file `sim_build/<RTL_CYCLES_FILE>` that `sim_tests/test_array_rtl.py`
writes (the root conftest.py runs that test before this module in one session; when the file
is absent, as after `make clean` with `pytest tests`, the fixture runs the RTL suite itself, so
the comparison never skips). Two models run the same scenarios:

* `nfcore.sim.flit_array.run_array_flits`, flit by flit with the routers' FIFOs, locks and
  round robin as the RTL implements them: every core's cycles and final scratchpad must be
  equal to the RTL's on every scenario, with and without contention and with gated cores.
* `nfcore.sim.array_model.run_array_model`, SimPy cores on the system model's reservation
  network (`nfcore.sim.network`, what `make sim` uses): equal cycles and scratchpads without
  contention; with contention its error is printed per scenario (`pytest -s`) and its
  total absolute error over all contention scenarios' cores must stay under
  `RESERVATION_BOUND` of their RTL cycles. It is 4.48% (264 of 5895 cycles) over the 25
  contention scenarios on 2 x 2 and 3 x 3 meshes (up to 24% on one: the model is much
  faster where packets queue at a busy destination): above issue 7's 2%, which the flit
  model meets (0%). Its misses are packets that wait at a destination and hold
  links a later packet needs (`nfcore.sim.array_model`, "Not modelled"), and round robin
  between packets sent in different cycles; in one scenario that also changes the order in
  which two packets reach a RECV, so its scratchpads are not compared under contention.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nfcore import noc
from nfcore.scenarios import RTL_CYCLES_FILE, SCENARIOS, act_digest
from nfcore.sim.array_model import run_array_model
from nfcore.sim.flit_array import run_array_flits
from nfcore.sim.network import Network

RTL_FILE = Path(__file__).resolve().parents[2] / "sim_build" / RTL_CYCLES_FILE
RESERVATION_BOUND = 0.06


@pytest.fixture(scope="module")
def rtl() -> dict[str, Any]:
    if not RTL_FILE.exists():
        _measure_rtl()
    record: dict[str, Any] = json.loads(RTL_FILE.read_text())["scenarios"]
    assert set(record) == set(SCENARIOS), (
        f"{RTL_FILE} holds scenarios {sorted(record)}, nfcore.scenarios defines "
        f"{sorted(SCENARIOS)}: rerun sim_tests/test_array_rtl.py")
    for name, sc in SCENARIOS.items():
        assert record[name]["setup_sha256"] == sc.digest(), (
            f"{RTL_FILE} was measured on an older definition of scenario {name}: rerun "
            "sim_tests/test_array_rtl.py")
    return record


def _measure_rtl() -> None:
    """Regenerate `RTL_FILE` by running the array RTL suite under Verilator (what
    `sim_tests/test_array_rtl.py` does; `make test` runs that first, so this is for
    `pytest tests` alone). A failing RTL run fails the agreement tests, never skips them."""
    import importlib.util
    import sys

    sim_tests = RTL_FILE.parents[1] / "sim_tests"
    if str(sim_tests) not in sys.path:  # the cocotb runner passes sys.path to the simulator
        sys.path.insert(0, str(sim_tests))
    spec = importlib.util.spec_from_file_location("test_array_rtl",
                                                  sim_tests / "test_array_rtl.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.run_rtl_scenarios(RTL_FILE)
    assert RTL_FILE.exists(), f"the array RTL suite did not write {RTL_FILE}"


def _model(name: str) -> tuple[dict[str, int], dict[str, str]]:
    sc = SCENARIOS[name]
    states = sc.states()
    result = run_array_model(sc.config, states, gated=sc.gated)
    cycles = {f"{x},{y}": c for (x, y), c in result.cycles.items()}
    digests = {f"{x},{y}": act_digest(s.act) for (x, y), s in states.items()}
    return cycles, digests


@pytest.mark.parametrize("name", [n for n, s in SCENARIOS.items() if not s.contention])
def test_equal_without_contention(rtl: dict[str, Any], name: str) -> None:
    cycles, digests = _model(name)
    measured = {k: v["cycles"] for k, v in rtl[name]["cores"].items()}
    assert cycles == measured, f"{name}: model {cycles}, RTL {measured}"
    wake = SCENARIOS[name].config.power.wake_up_cycles
    offsets = {f"{x},{y}": wake if (x, y) in SCENARIOS[name].gated else 0
               for (x, y) in SCENARIOS[name].setups()}
    assert offsets == {k: v["run_offset"] for k, v in rtl[name]["cores"].items()}, \
        f"{name}: the RTL's gated cores did not wake in power.wake_up_cycles = {wake}"
    assert digests == {k: v["act_sha256"] for k, v in rtl[name]["cores"].items()}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_flit_model_equals_rtl(rtl: dict[str, Any], name: str) -> None:
    sc = SCENARIOS[name]
    states = sc.states()
    result = run_array_flits(sc.config, states, gated=sc.gated)
    cycles = {f"{x},{y}": c for (x, y), c in result.cycles.items()}
    measured = {k: v["cycles"] for k, v in rtl[name]["cores"].items()}
    assert cycles == measured, f"{name}: flit model {cycles}, RTL {measured}"
    digests = {f"{x},{y}": act_digest(s.act) for (x, y), s in states.items()}
    assert digests == {k: v["act_sha256"] for k, v in rtl[name]["cores"].items()}, \
        f"{name}: the flit model's scratchpads differ from the RTL's"


def test_reservation_model_error_with_contention(rtl: dict[str, Any]) -> None:
    total_rtl = total_err = 0
    print(f"\n{'scenario':18s} {'RTL cycles (per core)':26s} {'reservation model':26s} error")
    for name, sc in SCENARIOS.items():
        if not sc.contention:
            continue
        cycles, _ = _model(name)
        measured = {k: v["cycles"] for k, v in rtl[name]["cores"].items()}
        err = sum(abs(cycles[k] - measured[k]) for k in measured)
        total_rtl += sum(measured.values())
        total_err += err
        keys = sorted(measured)
        print(f"{name:18s} {str([measured[k] for k in keys]):26s} "
              f"{str([cycles[k] for k in keys]):26s} {err / sum(measured.values()):.2%}")
    share = total_err / total_rtl
    print(f"all contention scenarios: {total_err} of {total_rtl} cycles, {share:.2%}")
    assert share < RESERVATION_BOUND, \
        f"reservation model vs RTL error {share:.2%} >= {RESERVATION_BOUND:.0%}"


def test_no_contention_formula_is_the_rtl_contract() -> None:
    """The network model's header and tail cycles equal `noc.header_latency_cycles` (hops
    * ROUTER_HOP_CYCLES + EJECT_CYCLES, what the RTL tests measure) plus the flits."""
    sc = next(iter(SCENARIOS.values()))
    net = Network(sc.config)
    t = 0
    ends = [(x, y) for y in range(sc.rows) for x in range(sc.cols)]
    for src in ends:
        for dst in ends:
            for flits in (1, 2, 7):
                d = net.send(net.core(src), net.core(dst), flits, t)
                assert d.header_cycle - t == noc.header_latency_cycles(src, dst) == \
                    noc.packet_latency_cycles(src, dst)
                assert d.done_cycle == d.header_cycle + flits - 1
                t = d.done_cycle + 1
    d = net.send(net.host, net.core((1, 1)), 3, t)
    assert d.header_cycle - t == noc.header_latency_cycles(noc.HOST, (1, 1))
