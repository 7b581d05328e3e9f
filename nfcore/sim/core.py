"""A SimPy model of one core serving a stream of requests.

A host process issues requests by an arrival process; each request waits for the core
(FIFO), then

1. the host writes the input vector into the scratchpad over its stream, a word per cycle;
2. the core runs the program one instruction at a time, each taking `isa.cycles` (the
   timing contract) and causing the events `events.program_events` counts;
3. the host reads the output vector, a word per cycle.

Functional results come from `nfcore.golden.core.CoreState.execute` on the core's memories, so
outputs are bit-exact with the golden model and program cycles equal `golden.RunResult.cycles`.
Memories persist from one request to the next, as on the hardware. Time is in cycles of
`technology.clock_mhz`; energy per request is its events times `EventEnergies` (so leakage
is charged over the cycles the request holds the core; leakage while the core waits for
work is reported per run as `idle_leakage_pj`).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import simpy
from tqdm import tqdm

from nfcore.arch import isa
from nfcore.arch.isa import Instruction, Opcode
from nfcore.config import NFCoreConfig
from nfcore.errors import ExecutionError, NFCoreError
from nfcore.golden.core import MAX_STEPS, CoreState
from nfcore.sim.cost.energy import EnergyTable, EventEnergies
from nfcore.sim.cost.events import Events, component_energy_pj, host_io_events, program_events
from nfcore.sim.stats import percentiles

Arrival = Literal["fixed", "poisson", "burst"]
ARRIVALS: tuple[str, ...] = ("fixed", "poisson", "burst")


class SimError(NFCoreError):
    """A simulation was asked for with arguments it cannot run (arrival process, shapes)."""


@dataclass
class RequestRecord:
    """What one request did. Cycles are absolute simulation times in core clock cycles."""

    request_id: int
    arrival_cycle: int
    start_cycle: int
    """Cycle the core started serving it (host input write begins)."""
    end_cycle: int
    """Cycle the host finished reading its output."""
    program_cycles: int
    """Cycles of the program by the timing contract; equals the golden model's count."""
    io_cycles: int
    """Host stream cycles: input words written plus output words read."""
    latency_cycles: int
    """`end_cycle - arrival_cycle`: queueing, I/O and program."""
    latency_s: float
    energy_pj: dict[str, float]
    """Energy by component (`events.COMPONENTS`), pJ."""
    events: Events
    outputs: npt.NDArray[np.int8]

    @property
    def queue_cycles(self) -> int:
        return self.start_cycle - self.arrival_cycle

    @property
    def energy_pj_total(self) -> float:
        return float(sum(self.energy_pj.values()))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (an audit-record building block)."""
        return {
            "request_id": self.request_id, "arrival_cycle": self.arrival_cycle,
            "start_cycle": self.start_cycle, "end_cycle": self.end_cycle,
            "queue_cycles": self.queue_cycles, "program_cycles": self.program_cycles,
            "io_cycles": self.io_cycles, "latency_cycles": self.latency_cycles,
            "latency_s": self.latency_s, "energy_pj": dict(self.energy_pj),
            "energy_pj_total": self.energy_pj_total, "events": self.events.to_dict(),
            "outputs": [int(v) for v in self.outputs],
        }


@dataclass
class SimResult:
    """Per-request records and run-level statistics of one simulation."""

    records: list[RequestRecord]
    span_cycles: int
    """From the first arrival to the last request's end."""
    busy_cycles: int
    """Cycles the core was serving a request (I/O and program)."""
    throughput_rps: float
    """Requests per second over the span."""
    utilization: float
    """`busy_cycles / span_cycles`."""
    latency_cycles: dict[str, float]
    """p50 and p99 of `latency_cycles` (queueing included)."""
    idle_leakage_pj: float
    """Leakage over the span's cycles in which the core served no request."""
    event_energies: EventEnergies
    arrival: str
    interval_cycles: float | None

    def summary(self) -> dict[str, Any]:
        """Run-level statistics, JSON-serialisable."""
        return {
            "requests": len(self.records), "arrival": self.arrival,
            "interval_cycles": self.interval_cycles, "span_cycles": self.span_cycles,
            "busy_cycles": self.busy_cycles, "throughput_rps": self.throughput_rps,
            "utilization": self.utilization, "latency_cycles": dict(self.latency_cycles),
            "idle_leakage_pj": self.idle_leakage_pj,
        }


def arrival_cycles(n: int, arrival: str, interval_cycles: float | None,
                   seed: int = 0) -> list[int]:
    """Arrival cycle of each of `n` requests.

    `fixed`: request i at `i * interval_cycles`; `poisson`: exponential gaps of mean
    `interval_cycles` drawn with `seed`, rounded to whole cycles, the first after one gap;
    `burst`: all at cycle 0.
    """
    if arrival not in ARRIVALS:
        raise SimError(f"arrival = {arrival!r}; choose one of {', '.join(ARRIVALS)}")
    if arrival == "burst":
        return [0] * n
    if interval_cycles is None or interval_cycles <= 0:
        raise SimError(f"arrival = {arrival!r} needs interval_cycles > 0, "
                       f"got {interval_cycles!r}")
    if arrival == "fixed":
        return [round(i * interval_cycles) for i in range(n)]
    gaps = np.random.default_rng(seed).exponential(interval_cycles, size=n)
    return [int(c) for c in np.rint(np.cumsum(gaps))]


def simulate(cfg: NFCoreConfig, weights: npt.NDArray[np.uint8], program: list[int],
             inputs: list[npt.NDArray[np.int8]], input_addr: int, output_addr: int,
             output_len: int, arrival: Arrival | str = "fixed",
             interval_cycles: float | None = None, seed: int = 0, progress: bool = False,
             table: EnergyTable | None = None) -> SimResult:
    """Serve `inputs` on one core and return per-request records and run statistics.

    `weights` (uint8, `(words, lanes)`) is loaded at weight word 0 and `program` (encoded
    64-bit instructions) into the instruction memory once, before the first request. Each
    input goes to scratchpad word `input_addr`; `output_len` bytes are read from word
    `output_addr`. `table` defaults to `cfg.technology.energy_table`.
    """
    lanes = cfg.core.lanes
    weights = np.asarray(weights)
    if weights.ndim != 2 or weights.shape[1] != lanes or weights.dtype != np.uint8:
        raise SimError(f"weights must be uint8 of shape (words, {lanes}), got "
                       f"{weights.dtype} {weights.shape}")
    arrivals = arrival_cycles(len(inputs), arrival, interval_cycles, seed)
    table = table or EnergyTable.load(cfg.technology.energy_table)
    energies = EventEnergies.of(cfg, table)

    state = CoreState(cfg.core)
    state.load_weights(weights)
    state.load_program(program)
    # Every run executes the same instructions (no branches; the reuse buffer starts empty
    # at RUN), so a run's events are counted once from the program.
    run_events = sum(program_events(_up_to_halt(program), lanes, cfg.core.wbuf_words),
                     Events())

    env = simpy.Environment()
    core = simpy.Resource(env, capacity=1)
    records: list[RequestRecord | None] = [None] * len(inputs)
    bar = tqdm(total=len(inputs), desc="simpy", unit="req", disable=not progress)

    def serve(rid: int, x: npt.NDArray[np.int8]) -> Generator[simpy.Event, Any, None]:
        arrived = int(env.now)
        with core.request() as turn:
            yield turn
            start = int(env.now)
            io = host_io_events(len(x), output_len, lanes)
            yield env.timeout(isa.words_for(len(x), lanes))
            state.write_vector(input_addr, x)
            total, program_cycles = io + run_events, 0
            state.start()
            for _ in range(MAX_STEPS):
                instr = state.fetch()
                cyc = isa.cycles(instr, lanes)
                yield env.timeout(cyc)
                program_cycles += cyc
                if instr.op is Opcode.HALT:
                    break
                if instr.op in (Opcode.SEND, Opcode.RECV):
                    raise SimError(f"{instr.op.name}: the one-core SimPy model has no network")
                state.execute(instr)
            else:
                raise ExecutionError(f"program did not halt within {MAX_STEPS} instructions")
            yield env.timeout(isa.words_for(output_len, lanes))
            out = state.read_vector(output_addr, output_len)
            end = int(env.now)
        records[rid] = RequestRecord(
            request_id=rid, arrival_cycle=arrived, start_cycle=start, end_cycle=end,
            program_cycles=program_cycles, io_cycles=io.cycles,
            latency_cycles=end - arrived, latency_s=(end - arrived) / cfg.clock_hz,
            energy_pj=component_energy_pj(total, energies), events=total, outputs=out)
        bar.update()

    def host() -> Generator[simpy.Event, Any, None]:
        for rid, (at, x) in enumerate(zip(arrivals, inputs, strict=True)):
            yield env.timeout(at - env.now)
            env.process(serve(rid, np.asarray(x)))

    env.process(host())
    try:
        env.run()
    finally:
        bar.close()
    done = [r for r in records if r is not None]
    if len(done) != len(inputs):  # pragma: no cover - every process runs to its end
        raise SimError(f"{len(inputs) - len(done)} requests did not complete")

    span = max((r.end_cycle for r in done), default=0) - min(arrivals, default=0)
    busy = sum(r.end_cycle - r.start_cycle for r in done)
    return SimResult(
        records=done,
        span_cycles=span,
        busy_cycles=busy,
        throughput_rps=len(done) / (span / cfg.clock_hz) if span else 0.0,
        utilization=busy / span if span else 0.0,
        latency_cycles=percentiles([r.latency_cycles for r in done]),
        idle_leakage_pj=(span - busy) * energies.leakage_pj_per_cycle,
        event_energies=energies,
        arrival=str(arrival),
        interval_cycles=interval_cycles,
    )


def _up_to_halt(program: Any) -> list[Instruction]:
    """The decoded instructions of an encoded `program` up to its first HALT."""
    out: list[Instruction] = []
    for word in program:
        out.append(isa.decode(int(word)))
        if out[-1].op is Opcode.HALT:
            break
    return out
