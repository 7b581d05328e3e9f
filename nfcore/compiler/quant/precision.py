"""Selective precision: the measured accuracy cost of each layer's number format.

The core computes in one format: int8 weights and activations, int32 accumulators
(`nfcore.arch.isa`: MATVEC multiplies int8 by int8; there is no packed int4 MATVEC). So the
choice per layer is between int8 and nothing cheaper; what this module does is measure what
int8 costs each layer and check it against a budget, so the report can say which layers
are close to it.

Measurement (per tree kind and layer position, e.g. "cnn conv0", "mlp dense1"): every tree
of that kind runs in float except that layer, which runs exactly as the core does (its
input quantized at the layer's calibrated scale, the integer MATVEC with requantization,
then dequantized); the forest then predicts through its router as usual. The drop is the
float forest's test accuracy minus this one's, in percentage points, on the test split of
the dataset the forest records (or the caller's rows). The whole int8 forest (every layer
integer, `QuantizedTree.forward_int`) is measured the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from forest.export import TreeExport
from nfcore.compiler.quant.mlp import QuantizedLayer
from nfcore.compiler.quant.tree import H_SCALE, QuantizedCell, QuantizedConv, QuantizedTree
from nfcore.errors import CompileError

FORMATS = ("int8",)
"""Formats the core supports for a layer's weights (the ISA's MATVEC reads int8 only)."""
NOT_AVAILABLE = {"int4": "nfcore.arch.isa has no packed int4 MATVEC; weights are read as int8"}

Array = npt.NDArray[Any]
Stage = Callable[[Array], Array]


@dataclass(frozen=True)
class LayerPrecision:
    kind: str
    layer: str
    """Layer position in trees of `kind`: conv<i>, cell or dense<i>."""
    trees: int
    format: str
    drop_pp: float
    """Forest test accuracy lost with this layer int8 (percentage points; < 0 is a gain)."""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "layer": self.layer, "trees": self.trees,
                "format": self.format, "drop_pp": self.drop_pp}


def stage_names(export: TreeExport) -> list[str]:
    return ([f"conv{i}" for i in range(len(export.convs))]
            + (["cell"] if export.cell is not None else [])
            + [f"dense{i}" for i in range(len(export.head))])


def _int8(x: Array, scale: float) -> npt.NDArray[np.int64]:
    return np.clip(np.rint(x / scale), -128, 127).astype(np.int64)


def _stages(export: TreeExport, q: QuantizedTree, int8_at: int | None) -> list[Stage]:
    """The tree as a chain of stages on (n, ...) float arrays; stage `int8_at` integer."""
    stages: list[Stage] = []
    for i, conv in enumerate(export.convs):
        if len(stages) == int8_at:
            stages.append(partial(_int8_conv, q.convs[i]))
        else:
            stages.append(partial(_conv, weight=conv.weight, bias=conv.bias,
                                  stride=conv.stride, relu=conv.relu))
    if export.cell is not None:
        if len(stages) == int8_at:
            assert q.cell is not None
            stages.append(partial(_int8_cell, q.cell))
        else:
            stages.append(partial(_elman, weight=export.cell.weight, bias=export.cell.bias,
                                  hidden=export.cell.hidden_size))
    for i, (w, b, relu) in enumerate(export.head):
        if len(stages) == int8_at:
            stages.append(partial(_int8_dense, q.head[i]))
        else:
            stages.append(partial(_dense, w=w, b=b, relu=relu))
    return stages


def _int8_conv(qc: QuantizedConv, h: Array) -> Array:
    return qc.forward_int(_int8(h, qc.layer.in_scale)) * qc.layer.out_scale


def _int8_cell(qcell: QuantizedCell, h: Array) -> Array:
    return qcell.forward_int(_int8(h, qcell.x_scale)) * H_SCALE


def _int8_dense(ql: QuantizedLayer, h: Array) -> Array:
    return ql.forward_int(_int8(_flat(h), ql.in_scale)) * ql.out_scale


def tree_logits(export: TreeExport, q: QuantizedTree, x: npt.ArrayLike,
                int8_at: int | None) -> Array:
    """Logits (n, classes) of float inputs (n, *input_shape), float except stage `int8_at`
    (an index into `stage_names(export)`; None: all float)."""
    h = np.asarray(x, dtype=np.float64).reshape(-1, *export.input_shape)
    for stage in _stages(export, q, int8_at):
        h = stage(h)
    return h


def measure(exports: Sequence[TreeExport], quants: Sequence[QuantizedTree],
            feats: npt.NDArray[np.floating], picks: npt.NDArray[np.integer],
            weights: npt.NDArray[np.floating], labels: npt.NDArray[np.integer]
            ) -> tuple[list[LayerPrecision], dict[str, float]]:
    """Per (kind, layer) the int8 drop, and the float / all-int8 forest accuracy (0..1).

    `feats` (n, *feature_shape) are the stem features of the evaluation rows, `picks` and
    `weights` (n, k) the router's choices on them, `labels` (n,) the classes."""
    n, k = picks.shape
    n_classes = int(quants[0].out_features)
    rows_of = [np.nonzero(picks == t) for t in range(len(exports))]

    def accuracy(logits_of: Callable[[int, Array], Array]) -> float:
        logits = np.zeros((n, k, n_classes))
        for t, (rows, slots) in enumerate(rows_of):
            if len(rows):
                logits[rows, slots] = logits_of(t, feats[rows])
        z = logits - logits.max(axis=2, keepdims=True)
        probs = np.exp(z) / np.exp(z).sum(axis=2, keepdims=True)
        return float(np.mean((probs * weights[:, :, None]).sum(1).argmax(1) == labels))

    def float_logits(t: int, x: Array) -> Array:
        return tree_logits(exports[t], quants[t], x, None)

    float_acc = accuracy(float_logits)
    int8_acc = accuracy(lambda t, x: quants[t].forward(x))
    results = []
    positions = sorted({(e.kind, i, name) for e in exports
                        for i, name in enumerate(stage_names(e))})
    for kind, index, name in positions:
        def mixed(t: int, x: Array, kind: str = kind, index: int = index) -> Array:
            e = exports[t]
            return tree_logits(e, quants[t], x, index if e.kind == kind else None)

        trees = sum(1 for e in exports if e.kind == kind)
        drop = 100.0 * (float_acc - accuracy(mixed))
        results.append(LayerPrecision(kind, name, trees, "int8", drop))
    return results, {"float": float_acc, "int8": int8_acc,
                     "int8_drop_pp": 100.0 * (float_acc - int8_acc), "rows": float(n)}


def check_budget(layers: Sequence[LayerPrecision], budget_pp: float) -> None:
    """Raise `CompileError` naming every layer whose int8 drop exceeds `budget_pp`."""
    over = [p for p in layers if p.drop_pp > budget_pp]
    if over:
        shown = ", ".join(f"{p.kind} {p.layer}: {p.drop_pp:.2f} pp" for p in over)
        raise CompileError(
            f"int8 loses more than the precision budget of {budget_pp:g} pp on {shown}; "
            f"int8 is the cheapest and only format the core supports "
            f"({NOT_AVAILABLE['int4']}), so raise --precision-budget or retrain the trees")


def _flat(h: Array) -> Array:
    return h.reshape(len(h), -1)


def _dense(h: Array, w: npt.NDArray[Any], b: npt.NDArray[Any], relu: bool) -> Array:
    y = _flat(h) @ w.T.astype(np.float64) + b
    return np.maximum(y, 0.0) if relu else y


def _conv(h: Array, weight: npt.NDArray[Any], bias: npt.NDArray[Any], stride: int,
          relu: bool) -> Array:
    k = weight.shape[2]
    n_out = (h.shape[1] - k) // stride + 1
    windows = np.stack([h[:, p * stride: p * stride + k, :] for p in range(n_out)], axis=1)
    y = np.einsum("npjc,ocj->npo", windows, weight) + bias
    return np.maximum(y, 0.0) if relu else y


def _elman(h: Array, weight: npt.NDArray[Any], bias: npt.NDArray[Any], hidden: int) -> Array:
    state = np.zeros((len(h), hidden))
    for t in range(h.shape[1]):
        state = np.tanh(np.concatenate([h[:, t, :], state], axis=1) @ weight.T + bias)
    return state

