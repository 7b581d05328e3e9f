"""Request arrival processes of the system model: fixed rate, Poisson, burst, or a trace.

All return arrival cycles (non-decreasing ints) in cycles of `technology.clock_mhz`.
"""

from __future__ import annotations

import csv
from pathlib import Path

from nfcore.sim.core import ARRIVALS, SimError, arrival_cycles

TRACE_COLUMNS = ("arrival_s", "arrival_cycle")
"""A trace is a CSV with a header naming one of these columns; other columns are ignored."""


def load_trace(path: str | Path, clock_hz: float) -> list[int]:
    """Arrival cycles from a CSV trace: column `arrival_s` (seconds, converted with
    `clock_hz` and rounded to whole cycles) or `arrival_cycle`. Times must be >= 0 and
    non-decreasing. Raises `SimError` naming the file and line at fault."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SimError(f"{path}: cannot read arrival trace: {exc.strerror}") from exc
    reader = csv.DictReader(text.splitlines())
    names = reader.fieldnames or []
    column = next((c for c in TRACE_COLUMNS if c in names), None)
    if column is None:
        raise SimError(f"{path}: arrival trace needs a header with one of "
                       f"{', '.join(TRACE_COLUMNS)}; found {', '.join(names) or 'none'}")
    cycles: list[int] = []
    for line, row in enumerate(reader, start=2):
        raw = (row.get(column) or "").strip()
        try:
            value = float(raw)
        except ValueError:
            raise SimError(f"{path}:{line}: {column} = {raw!r} is not a number") from None
        cyc = round(value * clock_hz) if column == "arrival_s" else round(value)
        if value < 0 or (cycles and cyc < cycles[-1]):
            raise SimError(f"{path}:{line}: {column} = {raw} must be >= 0 and not before "
                           "the previous arrival")
        cycles.append(int(cyc))
    if not cycles:
        raise SimError(f"{path}: arrival trace has no rows")
    return cycles


def make_arrivals(n: int, kind: str, interval_cycles: float | None = None, seed: int = 0,
                  trace: str | Path | None = None, clock_hz: float = 1.0) -> list[int]:
    """Arrival cycles of `n` requests: `fixed`, `poisson`, `burst` (see
    `nfcore.sim.core.arrival_cycles`) or `trace` (the first `n` rows of `trace`, which must have
    at least `n`)."""
    if kind != "trace":
        return arrival_cycles(n, kind, interval_cycles, seed)
    if trace is None:
        raise SimError("arrival = 'trace' needs a trace file")
    cycles = load_trace(trace, clock_hz)
    if len(cycles) < n:
        raise SimError(f"{trace}: arrival trace has {len(cycles)} rows; {n} requests need "
                       "as many")
    return cycles[:n]


ARRIVAL_KINDS = (*ARRIVALS, "trace")
