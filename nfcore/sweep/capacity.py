"""`nfcore plan`: how many chips a forest needs to serve a request rate within a P99 latency.

Every chip count from 1 to `max_chips` is simulated (a scan, so the counts run side by side on
the sweep's executors: local processes or a Dask cluster with `--cluster`) on the same
requests, arriving as a Poisson stream at the rate; the answer is the smallest count whose
P99 is within the target. One chip serves the workload as given (trees that do not fit are
paged from DRAM); more chips spread every tree, resident, by the compiler's chip partition
(`nfcore.flows.chips`), so a count the forest does not fit is reported as such.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from nfcore.config import ChipsConfig, NFCoreConfig, check_field
from nfcore.errors import ConfigError, NFCoreError
from nfcore.flows.chips import simulate
from nfcore.sim.arrivals import make_arrivals
from nfcore.sim.system.workload import SystemWorkload
from nfcore.sweep.executors import Executor, InlineExecutor


@dataclass(frozen=True)
class CapacityTask:
    """One chip count to simulate (picklable: a worker receives it whole)."""

    chips: int
    config: dict[str, Any]
    """The config mapping, `chips.count` = `chips`."""
    workload: SystemWorkload | NFCoreError
    """What the chips serve, or why it could not be built for this count (one chip: the
    forest does not fit even with paging)."""
    rate_rps: float
    seed: int


@dataclass(frozen=True)
class CapacityPoint:
    """The outcome of one chip count: its latency and energy, or why the forest does not fit
    (`error`)."""

    chips: int
    p99_s: float | None = None
    p50_s: float | None = None
    energy_pj_per_inference: float | None = None
    link_bytes_per_request: float = 0.0
    error: str = ""


@dataclass(frozen=True)
class Plan:
    rate_rps: float
    p99_target_s: float
    points: list[CapacityPoint]
    """Every count tried, ascending."""

    @property
    def answer(self) -> int | None:
        """The fewest chips whose P99 is within the target (None: no count tried is)."""
        return next((p.chips for p in self.points
                     if p.p99_s is not None and p.p99_s <= self.p99_target_s), None)

    def lines(self) -> list[str]:
        out = [f"chips needed for {self.rate_rps:,.0f} requests/s within a P99 of "
               f"{self.p99_target_s * 1e6:,.3f} µs:",
               "| chips | P99 (µs) | P50 (µs) | energy per inference (pJ) | link bytes per "
               "request | within target |", "| --- | --- | --- | --- | --- | --- |"]
        for p in self.points:
            if p.p99_s is None or p.p50_s is None or p.energy_pj_per_inference is None:
                out.append(f"| {p.chips} | - | - | - | - | no: {p.error} |")
                continue
            ok = "yes" if p.p99_s <= self.p99_target_s else "no"
            out.append(f"| {p.chips} | {p.p99_s * 1e6:,.3f} | {p.p50_s * 1e6:,.3f} | "
                       f"{p.energy_pj_per_inference:,.0f} | {p.link_bytes_per_request:,.1f} | "
                       f"{ok} |")
        answer = self.answer
        out.append(f"answer: {answer} chip{'s' if answer != 1 else ''}" if answer else
                   f"answer: none of 1 to {len(self.points)} chips meets the target")
        return out


def check_plan_options(rate_rps: float, p99_s: float, max_chips: int) -> None:
    """Raise `ConfigError` naming the option and its range for a bad rate, target or count."""
    if not rate_rps > 0:
        raise ConfigError(f"--rate-rps = {rate_rps:g} is out of range; allowed > 0 requests/s")
    if not p99_s > 0:
        raise ConfigError(f"--p99-us = {p99_s * 1e6:g} is out of range; allowed > 0 µs")
    check_field(ChipsConfig, "count", max_chips, key="--max-chips")


def plan_chips(cfg: NFCoreConfig, one_chip: SystemWorkload | NFCoreError,
               spread: SystemWorkload,
               rate_rps: float, p99_s: float, max_chips: int, seed: int = 0,
               executor: Executor | None = None) -> Plan:
    """Simulate 1..`max_chips` chips at `rate_rps` (Poisson) and compare each P99 with
    `p99_s`. `one_chip` is the workload placed on one chip (paging what does not fit), or the
    error that placing it raised; `spread` the same trees and requests for the chip partition
    (their placement is not read).

    Raises `ConfigError` for a bad option and `NFCoreError` naming `--max-chips` if the forest
    fits no count tried."""
    check_plan_options(rate_rps, p99_s, max_chips)
    base = cfg.to_dict()
    tasks = [CapacityTask(n, {**base, "chips": {**base["chips"], "count": n}},
                          one_chip if n == 1 else spread, rate_rps, seed)
             for n in range(1, max_chips + 1)]
    points: list[CapacityPoint] = []
    for _, outcome in (executor or InlineExecutor()).map_unordered(capacity_point, tasks):
        if isinstance(outcome, BaseException):
            raise outcome
        points.append(outcome)
    points.sort(key=lambda p: p.chips)
    if all(p.error for p in points):
        raise NFCoreError(f"--max-chips = {max_chips}: the forest fits none of 1 to "
                          f"{max_chips} chips ({points[-1].error}); allowed up to 64 chips")
    return Plan(rate_rps, p99_s, points)


def capacity_point(task: CapacityTask) -> CapacityPoint:
    """Simulate one chip count (runs in a worker); a forest that does not fit is a point with
    its error, not a failure."""
    if isinstance(task.workload, NFCoreError):
        return CapacityPoint(task.chips, error=str(task.workload))
    cfg = NFCoreConfig.from_dict(task.config, source=f"{task.chips} chips")
    arrivals = make_arrivals(len(task.workload.requests), "poisson",
                             cfg.clock_hz / task.rate_rps, task.seed, None, cfg.clock_hz)
    try:
        result, chips = simulate(cfg, task.workload, arrivals)
    except NFCoreError as exc:
        return CapacityPoint(task.chips, error=str(exc))
    lat = result.latencies_cycles() / cfg.clock_hz
    energy = np.mean([r.energy_pj_total for r in result.records]) \
        + result.idle_leakage_pj / len(result.records)
    return CapacityPoint(
        task.chips, p99_s=float(np.percentile(lat, 99)), p50_s=float(np.percentile(lat, 50)),
        energy_pj_per_inference=float(energy),
        link_bytes_per_request=chips["per_request"]["link_bytes"] if chips else 0.0)


def with_chips(cfg: NFCoreConfig, count: int) -> NFCoreConfig:
    """`cfg` with `chips.count` = `count`."""
    return dataclasses.replace(cfg, chips=dataclasses.replace(cfg.chips, count=count))

