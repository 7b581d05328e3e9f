"""The simulator's cycles against the RTL's on the shared scenarios (`sim_tests.tb.scenarios`).

The RTL side is the file `sim_build/<RTL_CYCLES_FILE>` that `sim_tests/test_array_rtl.py`
writes (the root conftest.py runs that test before this module in one session; when the file
is absent, as after `make clean` with `pytest tests`, the fixture runs the RTL suite itself, so
the comparison never skips). Two models run the same scenarios:

* `nfcore.sim.net.flit.run_array_flits`, flit by flit with the routers' FIFOs, locks and
  round robin as the RTL implements them, a Python step per cycle;
* `nfcore.sim.net.array.run_array_model`, SimPy cores on `nfcore.sim.net.worm` (the
  same rules computed per packet, an event per output a header crosses).

Both must equal the RTL on every core's cycles and final scratchpad, on every scenario, with
and without contention and with gated cores; the contention table (`pytest -s`) prints the
array model's error per scenario and in total (0 of 5895 cycles over the 28 contention
scenarios; it was 4.48%, up to 24% on one, when the array model used the system model's
one-shot reservation network, since removed). Each core's power counters over the
window the RTL suite records must equal the models' `state_cycles`, and give the same
leakage energy (`nfcore.sim.cost.system_energy.leakage_pj_from_state_cycles`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nfcore.arch import noc
from nfcore.sim.cost.energy import EnergyTable
from nfcore.sim.cost.system_energy import SystemEnergies, leakage_pj_from_state_cycles
from nfcore.sim.net.array import POWER_COUNTERS, ArrayModelResult, run_array_model
from nfcore.sim.net.flit import FlitArrayResult, run_array_flits
from nfcore.sim.net.topology import Network
from nfcore.sim.net.worm import WormNetwork
from sim_tests.tb.scenarios import RTL_CYCLES_FILE, SCENARIOS, act_digest, rtl_key

RTL_FILE = Path(__file__).resolve().parents[2] / "sim_build" / RTL_CYCLES_FILE


@pytest.fixture(scope="module")
def rtl() -> dict[str, Any]:
    if not RTL_FILE.exists() or _stale(json.loads(RTL_FILE.read_text())):
        _measure_rtl()  # absent, or written by an older suite or RTL: measure once, then check
    data = json.loads(RTL_FILE.read_text())
    assert data.get("rtl_key") == rtl_key(), f"{RTL_FILE} was measured on other RTL sources"
    record: dict[str, Any] = data["scenarios"]
    assert set(record) == set(SCENARIOS), (
        f"{RTL_FILE} holds scenarios {sorted(record)}, sim_tests.tb.scenarios defines "
        f"{sorted(SCENARIOS)}: rerun sim_tests/test_array_rtl.py")
    for name, sc in SCENARIOS.items():
        assert record[name]["setup_sha256"] == sc.digest(), (
            f"{RTL_FILE} was measured on an older definition of scenario {name}: rerun "
            "sim_tests/test_array_rtl.py")
        assert "power_window" in record[name], (
            f"{RTL_FILE} has no power counters for {name}: rerun sim_tests/test_array_rtl.py")
    return record


def _stale(data: dict[str, Any]) -> bool:
    """The file was measured on other RTL, contract or testbench sources (`rtl_key`), lacks a
    scenario, holds an older definition of one, or has no power counters."""
    record = data.get("scenarios", {})
    return data.get("rtl_key") != rtl_key() or set(record) != set(SCENARIOS) or any(
        record[name].get("setup_sha256") != sc.digest() or "power_window" not in record[name]
        for name, sc in SCENARIOS.items())


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


def _model(name: str) -> tuple[ArrayModelResult, dict[str, int], dict[str, str]]:
    sc = SCENARIOS[name]
    states = sc.states()
    result = run_array_model(sc.config, states, gated=sc.gated)
    cycles = {f"{x},{y}": c for (x, y), c in result.cycles.items()}
    digests = {f"{x},{y}": act_digest(s.act) for (x, y), s in states.items()}
    return result, cycles, digests


def _counters(rtl: dict[str, Any], name: str,
              result: ArrayModelResult | FlitArrayResult) -> tuple[dict[str, Any], ...]:
    """(RTL counters, the model's state cycles over the RTL's window), keyed "x,y"."""
    window = rtl[name]["power_window"]
    model = result.state_cycles(SCENARIOS[name].config, window["cycles"],
                                window["lead_cycles"])
    return ({k: v["power"] for k, v in rtl[name]["cores"].items()},
            {f"{x},{y}": c for (x, y), c in model.items()})


@pytest.mark.parametrize("name", [n for n, s in SCENARIOS.items() if not s.contention])
def test_equal_without_contention(rtl: dict[str, Any], name: str) -> None:
    _, cycles, digests = _model(name)
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


def test_array_model_equals_rtl_with_contention(rtl: dict[str, Any]) -> None:
    """The table of issue 7: RTL and model cycles per core, the error per scenario and in
    total; all must be 0 (equal is the aim, and the model follows the arbiters' rules)."""
    total_rtl = total_err = 0
    wrong = []
    print(f"\n{'scenario':20s} {'RTL cycles (per core)':40s} {'array model':40s} error")
    for name, sc in SCENARIOS.items():
        if not sc.contention:
            continue
        _, cycles, digests = _model(name)
        measured = {k: v["cycles"] for k, v in rtl[name]["cores"].items()}
        err = sum(abs(cycles[k] - measured[k]) for k in measured)
        total_rtl += sum(measured.values())
        total_err += err
        keys = sorted(measured)
        print(f"{name:20s} {str([measured[k] for k in keys]):40s} "
              f"{str([cycles[k] for k in keys]):40s} {err / sum(measured.values()):.2%}")
        if err or digests != {k: v["act_sha256"] for k, v in rtl[name]["cores"].items()}:
            wrong.append(name)
    print(f"all contention scenarios: {total_err} of {total_rtl} cycles, "
          f"{total_err / total_rtl:.2%}")
    assert not wrong, f"array model differs from the RTL (cycles or scratchpads) on {wrong}"


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_power_counters_equal_rtl(rtl: dict[str, Any], name: str) -> None:
    """Both models' state cycles over the RTL's counter window equal the RTL's counters."""
    sc = SCENARIOS[name]
    result, _, _ = _model(name)
    measured, model = _counters(rtl, name, result)
    assert set(POWER_COUNTERS) == set(next(iter(measured.values())))
    assert model == measured, f"{name}: model {model}, RTL {measured}"
    flits = run_array_flits(sc.config, sc.states(), gated=sc.gated)
    assert _counters(rtl, name, flits)[1] == measured


def test_leakage_from_rtl_counters_equals_the_models(rtl: dict[str, Any]) -> None:
    """One function turns state cycles into leakage: the RTL's counters and the model's give
    the same energy, and a gated cycle costs the gated rate, not the full one."""
    sc = SCENARIOS["pipeline_gated"]
    energies = SystemEnergies.of(sc.config, EnergyTable.load(sc.config.technology.energy_table))
    result, _, _ = _model("pipeline_gated")
    measured, model = _counters(rtl, "pipeline_gated", result)
    rtl_pj = leakage_pj_from_state_cycles(energies, measured)
    assert rtl_pj == leakage_pj_from_state_cycles(energies, model) > 0
    gated = sum(c["gated_cycles"] for c in measured.values())
    assert gated > 0
    awake = {k: {**c, "idle_cycles": c["idle_cycles"] + c["gated_cycles"], "gated_cycles": 0}
             for k, c in measured.items()}
    assert leakage_pj_from_state_cycles(energies, awake) - rtl_pj == pytest.approx(
        gated * (energies.core.leakage_pj_per_cycle - energies.gated_leakage_pj_per_cycle))


def test_no_contention_formula_is_the_rtl_contract() -> None:
    """The network model's header and tail cycles equal `noc.header_latency_cycles` (hops
    * ROUTER_HOP_CYCLES + EJECT_CYCLES, what the RTL tests measure) plus the flits, between
    every pair of cores and from the host port."""
    sc = next(iter(SCENARIOS.values()))
    net = Network(sc.config)
    mesh = WormNetwork(net)
    t = 0
    ends = [(x, y) for y in range(sc.rows) for x in range(sc.cols)]
    pairs = [(net.core(s), net.core(d), s, d) for s in ends for d in ends]
    pairs.append((net.host, net.core((1, 1)), noc.HOST, (1, 1)))
    for src, dst, src_xy, dst_xy in pairs:
        for flits in (1, 2, 7):
            w = mesh.send(src, dst, flits, t)
            mesh.advance(t + 1_000)
            assert w.offer_cycle is not None
            assert w.offer_cycle - t == noc.header_latency_cycles(src_xy, dst_xy)
            if src != net.host:
                assert w.offer_cycle - t == noc.packet_latency_cycles(src_xy, dst_xy)
            mesh.take(w, w.offer_cycle)
            mesh.advance(t + 2_000)
            assert w.done_cycle == w.offer_cycle + flits - 1
            t = w.done_cycle + 1
