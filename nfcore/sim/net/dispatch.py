"""How the host dispatches requests to trees through the host port: one rule for the model
and the RTL testbench (`nfcore/eda/array_tb.py`, `ArrayTB.replay`).

A request arrives in some cycle and calls trees, each resident on a core whose program
begins with a RECV of its input packet and ends with a SEND of its result to the host
(`nfcore.compiler.lower.host_io`). For each call, in request order and then call order:

* the host presents RUN to the tree's core (every core of a split tree's chain) on its `cmd`
  bus from the request's arrival cycle; the core takes it when it is idle
  (`nfcore.sim.net.array`: the cycle after its previous run's `done`);
* once the core has taken that RUN (the host sees the `cmd` handshake), the call's input
  packet (its tag, its input words; for a split tree, to the chain's first core) is
  eligible for the host port from the next cycle; the
  host port injects one packet after the other, each time the one that became eligible
  first (ties: request order, then call order). Sending only to a core that has started
  keeps a packet for a busy core from blocking the host port; a packet still waits in the
  network, holding its links, while the links ahead are taken or its core is not yet in
  its RECV (the router RTL's rules, `nfcore.sim.net.worm`);
* the result comes back as a packet to the host; the request is done in the cycle the host
  takes the tail of its last result.

A request may first call the on-chip router (`HostRequest.router`, a call like a tree's:
its input packet through the host port, its scores back as a result packet). Its tree calls
then wait for it: the host presents their RUNs no earlier than `host.decision_cycles` (an
assumption, `nfcore.config.HostConfig`) after it took the tail of the router's result, the
time it takes to read the scores and pick the top-k; everything else is as above.

`dispatch` turns requests into the RUN cycles, host packets and gates of
`nfcore.sim.net.array.run_array_model`; `collect` reads each request's outcome from the
packets the host received (from the model or the RTL alike).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nfcore.config import NFCoreConfig
from nfcore.errors import ExecutionError
from nfcore.golden.array import HostPacket
from nfcore.golden.core import CoreState
from nfcore.sim.net.array import ArrayModelResult, HostDelivery, TimedProgram, run_array_model

Coord = tuple[int, int]


@dataclass(frozen=True)
class TreeCall:
    """One tree a request runs: its core, the tag of its packets and its input words."""

    core: Coord
    tag: int
    payload: npt.NDArray[np.uint8]
    """`(words, lanes)` input words, the packet's payload."""
    program: TimedProgram | None = None
    """The tree's timing, when the run needs cycles only (`run_timed_requests`); None: the
    core's loaded program."""
    chain: tuple[Coord, ...] = ()
    """For a tree split over a chain of cores (`nfcore.compiler.lower.split`): the cores
    after `core`, in chain order; every one is RUN with `core`, the last returns the result."""

    @property
    def result_core(self) -> Coord:
        return self.chain[-1] if self.chain else self.core


@dataclass(frozen=True)
class HostRequest:
    arrival_cycle: int
    calls: tuple[TreeCall, ...]
    router: TreeCall | None = None
    """The on-chip router's call: RUN from the arrival cycle; the `calls` are RUN only
    after its result reached the host (see the module docstring)."""

    @property
    def all_calls(self) -> tuple[TreeCall, ...]:
        """The router's call (if any), then the tree calls: the order of the outputs."""
        return self.calls if self.router is None else (self.router, *self.calls)


@dataclass(frozen=True)
class RequestOutcome:
    done_cycle: int
    """Cycle the host took the tail of the request's last result packet."""
    outputs: tuple[npt.NDArray[np.uint8], ...]
    """Each call's result words, in the order of `HostRequest.all_calls` (the router's
    scores first)."""


Dispatch = tuple[dict[Coord, list[int | tuple[int, TimedProgram]]], list[HostPacket],
                 list[int | None], dict[tuple[Coord, int], tuple[Coord, int]]]
"""The arguments `runs`, `host_in`, `host_after_run` and `run_after_result` of
`run_array_model`."""


def dispatch(requests: Sequence[HostRequest]) -> Dispatch:
    """The cycles RUN is presented to each core (with the call's `TimedProgram` if it has
    one), the host port's packets in call order, the RUN of its core each packet waits for,
    and for each RUN of a routed request's tree, the router result it waits for: (core,
    RUN index) -> (router's result core, index of that result among the core's)."""
    runs: dict[Coord, list[int | tuple[int, TimedProgram]]] = {}
    packets = []
    gates: list[int | None] = []
    run_gates: dict[tuple[Coord, int], tuple[Coord, int]] = {}
    results: dict[Coord, int] = {}
    last = -1
    for r in requests:
        if r.arrival_cycle < last:
            raise ExecutionError(f"requests must come in arrival order: {r.arrival_cycle} "
                                 f"after {last}")
        last = r.arrival_cycle
        router_result = None
        for call in r.all_calls:
            if call.chain and call.program is not None:
                raise ExecutionError("a TimedProgram is for a tree on one core")
            core_runs = runs.setdefault(call.core, [])
            gates.append(len(core_runs))
            for c in (call.core, *call.chain):
                if router_result is not None:
                    run_gates[c, len(runs.setdefault(c, []))] = router_result
            core_runs.append(
                r.arrival_cycle if call.program is None else (r.arrival_cycle, call.program))
            for c in call.chain:
                runs.setdefault(c, []).append(r.arrival_cycle)
            packets.append(HostPacket(r.arrival_cycle, call.core, call.tag, call.payload))
            k = results.get(call.result_core, 0)
            results[call.result_core] = k + 1
            if call is r.router:
                router_result = (call.result_core, k)
    return runs, packets, gates, run_gates


def collect(requests: Sequence[HostRequest], delivered: Sequence[HostDelivery]
            ) -> list[RequestOutcome]:
    """Each request's outcome: a core's k-th result packet (in the order the host took
    them) answers its k-th call."""
    by_core: dict[Coord, list[HostDelivery]] = {}
    for d in sorted(delivered, key=lambda d: d.tail_cycle):
        by_core.setdefault(d.src, []).append(d)
    seen: dict[Coord, int] = {}
    out = []
    for i, r in enumerate(requests):
        results = []
        for call in r.all_calls:
            src = call.result_core
            k = seen.get(src, 0)
            seen[src] = k + 1
            got = by_core.get(src, [])
            if k >= len(got):
                raise ExecutionError(f"request {i}: core {src} returned no result for its "
                                     f"call {k}")
            if got[k].tag != call.tag:
                raise ExecutionError(f"request {i}: core {src} answered with tag "
                                     f"{got[k].tag}, expected {call.tag}")
            results.append(got[k])
        out.append(RequestOutcome(max(d.tail_cycle for d in results),
                                  tuple(d.payload for d in results)))
    return out


def run_requests(cfg: NFCoreConfig, cores: Mapping[Coord, CoreState],
                 requests: Sequence[HostRequest]
                 ) -> tuple[list[RequestOutcome], ArrayModelResult]:
    """Serve `requests` on the loaded `cores` (states updated in place) by the router RTL's
    rules; every outcome, and the run."""
    runs, packets, gates, run_gates = dispatch(requests)
    result = run_array_model(cfg, cores, host_in=packets, runs=runs, host_after_run=gates,
                             run_after_result=run_gates)
    return collect(requests, result.host_out), result


def run_timed_requests(cfg: NFCoreConfig, requests: Sequence[HostRequest]
                       ) -> tuple[list[RequestOutcome], ArrayModelResult]:
    """`run_requests` for calls that carry their `TimedProgram`: the same cycles, outputs
    of zeros (nothing is computed)."""
    missing = [i for i, r in enumerate(requests) for c in r.all_calls if c.program is None]
    if missing:
        raise ExecutionError(f"request {missing[0]}: a call without its TimedProgram")
    cores = {core: CoreState(cfg.core)
             for core in {c.core for r in requests for c in r.all_calls}}
    return run_requests(cfg, cores, requests)


@dataclass(frozen=True)
class Agreement:
    """Request-by-request comparison of two runs of the same requests."""

    requests_compared: int
    cycle_mismatches: int
    output_mismatches: int
    first_mismatch: str | None
    """What differs in the first request that differs, or None."""
    first_request: int | None = None
    """The index of that request, or None."""


def compare(expected: Sequence[RequestOutcome], got: Sequence[RequestOutcome]) -> Agreement:
    """Completion cycles and outputs of `got` (e.g. the RTL) against `expected` (the model)."""
    if len(expected) != len(got):
        raise ExecutionError(f"{len(got)} outcomes to compare with {len(expected)}")
    cycles = outputs = 0
    first, first_i = None, None
    for i, (e, g) in enumerate(zip(expected, got, strict=True)):
        cycle_ok = e.done_cycle == g.done_cycle
        output_ok = len(e.outputs) == len(g.outputs) and all(
            np.array_equal(a, b) for a, b in zip(e.outputs, g.outputs, strict=True))
        cycles += not cycle_ok
        outputs += not output_ok
        if first is None and not (cycle_ok and output_ok):
            first_i = i
            first = (f"request {i}: done in cycle {g.done_cycle}, expected {e.done_cycle}"
                     if not cycle_ok else f"request {i}: outputs differ")
    return Agreement(len(expected), cycles, outputs, first, first_i)
