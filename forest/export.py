"""What a tree hands to the compiler: its float layers as plain numpy, and their meaning.

Every tree kind is made only of operations the integer micro-core runs:

- dense layers (a MATVEC with bias), optionally followed by ReLU;
- 1-D convolutions over channel-last inputs (x[position, channel]), no padding, stride >= 1,
  each followed by ReLU: a MATVEC per output position with strided reads of the input, so no
  im2col is materialised. There is no pooling (the core has none): a stride shrinks instead;
- an Elman cell h_t = tanh(W [x_t; h_{t-1}] + b), h_0 = 0: one MATVEC per step and tanh,
  which the core computes with a 256-entry lookup table (which is why trees use Elman and
  not a GRU: one table lookup per unit per step, no gates);
- no layer or batch normalisation and no softmax inside a tree: a tree outputs logits, and
  the forest (on the host) turns them into probabilities.

`reference_forward` computes a tree from its export alone; tests check it equals the module,
so the export is a faithful description of what the compiler must build.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
FloatLayer = tuple[FloatArray, FloatArray, bool]
"""One dense layer as the compiler reads it: (W [out, in], b [out], relu after it)."""


@dataclass(frozen=True)
class ConvLayer:
    """A 1-D convolution over channel-last input x [length, in_ch], followed by ReLU.

    y[p, o] = relu(bias[o] + sum_{j < k, c} weight[o, c, j] * x[p * stride + j, c])
    for p in 0 .. (length - k) // stride; no padding. `weight` is [out_ch, in_ch, k] (the
    PyTorch Conv1d layout), `bias` is [out_ch]. The output is channel-last [length_out, out_ch].
    """

    weight: FloatArray
    bias: FloatArray
    stride: int
    relu: bool = True


@dataclass(frozen=True)
class ElmanCell:
    """h_t = tanh(weight @ concat(x_t, h_{t-1}) + bias), h_0 = 0, over the input's steps.

    `weight` is [hidden, input_size + hidden]: columns 0 .. input_size - 1 multiply x_t and
    the rest multiply h_{t-1}. `bias` is [hidden]. The tree's head reads the last h.
    """

    weight: FloatArray
    bias: FloatArray
    input_size: int
    hidden_size: int


@dataclass(frozen=True)
class TreeExport:
    """A whole tree for the compiler: `convs` (cnn) or `cell` (rnn), then the dense `head`.

    `input_shape` is (features,) for mlp trees (any input is flattened row-major) and
    (length, channels) for cnn and rnn trees. The head's first layer reads, flattened
    row-major: the input (mlp), the last conv output [length_out, out_ch] (cnn, so index
    p * out_ch + o), or the last hidden state (rnn). The last head layer has no ReLU and
    outputs one logit per class.
    """

    kind: str
    input_shape: tuple[int, ...]
    head: list[FloatLayer]
    convs: list[ConvLayer] = field(default_factory=list)
    cell: ElmanCell | None = None


def reference_forward(tree: TreeExport, x: npt.NDArray[np.floating]) -> FloatArray:
    """Logits (n, n_classes) of inputs x (n, *input_shape) or flat (n, prod(input_shape))."""
    h = np.asarray(x, dtype=np.float64).reshape(len(x), *tree.input_shape)
    if tree.kind == "cnn":
        for conv in tree.convs:
            k = conv.weight.shape[2]
            n_out = (h.shape[1] - k) // conv.stride + 1
            windows = np.stack([h[:, p * conv.stride : p * conv.stride + k, :]
                                for p in range(n_out)], axis=1)  # (n, n_out, k, in_ch)
            h = np.einsum("npjc,ocj->npo", windows, conv.weight) + conv.bias
            if conv.relu:
                h = np.maximum(h, 0.0)
    elif tree.kind == "rnn":
        assert tree.cell is not None
        state = np.zeros((len(h), tree.cell.hidden_size))
        for t in range(h.shape[1]):
            z = np.concatenate([h[:, t, :], state], axis=1)
            state = np.tanh(z @ tree.cell.weight.T + tree.cell.bias)
        h = state
    h = h.reshape(len(h), -1)
    for w, b, relu in tree.head:
        h = h @ w.T + b
        if relu:
            h = np.maximum(h, 0.0)
    return h.astype(np.float32)
