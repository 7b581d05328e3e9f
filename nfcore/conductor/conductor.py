"""The Conductor: route a request, run its trees on a backend, average, audit.

At start it reads the forest's manifest, input scaling, stem and router
(`forest.io.ForestReader`): nothing of any tree. A tree is loaded the first time a request
is routed to it: its compiled form from the image (`CompiledForest.load_tree`) and its float
weights (for the importance), and both are kept; `loads` counts them. Then per batch of
requests:

0. `check_inputs(x)`: rows in the user's units, by the rules of `nfcore.conductor.inputs`,
   then `standardize`d as the forest was trained (`forest.scaling`; skipped when the
   Conductor was opened with `standardized=True`, for rows already standardized);
1. `route(x)`: the stem's features, every tree's router score, the top-k trees and their
   renormalised weights (`forest.router.top_k`, the forest's own rule);
2. `execute`: each picked tree runs on the backend on the int8 inputs of the requests routed
   to it (quantized by that tree's calibrated input scale);
3. `aggregate(logits, weights)`: dequantized logits -> softmax -> router-weighted average
   (`forest.router.average`'s rule) -> the predicted class;
4. importance (`nfcore.conductor.importance`) and costs (`nfcore.conductor.costs`);
5. one audit record per request, appended to the log as one durable batch before the
   answers are returned.

Thread-safe: loading is under a lock; the audit log serialises its own appends.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from forest.errors import ForestFormatError
from forest.io import ForestReader
from forest.router import top_k
from forest.trees import TreeModule
from nfcore.conductor.audit import AuditLog
from nfcore.conductor.backends import Backend, TreeCall
from nfcore.conductor.costs import TreeCost
from nfcore.conductor.importance import METHOD, gradient_x_input
from nfcore.conductor.inputs import RequestError, rows_from_json
from nfcore.conductor.tree_source import CompiledForest, CompiledTree

__all__ = ["Answer", "Conductor", "LoadStats", "RequestError", "Routing", "aggregate"]


@dataclass
class LoadStats:
    """What has been read from disk since start."""

    compiled_trees: int = 0
    float_trees: int = 0
    compiled_weight_bytes: int = 0
    """Weight SRAM bytes of the compiled trees loaded."""
    float_parameter_bytes: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Routing:
    """Picked trees (n, k), their averaging weights (n, k) and router scores (n, k)."""

    features: torch.Tensor
    trees: npt.NDArray[np.int64]
    weights: npt.NDArray[np.float64]
    scores: npt.NDArray[np.float64]


@dataclass
class Answer:
    """One request's answer: the predicted class, class probabilities, its audit entry."""

    request_id: str
    prediction: int
    probs: list[float]
    record: dict[str, Any]
    audit: dict[str, Any] = field(default_factory=dict)
    """The log entry's seq, prev_sha256 and sha256 (empty without a log)."""
    record_json: str | None = None
    """`record` as canonical JSON, as the log holds it (None without a log)."""


def aggregate(logits: npt.NDArray[np.floating], weights: npt.NDArray[np.floating]
              ) -> npt.NDArray[np.float64]:
    """Class probabilities (n, C) from the picked trees' logits (n, k, C) and weights (n, k):
    sum_j weights[:, j] * softmax(logits[:, j])."""
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max(axis=2, keepdims=True))
    return np.einsum("nkc,nk->nc", e / e.sum(axis=2, keepdims=True),
                     np.asarray(weights, dtype=np.float64))


class Conductor:
    """Serve the forest at `forest_dir`, compiled as `image`, on `backend`.

    Rows arrive in the units of the forest's data (raw digits pixels) and are standardized
    by the forest's saved input scaling; a forest folder without one (saved before forests
    kept it) is refused, unless `standardized` says the rows come already standardized.
    """

    def __init__(self, forest_dir: str | Path, image: CompiledForest, backend: Backend,
                 audit: AuditLog | None = None, importance: bool = True,
                 standardized: bool = False) -> None:
        self.reader = ForestReader(forest_dir)
        self.standardized = standardized
        self.scaling = None if standardized else self.reader.input_scaling()
        if not standardized and self.scaling is None:
            raise ForestFormatError(
                f"{self.reader.manifest_path}: this forest keeps no input scaling (it was "
                "saved before forests kept input_scaling.json), so rows in the data's units "
                "cannot be standardized: retrain it with `nfcore train`, or pass "
                "--standardized-inputs if your rows are already standardized")
        if image.n_trees != self.reader.n_trees:
            raise RequestError(f"the image holds {image.n_trees} trees, the forest at "
                               f"{forest_dir} has {self.reader.n_trees}")
        m = self.reader.manifest
        self.forest_id = str(m["forest_id"])
        self.input_shape = tuple(int(v) for v in m["forest"]["input_shape"])
        self.n_classes = int(m["forest"]["n_classes"])
        self.top_k = int(m["forest"]["top_k"])
        mono = (m.get("training") or {}).get("monolith")
        self.monolith_weight_bytes: int | None = \
            int(mono["n_parameters"]) if mono else None
        """The monolith's int8 weight bytes (one byte per parameter), if it was trained."""
        self.stem = self.reader.stem()
        self.router = self.reader.router()
        self.image = image
        self.backend = backend
        self.audit = audit
        self.importance = importance
        self.loads = LoadStats()
        self._compiled: dict[int, CompiledTree] = {}
        self._costs: dict[int, TreeCost] = {}
        self._float: dict[int, TreeModule] = {}
        self._lock = threading.Lock()

    # -- loading ------------------------------------------------------------------------
    def loaded_trees(self) -> list[int]:
        return sorted(self._compiled)

    def _load(self, tree_ids: Sequence[int]) -> None:
        with self._lock:
            for t in tree_ids:
                if t not in self._compiled:
                    tree = self.image.load_tree(t)
                    self._costs[t] = TreeCost.of(tree)
                    self._compiled[t] = tree
                    self.loads.compiled_trees += 1
                    self.loads.compiled_weight_bytes += tree.weight_bytes
                if self.importance and t not in self._float:
                    module = self.reader.tree(t)
                    module.requires_grad_(False)
                    self._float[t] = module
                    self.loads.float_trees += 1
                    self.loads.float_parameter_bytes += int(
                        self.reader.tree_entry(t)["parameter_bytes"])

    # -- the three steps ----------------------------------------------------------------
    def check_inputs(self, x: Any, field_name: str = "inputs") -> npt.NDArray[np.float32]:
        """Rows (n, *input_shape) of `x` (one row or a batch, rows of that shape or flat),
        as sent (not yet standardized), or `RequestError` (`nfcore.conductor.inputs`)."""
        return rows_from_json(x, self.input_shape, field_name)

    def standardize(self, rows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Checked rows as the forest reads them: scaled by the forest's input scaling."""
        return rows if self.scaling is None else self.scaling.apply(rows)

    def route(self, x: Any) -> Routing:
        """Features, picked trees, weights and scores of rows `x` (in the user's units)."""
        return self._route(self.standardize(self.check_inputs(x)))

    def _route(self, z: npt.NDArray[np.float32]) -> Routing:
        with torch.no_grad():
            xt = torch.from_numpy(z)
            feats = self.stem(xt) if self.stem is not None else xt
            scores = self.router.tree_scores(feats.reshape(len(feats), -1))
            picks, weights = top_k(scores, self.top_k)
        return Routing(feats, picks.numpy().astype(np.int64), weights.double().numpy(),
                       scores.gather(1, picks).double().numpy())

    def execute(self, routing: Routing) -> tuple[npt.NDArray[np.float64],
                                                 npt.NDArray[np.int64]]:
        """Dequantized logits (n, k, C) and measured cycles (n, k) of the picked trees."""
        picks = routing.trees
        n, k = picks.shape
        self._load(sorted(set(picks.reshape(-1).tolist())))
        feats = routing.features.numpy()
        calls = []
        for t in sorted(set(picks.reshape(-1).tolist())):
            rows, _ = np.nonzero(picks == t)
            tree = self._compiled[t]
            calls.append(TreeCall(tree, rows, tree.quant.quantize_input(feats[rows])))
        outs = self.backend.execute(calls)
        logits = np.zeros((n, k, self.n_classes))
        cycles = np.zeros((n, k), dtype=np.int64)
        for call, out in zip(calls, outs, strict=True):
            t = call.tree.tree_id
            slots = np.nonzero(picks[call.rows] == t)[1]
            logits[call.rows, slots] = out.logits_int.astype(np.float64) \
                * call.tree.quant.output_scale
            cycles[call.rows, slots] = out.cycles
        return logits, cycles

    def run(self, x: Any, request_ids: Sequence[str] | None = None) -> list[Answer]:
        """Route, execute, aggregate, explain, price and audit a batch of rows `x` (in the
        user's units; the audit hashes them as sent)."""
        return self.commit(self.answer(x, request_ids))

    def answer(self, x: Any, request_ids: Sequence[str] | None = None) -> list[Answer]:
        """`run` up to the audit: the answers, whose records are not in the log yet (a
        server computes the next batch while `commit` makes this one durable)."""
        t0 = time.perf_counter()
        rows = self.check_inputs(x)
        if request_ids is not None and len(request_ids) != len(rows):
            raise RequestError(f"request_ids: {len(request_ids)} ids for {len(rows)} rows")
        ids = list(request_ids) if request_ids is not None else \
            [uuid.uuid4().hex for _ in range(len(rows))]
        before = self.loads.compiled_trees
        routing = self._route(self.standardize(rows))
        logits, cycles = self.execute(routing)
        probs = aggregate(logits, routing.weights)
        classes = probs.argmax(1).astype(np.int64)
        imp = gradient_x_input(rows, routing.trees, classes, self.stem, self.router,
                               self._float, scaling=self.scaling) if self.importance else None
        picks = routing.trees.tolist()
        cycle_lists = cycles.tolist()
        costs = self.backend.costs(self._costs, picks, cycle_lists)
        now = datetime.now(UTC).isoformat(timespec="microseconds")
        wall_s = time.perf_counter() - t0
        loaded = self.loads.compiled_trees - before
        # whole arrays to Python numbers at once (`tolist`), not number by number per row
        inputs = rows.astype("<f4").reshape(len(rows), -1)
        scores, weights = routing.scores.tolist(), routing.weights.tolist()
        prob_lists, imp_lists = probs.tolist(), \
            None if imp is None else imp.reshape(len(imp), -1).tolist()
        records = []
        for i, rid in enumerate(ids):
            records.append({
                "request_id": rid, "time_utc": now, "backend": self.backend.name,
                "forest_id": self.forest_id,
                "input_sha256": hashlib.sha256(inputs[i].tobytes()).hexdigest(),
                "trees": [{"id": t, "router_score": s, "weight": w,
                           "cores": [list(xy) for xy in self._compiled[t].coords],
                           "program_cycles": c}
                          for t, s, w, c in zip(picks[i], scores[i], weights[i],
                                                cycle_lists[i], strict=True)],
                "prediction": int(classes[i]), "probs": prob_lists[i],
                "importance": None if imp_lists is None else
                {"method": METHOD, "values": imp_lists[i]},
                **costs[i].to_dict(),
                "monolith_weight_bytes": self.monolith_weight_bytes,
                "trees_loaded_by_batch": loaded,
                "host_wall_s_batch": wall_s,
            })
        return [Answer(rid, int(classes[i]), records[i]["probs"], records[i])
                for i, rid in enumerate(ids)]

    def commit(self, answers: list[Answer]) -> list[Answer]:
        """Append the answers' records to the audit log (if any) as one durable batch, in
        order, and fill in their place in it; the same answers."""
        if self.audit is None:
            return answers
        entries = self.audit.append_batch([a.record for a in answers])
        for a, e in zip(answers, entries, strict=True):
            a.audit = {k: e[k] for k in ("seq", "prev_sha256", "sha256")}
            a.record_json = e["record_json"]
        return answers
