"""The input scaling a forest was trained with: per-feature standardization.

`forest.datasets.load_dataset` standardizes every feature with the mean and standard
deviation of the training split; the forest only ever sees standardized rows. A saved forest
keeps that scaling (`input_scaling.json`, see `forest.io`) so that a runtime can take rows in
the user's units (raw digits pixels 0..16) and standardize them exactly as training did:

    z = (x - mean) / std      per feature of the flat row, in float64, then float32

`std` is 1 for features that are constant on the training split (digits' border pixels):
those are only centred.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from forest.errors import ForestError

FORMAT = "nf-input-scaling"
RULE = "(x - mean) / std per feature of the flat row"


@dataclass(frozen=True, eq=False)
class InputScaling:
    """Per-feature `mean` and `std` (n_features,), in the units of the raw rows; std > 0."""

    mean: npt.NDArray[np.float64]
    std: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        m, s = self.mean, self.std
        if m.ndim != 1 or s.shape != m.shape:
            raise ForestError(f"input scaling: mean {list(m.shape)} and std {list(s.shape)} "
                              "must be vectors of one length (features of a flat row)")
        if not (np.all(np.isfinite(m)) and np.all(np.isfinite(s)) and np.all(s > 0)):
            raise ForestError("input scaling: mean must be finite and std finite and > 0")

    @property
    def n_features(self) -> int:
        return int(self.mean.shape[0])

    @classmethod
    def fit(cls, x_train: npt.ArrayLike) -> InputScaling:
        """The training split's mean and std (n, n_features); a constant feature gets std 1."""
        x = np.asarray(x_train, dtype=np.float64)
        std = x.std(axis=0)
        std[std == 0] = 1.0
        return cls(x.mean(axis=0), std)

    def apply(self, x: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Standardized rows, the shape of `x` (n, ...); each row holds `n_features` values."""
        a = np.asarray(x, dtype=np.float64)
        flat = a.reshape(len(a), -1)
        if flat.shape[1] != self.n_features:
            raise ForestError(f"input scaling: rows of {flat.shape[1]} features, the scaling "
                              f"has {self.n_features}")
        return ((flat - self.mean) / self.std).astype(np.float32).reshape(a.shape)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "rule": RULE, "n_features": self.n_features,
                "mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: Any) -> InputScaling:
        """Read `to_dict`'s output; raises `ForestError` saying what is wrong."""
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ForestError(f"not an {FORMAT} document")
        try:
            mean = np.asarray(d["mean"], dtype=np.float64)
            std = np.asarray(d["std"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise ForestError(f"mean and std must be lists of numbers ({exc!r})") from None
        if d.get("n_features") != mean.size:
            raise ForestError(f"n_features {d.get('n_features')!r} but {mean.size} means")
        return cls(mean, std)
