"""Trees of one shape run as one grouped integer matmul per layer (seed 002's "fuse many
small operations into grouped matrix multiplies").

`QuantizedTree.forward_int` is the bit-exact integer reference of what the golden model
computes for a tree (tests/compiler check it against the ISA model). A batch of requests
routes its rows to several trees; trees whose integer models have the same structure
(kind, input shape, conv kernels and strides, layer shapes and activations) are stacked,
their rows padded to the largest tree's, and each layer is one batched matmul
``(T, M, cols) @ (T, cols, rows)`` plus bias and requantization, instead of one small
matmul per tree. The matmul is done in float64, which is exact here: every product is at
most 2^14 in magnitude and a row sums at most `MAX_COLS` of them (< 2^53).

RNN trees (an Elman cell) run tree by tree on `forward_int`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence

import numpy as np
import numpy.typing as npt

from nfcore.compiler.quant.mlp import QuantizedLayer, requantize_blocks
from nfcore.compiler.quant.tree import QuantizedTree
from nfcore.errors import CompileError

MAX_COLS = 1 << 38
"""Columns below which a float64 dot product of int8 values is exact (2^14 * 2^38 < 2^53)."""


def signature(q: QuantizedTree) -> Hashable:
    """Trees with equal signatures can be stacked layer by layer."""
    convs = tuple((c.kernel, c.stride, c.in_channels, c.layer.weights.shape, c.layer.act)
                  for c in q.convs)
    head = tuple((layer.weights.shape, layer.act) for layer in q.head)
    return (q.kind, q.input_shape, convs, head, q.cell is not None)


def _stacked_layer(layers: Sequence[QuantizedLayer], x: npt.NDArray[np.int64]
                   ) -> npt.NDArray[np.int64]:
    """int outputs (T, M, rows) of layer t on inputs x[t] (T, M, cols), as `forward_int`."""
    cols = x.shape[2]
    if cols >= MAX_COLS:
        raise CompileError(f"a layer of {cols} columns is too wide for exact float64 sums")
    w = np.stack([layer.weights for layer in layers]).astype(np.float64)  # (T, rows, cols)
    xf = x.astype(np.float64)
    partials = [np.matmul(xf[:, :, lo:hi], w[:, :, lo:hi].transpose(0, 2, 1)).astype(np.int64)
                for lo, hi in layers[0].col_blocks]
    partials[0] += np.stack([layer.bias for layer in layers]).astype(np.int64)[:, None, :]
    mult = np.stack([layer.mult for layer in layers]).astype(np.int64)[:, None, :]
    shift = np.stack([layer.shift for layer in layers]).astype(np.int64)[:, None, :]
    return requantize_blocks(partials, mult, shift, layers[0].act).astype(np.int64)


def _forward_group(trees: Sequence[QuantizedTree], xs: Sequence[npt.NDArray[np.integer]]
                   ) -> list[npt.NDArray[np.int8]]:
    """`forward_int` of each tree of one signature on its inputs, as one stack."""
    first = trees[0]
    sizes = [len(x) for x in xs]
    m = max(sizes)
    y = np.zeros((len(trees), m, *first.input_shape), dtype=np.int64)
    for t, x in enumerate(xs):
        y[t, :len(x)] = np.asarray(x).reshape(len(x), *first.input_shape)
    for i, conv in enumerate(first.convs):
        length = y.shape[2]
        p_out = conv.out_length(length)
        idx = np.arange(p_out)[:, None] * conv.stride + np.arange(conv.kernel)[None, :]
        windows = y[:, :, idx, :].reshape(len(trees), m * p_out, conv.kernel * conv.in_channels)
        out = _stacked_layer([q.convs[i].layer for q in trees], windows)
        y = out.reshape(len(trees), m, p_out, conv.out_channels)
    y = y.reshape(len(trees), m, -1)
    for i in range(len(first.head)):
        y = _stacked_layer([q.head[i] for q in trees], y)
    return [y[t, :n].astype(np.int8) for t, n in enumerate(sizes)]


def forward_grouped(trees: Sequence[QuantizedTree], xs: Sequence[npt.NDArray[np.integer]]
                    ) -> list[npt.NDArray[np.int8]]:
    """int8 logits of `trees[i]` on int8 inputs `xs[i]` (m_i, *input_shape), bit-exact with
    `trees[i].forward_int(xs[i])`; trees of one signature share each layer's matmul."""
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for i, q in enumerate(trees):
        groups[signature(q) if q.cell is None else ("cell", i)].append(i)
    out: list[npt.NDArray[np.int8]] = [np.zeros(0, dtype=np.int8)] * len(trees)
    for members in groups.values():
        if trees[members[0]].cell is not None:
            out[members[0]] = trees[members[0]].forward_int(xs[members[0]])
            continue
        for i, y in zip(members, _forward_group([trees[i] for i in members],
                                                [xs[i] for i in members]), strict=True):
            out[i] = y
    return out
