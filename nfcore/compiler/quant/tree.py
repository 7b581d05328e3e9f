"""Post-training quantization of a whole tree (`forest.export.TreeExport`): mlp, cnn, rnn.

Dense layers (the head, and every layer of an mlp tree) use the MLP scheme of
`nfcore.compiler.quant.mlp`: int8 weights per output row, int8 activations with one
calibrated scale per tensor, int32 bias at the accumulator scale, a uint16 multiplier and a
shift per row. The other layer kinds:

* Conv1d (cnn): the weight [out_ch, in_ch, k] is the matrix ``Wm[o, j * in_ch + c]``
  (row o = output channel, so the weights are int8 per output channel); each output
  position is one MATVEC over the window ``x[p * stride + j, c]`` flattened as (j, c). The
  output (ReLU) gets a calibrated per-tensor scale like a hidden dense layer.
* Elman cell (rnn): ``h_t = tanh(W [x_t; h_{t-1}] + b)``. h is int8 at the fixed scale
  `H_SCALE` = 1/127 (tanh's range). The MATVEC requantizes the pre-activation to int8 at
  `PRE_SCALE` = `PRE_RANGE` / 127 (it covers [-4, 4]: tanh(4) = 0.9993, so clamping beyond
  costs < 0.001), and the core's 256-entry LUT maps it to h: ``LUT[q + 128] =
  rint(tanh(q * PRE_SCALE) * 127)``.

  The concatenated vector [x_t; h] has two scales (x keeps its calibrated scale, h is
  1/127) but a MATVEC has one input scale. We fold the ratio into the weight columns:
  ``W'[:, :in] = W[:, :in] * x_scale / H_SCALE``, ``W'[:, in:] = W[:, in:]``, so that
  ``W [x; h] = H_SCALE * W' [x_int; h_int]`` exactly, then quantize W' per row as usual.
  No on-core rescaling is needed and x keeps its full int8 resolution; the cost is that a
  row's int8 step is set by the larger of its scaled x part and its h part, so the smaller
  part gets fewer effective bits (measured in tests/compiler/test_compiler_quantize_tree.py).

`QuantizedTree.forward_int` is the bit-exact integer reference the golden model must equal:
MATVEC semantics via `QuantizedLayer.forward_int` (which uses `nfcore.golden.core.requantize`)
and the LUT indexing of MATVEC act=LUT.

Not done: selective precision (packed int4 weights) — the ISA has no int4 MATVEC.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from forest.export import ConvLayer, TreeExport, reference_forward
from nfcore.arch import isa
from nfcore.compiler.quant.mlp import (
    DEFAULT_CALIB_PERCENTILE,
    INT8_MAX,
    QuantizedLayer,
    QuantizedMLP,
    act_scale,
    check_accumulator,
    check_layers,
    quantize_dense_chain,
    quantize_layer,
    quantize_mlp,
)
from nfcore.errors import CompileError

KINDS = ("mlp", "cnn", "rnn")
H_SCALE = 1.0 / INT8_MAX
"""Real value of one step of the int8 hidden state h (tanh output in [-1, 1])."""
PRE_RANGE = 4.0
"""The Elman pre-activation range the LUT covers: [-PRE_RANGE, PRE_RANGE]."""
PRE_SCALE = PRE_RANGE / INT8_MAX
"""Real value of one step of the int8 pre-activation (the LUT's input)."""


def tanh_lut() -> npt.NDArray[np.int8]:
    """The 256-entry table: entry e is h_int for the pre-activation int8 value e - 128."""
    pre = (np.arange(isa.LUT_ENTRIES) - 128) * PRE_SCALE
    return np.clip(np.rint(np.tanh(pre) / H_SCALE), -INT8_MAX, INT8_MAX).astype(np.int8)


@dataclass(frozen=True, eq=False)
class QuantizedConv:
    """A 1-D conv as the MATVEC of one output position: `layer.weights` is (out_ch,
    kernel * in_ch) with column j * in_ch + c; the MATVEC is repeated per output position."""

    layer: QuantizedLayer
    kernel: int
    stride: int
    in_channels: int

    @property
    def out_channels(self) -> int:
        return self.layer.rows

    def out_length(self, length: int) -> int:
        return (length - self.kernel) // self.stride + 1

    def forward_int(self, x: npt.NDArray[np.integer]) -> npt.NDArray[np.int8]:
        """int8 (n, length_out, out_ch) of int8 (n, length, in_ch), as the core computes."""
        n, length, _ = x.shape
        p_out = self.out_length(length)
        idx = (np.arange(p_out)[:, None] * self.stride + np.arange(self.kernel)[None, :])
        windows = x[:, idx, :].reshape(n * p_out, self.kernel * self.in_channels)
        return self.layer.forward_int(windows).reshape(n, p_out, self.out_channels)


@dataclass(frozen=True, eq=False)
class QuantizedCell:
    """The Elman cell: `layer` holds the folded W' (hidden, input_size + hidden) with
    in_scale = H_SCALE, act NONE, out_scale = PRE_SCALE; `lut` maps its output to h."""

    layer: QuantizedLayer
    input_size: int
    hidden_size: int
    x_scale: float
    """Real value of one step of x_t (the tree's input scale)."""
    lut: npt.NDArray[np.int8]

    def forward_int(self, x: npt.NDArray[np.integer]) -> npt.NDArray[np.int8]:
        """The last int8 h (n, hidden) of an int8 sequence (n, steps, input_size)."""
        h = np.zeros((x.shape[0], self.hidden_size), dtype=np.int64)
        lut = self.lut.astype(np.int64)
        for t in range(x.shape[1]):
            pre = self.layer.forward_int(np.concatenate([x[:, t, :].astype(np.int64), h], 1))
            h = lut[pre.astype(np.int64) + 128]
        return h.astype(np.int8)


@dataclass(frozen=True, eq=False)
class QuantizedTree:
    """A tree in integers: its input quantizer, feature layers (convs or cell), and head."""

    kind: str
    input_shape: tuple[int, ...]
    input_scale: float
    """Real value of one step of the int8 input."""
    head: tuple[QuantizedLayer, ...]
    acc_bits: int
    convs: tuple[QuantizedConv, ...] = ()
    cell: QuantizedCell | None = None

    @classmethod
    def from_mlp(cls, q: QuantizedMLP) -> QuantizedTree:
        return cls(kind="mlp", input_shape=(q.in_features,), input_scale=q.input_scale,
                   head=q.layers, acc_bits=q.acc_bits)

    @property
    def output_scale(self) -> float:
        return self.head[-1].out_scale

    @property
    def out_features(self) -> int:
        return self.head[-1].rows

    @property
    def in_elements(self) -> int:
        return int(np.prod(self.input_shape))

    def quantize_input(self, x: npt.ArrayLike) -> npt.NDArray[np.int8]:
        """int8 inputs (n, *input_shape) of float inputs (n, *input_shape) or flat (n, prod):
        round half to even, saturate."""
        a = np.asarray(x, dtype=np.float64)
        if a.ndim < 2 or a[0].size != self.in_elements:
            raise CompileError(f"inputs must be (n, {', '.join(map(str, self.input_shape))}), "
                               f"got {a.shape}")
        a = a.reshape(len(a), *self.input_shape)
        return np.clip(np.rint(a / self.input_scale), -128, 127).astype(np.int8)

    def forward_int(self, x: npt.NDArray[np.integer]) -> npt.NDArray[np.int8]:
        """int8 logits (n, out_features) of int8 inputs (n, *input_shape), bit-exact with
        the golden model running the lowered tree."""
        y = np.asarray(x)
        if y.ndim < 2 or y[0].size != self.in_elements:
            raise CompileError(f"forward_int expects int8 inputs (n, {self.input_shape}), "
                               f"got {y.shape}")
        if y.size and (y.min() < -128 or y.max() > 127):
            raise CompileError("forward_int inputs must be int8 values (-128..127)")
        y = y.astype(np.int64).reshape(len(y), *self.input_shape)
        for conv in self.convs:
            y = conv.forward_int(y).astype(np.int64)
        if self.cell is not None:
            y = self.cell.forward_int(y).astype(np.int64)
        y = y.reshape(len(y), -1)
        for layer in self.head:
            y = layer.forward_int(y).astype(np.int64)
        return y.astype(np.int8)

    def dequantize_output(self, y: npt.NDArray[np.integer]) -> npt.NDArray[np.float64]:
        return np.asarray(y, dtype=np.float64) * self.output_scale

    def forward(self, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Real logits of float inputs through the integer model."""
        return self.dequantize_output(self.forward_int(self.quantize_input(x)))


def quantize_tree(tree: TreeExport, calib_x: npt.ArrayLike, acc_bits: int = 32,
                  calib_percentile: float = DEFAULT_CALIB_PERCENTILE,
                  tree_id: int | str = 0) -> QuantizedTree:
    """Quantize `tree` with activation scales calibrated on `calib_x` (n, *input_shape).

    Raises `CompileError` naming the tree and the layer if the tree is malformed, a value
    cannot be represented, or an accumulator could overflow `acc_bits`.
    """
    if tree.kind not in KINDS:
        raise CompileError(f"tree {tree_id}: unknown kind {tree.kind!r}; expected one of "
                           f"{', '.join(KINDS)}")
    x = np.asarray(calib_x, dtype=np.float64)
    n_in = int(np.prod(tree.input_shape))
    if x.ndim < 2 or x.shape[0] == 0 or x[0].size != n_in:
        raise CompileError(f"tree {tree_id}: calib_x must be (n >= 1, {tree.input_shape}), "
                           f"got {x.shape}")
    x = x.reshape(len(x), *tree.input_shape)
    try:
        if tree.kind == "mlp":
            q = quantize_mlp(tree.head, x.reshape(len(x), -1), acc_bits, calib_percentile)
            return QuantizedTree.from_mlp(q)
        in_scale = act_scale(x, calib_percentile)
        convs: list[QuantizedConv] = []
        cell = None
        if tree.kind == "cnn":
            if not tree.convs:
                raise CompileError("a cnn tree needs at least one conv layer")
            a, scale = x, in_scale
            for i, conv in enumerate(tree.convs):
                qc, a = _quantize_conv(i, conv, a, scale, acc_bits, calib_percentile)
                convs.append(qc)
                scale = qc.layer.out_scale
            feat, feat_scale = a.reshape(len(a), -1), scale
        else:
            if tree.cell is None:
                raise CompileError("an rnn tree needs an Elman cell")
            cell = _quantize_cell(tree, in_scale, acc_bits)
            feat = _float_hidden(tree, x)
            feat_scale = H_SCALE
        ws, bs, relus = check_layers(tree.head)
        if ws[0].shape[1] != feat.shape[1]:
            raise CompileError(f"head layer 0 takes {ws[0].shape[1]} inputs but the "
                               f"{tree.kind} features are {feat.shape[1]}")
        head = quantize_dense_chain(ws, bs, relus, feat, feat_scale, acc_bits,
                                    calib_percentile, label="head layer")
    except CompileError as exc:
        raise CompileError(f"tree {tree_id}: {exc}") from None
    return QuantizedTree(kind=tree.kind, input_shape=tuple(tree.input_shape),
                         input_scale=in_scale, head=head, acc_bits=acc_bits,
                         convs=tuple(convs), cell=cell)


def _quantize_conv(i: int, conv: ConvLayer, a: npt.NDArray[np.float64], in_scale: float,
                   acc_bits: int, percentile: float
                   ) -> tuple[QuantizedConv, npt.NDArray[np.float64]]:
    w = np.asarray(conv.weight, dtype=np.float64)
    b = np.asarray(conv.bias, dtype=np.float64)
    if w.ndim != 3 or w.shape[1] != a.shape[2] or b.shape != (w.shape[0],):
        raise CompileError(f"conv {i}: weight {w.shape} and bias {b.shape} do not fit an "
                           f"input of {a.shape[2]} channels")
    out_ch, in_ch, k = w.shape
    if conv.stride < 1 or a.shape[1] < k:
        raise CompileError(f"conv {i}: stride {conv.stride}, kernel {k} on length {a.shape[1]}")
    wm = w.transpose(0, 2, 1).reshape(out_ch, k * in_ch)  # column j * in_ch + c
    p_out = (a.shape[1] - k) // conv.stride + 1
    idx = np.arange(p_out)[:, None] * conv.stride + np.arange(k)[None, :]
    windows = a[:, idx, :].reshape(len(a), p_out, k * in_ch)
    out = windows @ wm.T + b
    if conv.relu:
        out = np.maximum(out, 0.0)
    layer = quantize_layer(f"conv {i}", wm, b, bool(conv.relu), in_scale,
                           act_scale(out, percentile))
    check_accumulator(f"conv {i}", layer, acc_bits)
    return QuantizedConv(layer=layer, kernel=k, stride=int(conv.stride), in_channels=in_ch), out


def _quantize_cell(tree: TreeExport, x_scale: float, acc_bits: int) -> QuantizedCell:
    cell = tree.cell
    assert cell is not None
    w = np.asarray(cell.weight, dtype=np.float64)
    b = np.asarray(cell.bias, dtype=np.float64)
    n_in, hid = cell.input_size, cell.hidden_size
    if w.shape != (hid, n_in + hid) or b.shape != (hid,) or tree.input_shape[-1] != n_in:
        raise CompileError(f"Elman cell: weight {w.shape}, bias {b.shape} do not fit "
                           f"input_size {n_in}, hidden_size {hid}, input {tree.input_shape}")
    folded = w.copy()
    folded[:, :n_in] *= x_scale / H_SCALE  # one input scale for [x; h]: see module doc
    layer = quantize_layer("Elman cell", folded, b, False, H_SCALE, PRE_SCALE)
    check_accumulator("Elman cell", layer, acc_bits)
    return QuantizedCell(layer=layer, input_size=n_in, hidden_size=hid, x_scale=x_scale,
                         lut=tanh_lut())


def _float_hidden(tree: TreeExport, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The float last hidden state (n, hidden), to calibrate the head."""
    assert tree.cell is not None
    probe = TreeExport(kind="rnn", input_shape=tree.input_shape, head=[], cell=tree.cell)
    return np.asarray(reference_forward(probe, x), dtype=np.float64)

