"""Pareto fronts: the points no other point beats on every objective (all minimised)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def pareto_front(costs: npt.ArrayLike) -> list[int]:
    """Indices of the non-dominated rows of `costs` (n points x m objectives, lower is
    better), sorted by the first objective then the second.

    Row a dominates row b when a <= b in every objective and a < b in at least one; equal
    rows do not dominate each other, so duplicates on the front are all kept. NaN rows are
    never on the front.
    """
    c = np.asarray(costs, dtype=np.float64)
    if c.ndim != 2:
        raise ValueError(f"costs must be 2-D (points x objectives), got shape {c.shape}")
    valid = ~np.isnan(c).any(axis=1)
    front = []
    for i in np.flatnonzero(valid):
        others = c[valid]
        dominated = np.any(np.all(others <= c[i], axis=1) & np.any(others < c[i], axis=1))
        if not dominated:
            front.append(int(i))
    return sorted(front, key=lambda i: tuple(c[i]))
