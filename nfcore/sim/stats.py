"""Statistics of a simulation's records: percentiles and mean energy per inference."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from nfcore.errors import ReportError


def percentiles(values: Iterable[float], qs: Sequence[float] = (50, 99)) -> dict[str, float]:
    """`{"p50": ..., "p99": ...}` of `values` (numpy's linear interpolation)."""
    arr = np.asarray(list(values), dtype=float)
    if arr.size == 0:
        raise ReportError("percentiles of an empty set of values")
    return {f"p{q:g}": float(np.percentile(arr, q)) for q in qs}


def summarize_energy(records: Iterable[Any]) -> dict[str, Any]:
    """Mean energy per inference over `records`: `{"total": pJ, "by_component": {name: pJ}}`.

    A record is anything with an `energy_pj` mapping (a `RequestRecord`) or a dict with an
    `"energy_pj"` key. `total` is the sum of the component means.
    """
    per_record = [r["energy_pj"] if isinstance(r, dict) else r.energy_pj for r in records]
    if not per_record:
        raise ReportError("cannot summarize the energy of zero requests")
    names = list(per_record[0])
    by_component = {n: float(np.mean([e[n] for e in per_record])) for n in names}
    return {"total": float(sum(by_component.values())), "by_component": by_component}
