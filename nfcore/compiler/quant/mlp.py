"""Post-training quantization of an MLP to the core's integer arithmetic.

The input is framework-free: a list of float layers `(W [out, in], b [out], relu)` and a
batch of float calibration inputs. The scheme (all scales are real values per integer step):

* weights: int8, symmetric, one scale per output row: ``w_scale[r] = max|W[r]| / 127``;
* activations (the input and every layer's output): int8, symmetric, zero point 0, one scale
  per tensor: ``scale = clip / 127`` with ``clip`` the `calib_percentile` percentile of
  ``|a|`` over the calibration batch, computed on the float network; the last layer's
  output (the logits) uses max-abs, since clipping the largest logits would tie them;
* bias: int32 at the accumulator's scale ``in_scale * w_scale[r]``;
* requantization: ``in_scale * w_scale[r] / out_scale ~= mult[r] / 2**shift[r]`` with
  ``mult`` a uint16 as large as fits (15 to 16 significant bits) and ``shift <= MAX_SHIFT``.

`QuantizedMLP.forward_int` is the integer reference: it applies the core's MATVEC semantics
with `nfcore.golden.core.requantize`, so it is bit-exact with the golden model, the SimPy model
and the RTL. The compiler also proves, per row, that no accumulator can leave `acc_bits`.

A layer wider than one MATVEC (`MAX_VECTOR` columns) is computed in column blocks
(`col_blocks`): each block's partial sum is requantized to int8 at the layer's output scale
by its own MATVEC (the bias in block 0 only) and the blocks' int8 results are added by
saturating VADDs, the layer's activation on the last one (`requantize_blocks`). The ISA has
no int32 output, so this is the layer's integer arithmetic, not an approximation of it:
`forward_int` computes exactly that. Away from saturation it differs from one requantization
of the whole sum by less than (blocks + 1) / 2 output steps (each rounding is off by at most
half a step); a block's partial that saturates while the whole sum does not costs more.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from nfcore.arch import isa
from nfcore.arch.isa import Activation
from nfcore.errors import CompileError
from nfcore.golden.core import requantize

FloatLayer = tuple[npt.NDArray[Any], npt.NDArray[Any], bool]
"""(W [out, in], b [out], relu after the layer), float."""

INT8_MAX = 127
MAX_VECTOR = 1 << isa.COUNT_BITS
"""Most rows or columns one MATVEC takes (1024), and most LOOP iterations."""
MULT_MAX = (1 << isa.MULT_BITS) - 1
DEFAULT_CALIB_PERCENTILE = 99.9
"""Percentile of |activation| mapped to 127 for the input and hidden layers. Below 100 it
clips rare outliers (e.g. standardized pixels that are almost always 0) to spend the int8
steps on the bulk of the values; on digits it halves the logit error of max-abs."""


@dataclass(frozen=True, eq=False)
class QuantizedLayer:
    """One dense layer in integers, as a MATVEC executes it.

    y[r] = clamp(act((bias[r] + sum_c weights[r, c] * x[c]) * mult[r] / 2**shift[r]))
    with round-half-up; real values are ``x * in_scale`` and ``y * out_scale``.
    """

    weights: npt.NDArray[np.int8]
    """(rows, cols)"""
    bias: npt.NDArray[np.int32]
    """(rows,), at scale in_scale * w_scale[r]"""
    mult: npt.NDArray[np.uint16]
    """(rows,), requant multiplier"""
    shift: npt.NDArray[np.uint8]
    """(rows,), requant right shift, 0..isa.MAX_SHIFT"""
    relu: bool
    in_scale: float
    """Real value of one input step."""
    w_scale: npt.NDArray[np.float64]
    """(rows,), real value of one weight step of each row."""
    out_scale: float
    """Real value of one output step."""

    @property
    def rows(self) -> int:
        return int(self.weights.shape[0])

    @property
    def cols(self) -> int:
        return int(self.weights.shape[1])

    @property
    def act(self) -> Activation:
        return Activation.RELU if self.relu else Activation.NONE

    def acc_bound(self) -> npt.NDArray[np.int64]:
        """(rows,) largest |accumulator| any int8 input can produce in each row."""
        w = np.abs(self.weights.astype(np.int64)).sum(axis=1)
        return np.abs(self.bias.astype(np.int64)) + 128 * w

    @property
    def col_blocks(self) -> list[tuple[int, int]]:
        """Column ranges [lo, hi) whose partial sums are requantized separately."""
        return col_blocks(self.cols)

    def forward_int(self, x: npt.NDArray[np.integer]) -> npt.NDArray[np.int8]:
        """int8 outputs (n, rows) of int8 inputs (n, cols), exactly as the core computes."""
        x64, w64 = x.astype(np.int64), self.weights.astype(np.int64)
        partials = [x64[:, lo:hi] @ w64[:, lo:hi].T for lo, hi in self.col_blocks]
        partials[0] = partials[0] + self.bias.astype(np.int64)
        return requantize_blocks(partials, self.mult.astype(np.int64),
                                 self.shift.astype(np.int64), self.act)


def col_blocks(cols: int) -> list[tuple[int, int]]:
    """Column ranges [lo, hi) of a `cols`-column layer, one MATVEC each: `MAX_VECTOR`
    columns per block (a multiple of every lane count), the last one shorter."""
    return [(lo, min(lo + MAX_VECTOR, cols)) for lo in range(0, cols, MAX_VECTOR)]


def requantize_blocks(partials: Sequence[npt.NDArray[np.int64]], mult: npt.NDArray[np.int64],
                      shift: npt.NDArray[np.int64], act: Activation) -> npt.NDArray[np.int8]:
    """int8 outputs of a layer computed in column blocks, as the core does it: each block's
    accumulator (`partials[0]` with the bias) requantized by its MATVEC (activation NONE
    when there are several blocks), then VADDs y = clamp(y + z_b), the last with `act`."""
    if len(partials) == 1:
        return requantize(partials[0], mult, shift, act)
    y = requantize(partials[0], mult, shift, Activation.NONE).astype(np.int64)
    for b, acc in enumerate(partials[1:], start=2):
        y = y + requantize(acc, mult, shift, Activation.NONE)
        if b == len(partials) and act == Activation.RELU:
            y = np.maximum(y, 0)
        y = np.clip(y, -128, 127)
    return y.astype(np.int8)


@dataclass(frozen=True, eq=False)
class QuantizedMLP:
    """An MLP in integers: the int8 input quantizer, the layers, and the output scale."""

    layers: tuple[QuantizedLayer, ...]
    acc_bits: int
    """Accumulator width the layers were checked against."""

    @property
    def input_scale(self) -> float:
        """Real value of one step of the int8 input vector."""
        return self.layers[0].in_scale

    @property
    def output_scale(self) -> float:
        """Real value of one step of the int8 output (logit) vector."""
        return self.layers[-1].out_scale

    @property
    def in_features(self) -> int:
        return self.layers[0].cols

    @property
    def out_features(self) -> int:
        return self.layers[-1].rows

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """(rows, cols) of each layer."""
        return [(layer.rows, layer.cols) for layer in self.layers]

    def quantize_input(self, x: npt.NDArray[np.floating]) -> npt.NDArray[np.int8]:
        """int8 of float inputs (..., in_features): round half to even, saturate."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape[-1] != self.in_features:
            raise CompileError(
                f"input has {x.shape[-1]} features; the model expects {self.in_features}"
            )
        return np.clip(np.rint(x / self.input_scale), -128, 127).astype(np.int8)

    def forward_int(self, x: npt.NDArray[np.integer]) -> npt.NDArray[np.int8]:
        """int8 logits (n, out_features) of int8 inputs (n, in_features), bit-exact."""
        y = np.asarray(x)
        if y.ndim != 2 or y.shape[1] != self.in_features:
            raise CompileError(
                f"forward_int expects int8 inputs of shape (n, {self.in_features}), "
                f"got {y.shape}"
            )
        if y.size and (y.min() < -128 or y.max() > 127):
            raise CompileError("forward_int inputs must be int8 values (-128..127)")
        for layer in self.layers:
            y = layer.forward_int(y)
        return y.astype(np.int8)

    def dequantize_output(self, y: npt.NDArray[np.integer]) -> npt.NDArray[np.float64]:
        """Real logits of int8 outputs."""
        return np.asarray(y, dtype=np.float64) * self.output_scale

    def predict(self, x: npt.NDArray[np.floating]) -> npt.NDArray[np.int64]:
        """Class ids (n,) of float inputs (n, in_features); ties go to the lowest id."""
        x2 = np.atleast_2d(np.asarray(x))
        return np.argmax(self.forward_int(self.quantize_input(x2)), axis=1).astype(np.int64)


def quantize_mlp(
    layers: Sequence[FloatLayer],
    calib_x: npt.NDArray[np.floating],
    acc_bits: int = 32,
    calib_percentile: float = DEFAULT_CALIB_PERCENTILE,
) -> QuantizedMLP:
    """Quantize float `layers` with activation scales calibrated on `calib_x` (n, in).

    Raises `CompileError` if the layers do not chain, a value cannot be represented (bias
    beyond int32, a requant ratio beyond uint16), or an accumulator could overflow
    `acc_bits` bits; the message names the layer.
    """
    if not layers:
        raise CompileError("the model has no layers")
    if not 0.0 < calib_percentile <= 100.0:
        raise CompileError(f"calib_percentile = {calib_percentile} must be in (0, 100]")
    if not 2 <= acc_bits <= 32:  # the header's bias is int32; acc * mult must fit int64
        raise CompileError(f"acc_bits = {acc_bits} must be in 2..32")
    ws, bs, relus = check_layers(layers)
    x = np.asarray(calib_x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] != ws[0].shape[1]:
        raise CompileError(
            f"calib_x must have shape (n >= 1, {ws[0].shape[1]}), got {x.shape}"
        )
    layers_q = quantize_dense_chain(ws, bs, relus, x, act_scale(x, calib_percentile),
                                    acc_bits, calib_percentile)
    return QuantizedMLP(layers=layers_q, acc_bits=acc_bits)


def quantize_dense_chain(
    ws: Sequence[npt.NDArray[np.float64]],
    bs: Sequence[npt.NDArray[np.float64]],
    relus: Sequence[bool],
    calib_a: npt.NDArray[np.float64],
    in_scale: float,
    acc_bits: int,
    calib_percentile: float = DEFAULT_CALIB_PERCENTILE,
    label: str = "layer",
) -> tuple[QuantizedLayer, ...]:
    """Quantize a chain of dense layers whose float input `calib_a` (n, in) arrives as int8
    at `in_scale`. Hidden outputs use the `calib_percentile` scale, the last (logits) uses
    max-abs. Error messages name layer k as f"{label} {k}"."""
    out: list[QuantizedLayer] = []
    a = calib_a
    for i, (w, b, relu) in enumerate(zip(ws, bs, relus, strict=True)):
        a = a @ w.T + b
        if relu:
            a = np.maximum(a, 0.0)
        # Logits use max-abs: clipping the largest logits would tie them and break argmax.
        last = i == len(ws) - 1
        out_scale = act_scale(a, 100.0 if last else calib_percentile)
        layer = quantize_layer(f"{label} {i}", w, b, relu, in_scale, out_scale)
        check_accumulator(f"{label} {i}", layer, acc_bits)
        out.append(layer)
        in_scale = out_scale
    return tuple(out)


def requant_params(ratio: float) -> tuple[int, int]:
    """(mult, shift) with ``mult / 2**shift`` closest to `ratio` and `mult` as large as fits.

    `mult` is a uint16 and `shift` is in 0..isa.MAX_SHIFT. A ratio too small for even the
    largest shift gives a smaller `mult` (possibly 0); a ratio of 2**16 or more raises.
    """
    if not math.isfinite(ratio) or ratio < 0:
        raise CompileError(f"requant ratio {ratio} must be finite and non-negative")
    if ratio == 0:
        return 0, 0
    _, exp = math.frexp(ratio)  # ratio = m * 2**exp with 0.5 <= m < 1
    shift = isa.MULT_BITS - exp
    if shift > isa.MAX_SHIFT:
        shift = isa.MAX_SHIFT
    mult = round(ratio * 2.0**shift) if shift >= 0 else MULT_MAX + 1
    if mult > MULT_MAX and shift > 0:  # m rounded up to 1.0: one bit less
        shift -= 1
        mult = round(ratio * 2.0**shift)
    if shift < 0 or mult > MULT_MAX:
        raise CompileError(
            f"requant ratio {ratio:.4g} does not fit a uint16 multiplier (at most {MULT_MAX})"
        )
    return int(mult), int(shift)


# --- helpers --------------------------------------------------------------------------------


def check_layers(
    layers: Sequence[FloatLayer],
) -> tuple[list[npt.NDArray[np.float64]], list[npt.NDArray[np.float64]], list[bool]]:
    ws: list[npt.NDArray[np.float64]] = []
    bs: list[npt.NDArray[np.float64]] = []
    relus: list[bool] = []
    for i, (w_in, b_in, relu) in enumerate(layers):
        w = np.asarray(w_in, dtype=np.float64)
        b = np.asarray(b_in, dtype=np.float64)
        if w.ndim != 2 or b.shape != (w.shape[0],):
            raise CompileError(
                f"layer {i}: W must be (out, in) and b (out,), got W {w.shape} and b {b.shape}"
            )
        if ws and w.shape[1] != ws[-1].shape[0]:
            raise CompileError(
                f"layer {i} takes {w.shape[1]} inputs but layer {i - 1} gives "
                f"{ws[-1].shape[0]} outputs"
            )
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            raise CompileError(f"layer {i}: weights or bias contain NaN or infinity")
        ws.append(w)
        bs.append(b)
        relus.append(bool(relu))
    return ws, bs, relus


def act_scale(a: npt.NDArray[np.float64], percentile: float) -> float:
    """Per-tensor scale mapping the `percentile` of |a| to 127 (1.0 if that is 0)."""
    clip = float(np.percentile(np.abs(a), percentile))
    return clip / INT8_MAX if clip > 0 else 1.0


def quantize_layer(label: str, w: npt.NDArray[np.float64], b: npt.NDArray[np.float64],
                    relu: bool, in_scale: float, out_scale: float) -> QuantizedLayer:
    row_max = np.abs(w).max(axis=1)
    w_scale = np.where(row_max > 0, row_max / INT8_MAX, 1.0)
    w_q = np.clip(np.rint(w / w_scale[:, None]), -INT8_MAX, INT8_MAX).astype(np.int8)
    acc_scale = in_scale * w_scale
    b_q = np.rint(b / acc_scale)
    if np.abs(b_q).max() > np.iinfo(np.int32).max:
        r = int(np.argmax(np.abs(b_q)))
        raise CompileError(
            f"{label} row {r}: bias {b[r]:.4g} is {b_q[r]:.4g} steps of the accumulator "
            f"scale, beyond int32; the weights of this row are too small for its bias"
        )
    mult = np.zeros(len(w), dtype=np.uint16)
    shift = np.zeros(len(w), dtype=np.uint8)
    for r, ratio in enumerate(acc_scale / out_scale):
        try:
            mult[r], shift[r] = requant_params(float(ratio))
        except CompileError as exc:
            raise CompileError(f"{label} row {r}: {exc}") from None
    return QuantizedLayer(weights=w_q, bias=b_q.astype(np.int32), mult=mult, shift=shift,
                          relu=relu, in_scale=in_scale, w_scale=w_scale, out_scale=out_scale)


def check_accumulator(label: str, layer: QuantizedLayer, acc_bits: int) -> None:
    bound = layer.acc_bound()
    limit = (1 << (acc_bits - 1)) - 1
    if bound.max() > limit:
        r = int(np.argmax(bound))
        need = int(bound[r]).bit_length() + 1
        raise CompileError(
            f"{label} ({layer.rows}x{layer.cols}) row {r}: the accumulator can reach "
            f"{int(bound[r])}, beyond acc_bits = {acc_bits} (needs {need} bits); raise "
            f"core.acc_bits to at least {need} or use fewer input columns per layer"
        )
