"""The SimPy core model against the golden model, and its queueing behaviour."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sim_workloads import SMALL, Workload, golden_runs, random_workload

from nfcore.arch import isa
from nfcore.config import NFCoreConfig
from nfcore.errors import ExecutionError
from nfcore.sim.core import SimError, SimResult, arrival_cycles, simulate
from nfcore.sim.cost.energy import EnergyTable, EventEnergies
from nfcore.sim.cost.events import COMPONENTS, component_energy_pj, events_of, host_io_events


def _inputs(rng: np.random.Generator, wl: Workload, n: int) -> list[np.ndarray]:
    return [rng.integers(-128, 128, size=wl.input_len).astype(np.int8) for _ in range(n)]


def _run(cfg: NFCoreConfig, wl: Workload, inputs: list[np.ndarray], **kw: Any) -> SimResult:
    return simulate(cfg, wl.weights, wl.program, inputs, wl.input_addr, wl.output_addr,
                    wl.output_len, **kw)


@pytest.mark.parametrize("seed", range(12))
def test_random_programs_match_golden_cycles_and_outputs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    wl = random_workload(rng)
    inputs = _inputs(rng, wl, 5)
    sim = _run(SMALL, wl, inputs, arrival="poisson", interval_cycles=150, seed=seed)
    for rec, (out, cycles) in zip(sim.records, golden_runs(SMALL, wl, inputs), strict=True):
        assert rec.program_cycles == cycles
        np.testing.assert_array_equal(rec.outputs, out)
        assert rec.io_cycles == isa.words_for(wl.input_len, 8) + isa.words_for(wl.output_len, 8)
        assert rec.end_cycle - rec.start_cycle == rec.program_cycles + rec.io_cycles


def test_energy_of_a_request_is_its_events() -> None:
    wl = random_workload(np.random.default_rng(3))
    rec = _run(SMALL, wl, _inputs(np.random.default_rng(0), wl, 1), arrival="burst").records[0]
    events = host_io_events(wl.input_len, wl.output_len, 8)
    for word in wl.program:
        events += events_of(isa.decode(word), 8)
    assert rec.events == events
    assert rec.events.cycles == rec.program_cycles + rec.io_cycles
    expected = component_energy_pj(events, EventEnergies.of(
        SMALL, EnergyTable.load(SMALL.technology.energy_table)))
    assert rec.energy_pj == pytest.approx(expected)
    assert list(rec.energy_pj) == list(COMPONENTS)


def test_burst_queues_without_changing_program_cycles() -> None:
    rng = np.random.default_rng(7)
    wl = random_workload(rng)
    inputs = _inputs(rng, wl, 20)
    service = golden_runs(SMALL, wl, inputs[:1])[0][1] + isa.words_for(wl.input_len, 8) \
        + isa.words_for(wl.output_len, 8)
    spaced = _run(SMALL, wl, inputs, arrival="fixed", interval_cycles=2 * service)
    burst = _run(SMALL, wl, inputs, arrival="burst")
    assert [r.program_cycles for r in burst.records] == [r.program_cycles for r in spaced.records]
    for a, b in zip(spaced.records, burst.records, strict=True):
        np.testing.assert_array_equal(a.outputs, b.outputs)
    # Spaced: no queueing, every latency is one service time; the core is busy half the time.
    assert all(r.queue_cycles == 0 and r.latency_cycles == service for r in spaced.records)
    assert spaced.utilization == pytest.approx(20 / 39)  # 20 services over 19 gaps + 1
    # Burst: request i waits for the i before it; the core never idles.
    assert [r.latency_cycles for r in burst.records] == [(i + 1) * service for i in range(20)]
    assert burst.latency_cycles["p99"] > spaced.latency_cycles["p99"]
    assert burst.utilization == 1.0 and burst.idle_leakage_pj == 0.0
    assert burst.summary()["latency_cycles"] == burst.latency_cycles
    assert spaced.idle_leakage_pj > 0
    assert burst.throughput_rps == pytest.approx(SMALL.clock_hz / service)


def test_arrival_processes() -> None:
    assert arrival_cycles(3, "burst", None) == [0, 0, 0]
    assert arrival_cycles(3, "fixed", 10) == [0, 10, 20]
    a = arrival_cycles(200, "poisson", 50, seed=1)
    assert a == arrival_cycles(200, "poisson", 50, seed=1)
    assert a != arrival_cycles(200, "poisson", 50, seed=2)
    assert a == sorted(a) and 40 < a[-1] / 200 < 60
    with pytest.raises(SimError, match="needs interval_cycles > 0"):
        arrival_cycles(3, "fixed", None)
    with pytest.raises(SimError, match="choose one of fixed, poisson, burst"):
        arrival_cycles(3, "trace", 1)


def test_refusals() -> None:
    wl = random_workload(np.random.default_rng(0))
    x = _inputs(np.random.default_rng(0), wl, 1)
    with pytest.raises(SimError, match=r"uint8 of shape \(words, 8\)"):
        simulate(SMALL, wl.weights.astype(np.int16), wl.program, x, 0, 0, 1)
    no_halt = [isa.vadd(n=1, a_addr=0, b_addr=1, y_addr=2).encode()]
    with pytest.raises(ExecutionError, match="without HALT"):
        simulate(SMALL, wl.weights, no_halt, x, 0, 0, 1, arrival="burst")


def test_loop_body_is_charged_per_iteration() -> None:
    # A LOOP over two VADDs, 3 iterations, the second x-strided: the SimPy model runs the
    # body three times, as the golden model does, and charges its events each time.
    add = isa.vadd(n=8, a_addr=0, b_addr=1, y_addr=2)
    program = [isa.loop(body=2, count=3, x_stride=1, x_mask=0b10), add,
               isa.vadd(n=8, a_addr=3, b_addr=1, y_addr=9), isa.halt()]
    words = [i.encode() for i in program]
    weights = np.zeros((1, 8), dtype=np.uint8)
    x = np.arange(8, dtype=np.int8)
    rec = simulate(SMALL, weights, words, [x], 0, 9, 8, arrival="burst").records[0]
    expected = isa.ISSUE_CYCLES * 2 + 6 * isa.cycles(add, 8)
    assert rec.program_cycles == expected
    assert rec.events.instr_fetches == 1 + 6 + 1
    assert rec.events.adds_int8 == 6 * 8
