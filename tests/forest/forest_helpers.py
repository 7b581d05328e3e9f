"""Shared settings for the forest tests."""

from __future__ import annotations

from forest.fit import FitOptions

QUICK = FitOptions(epochs=10, min_steps=30)
"""Short training: enough for structure and save/load tests, not for accuracy claims."""
