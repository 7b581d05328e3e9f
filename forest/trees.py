"""Tree networks: their shape (`TreeSpec`), one-tree modules, and a forward batched over trees.

A tree is small and made only of layers the integer micro-core runs (see `forest.export` for
the constraints and the numpy export each kind hands to the compiler):

- `MLPTree`  (kind "mlp"): Linear layers, ReLU between them;
- `CNNTree`  (kind "cnn"): 1-D convolutions over channel-last input [length, channels], each
  with ReLU, no padding, no pooling (a stride shrinks instead), then a dense head;
- `RNNTree`  (kind "rnn"): an Elman cell h_t = tanh(W [x_t; h_{t-1}] + b), then a dense head.

Many trees of one `TreeSpec` are held as stacked parameters [n_trees, *shape] and run by
`batched_forward` as grouped matrix multiplies (bmm / einsum over a tree dimension), so a
forest of 1,000 trees trains and infers without a Python loop over trees. Parameter names
are the one-tree modules' `state_dict` keys, so a stacked slice loads into a module as is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, cast

import numpy as np
import torch
from torch import nn

from forest.errors import ForestError
from forest.export import ConvLayer, ElmanCell, FloatLayer, TreeExport

__all__ = ["CNNTree", "FloatLayer", "MLPTree", "RNNTree", "TreeSpec", "batched_forward",
           "build_tree", "init_params"]

KINDS: tuple[str, ...] = ("cnn", "mlp", "rnn")


@dataclass(frozen=True)
class TreeSpec:
    """The shape of a tree: everything but its weights. JSON-able via `to_dict`.

    input_shape: (features,) or (length, channels) channel-last; mlp trees flatten any shape.
    hidden: widths of the dense head's hidden layers (mlp: the whole network).
    convs: cnn only, one (out_channels, kernel, stride) per convolution.
    rnn_hidden: rnn only, the Elman cell's hidden size.
    """

    kind: str
    input_shape: tuple[int, ...]
    n_classes: int
    hidden: tuple[int, ...] = ()
    convs: tuple[tuple[int, int, int], ...] = ()
    rnn_hidden: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ForestError(f"tree kind {self.kind!r} unknown; choose one of {KINDS}")
        sizes = (*self.input_shape, self.n_classes, *self.hidden,
                 *(v for c in self.convs for v in c))
        if not self.input_shape or any(not isinstance(v, int) or v < 1 for v in sizes):
            raise ForestError(f"tree sizes must be positive integers: {self}")
        seq = self.kind in ("cnn", "rnn")
        if seq and len(self.input_shape) != 2:
            raise ForestError(f"{self.kind} trees read (length, channels) inputs, "
                              f"got input_shape {self.input_shape}")
        if (self.kind == "cnn") != bool(self.convs):
            raise ForestError(f"convs must be given for cnn trees only: {self}")
        if (self.kind == "rnn") != (self.rnn_hidden > 0):
            raise ForestError(f"rnn_hidden must be > 0 for rnn trees only: {self}")
        length = self.input_shape[0]
        for _, k, stride in self.convs:
            length = (length - k) // stride + 1
            if length < 1:
                raise ForestError(f"convolution kernel {k} is longer than its input: {self}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TreeSpec:
        return cls(kind=str(d["kind"]), input_shape=tuple(d["input_shape"]),
                   n_classes=int(d["n_classes"]), hidden=tuple(d.get("hidden", ())),
                   convs=tuple((int(o), int(k), int(s)) for o, k, s in d.get("convs", ())),
                   rnn_hidden=int(d.get("rnn_hidden", 0)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def head_in(self) -> int:
        """Width of the flattened vector the dense head reads."""
        if self.kind == "rnn":
            return self.rnn_hidden
        if self.kind == "mlp":
            return math.prod(self.input_shape)
        length = self.input_shape[0]
        for _, k, stride in self.convs:
            length = (length - k) // stride + 1
        return length * self.convs[-1][0]

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-tree parameter shapes by `state_dict` key, in forward order."""
        shapes: dict[str, tuple[int, ...]] = {}
        in_ch = self.input_shape[-1]
        for i, (out_ch, k, _) in enumerate(self.convs):
            shapes[f"convs.{i}.weight"] = (out_ch, in_ch, k)
            shapes[f"convs.{i}.bias"] = (out_ch,)
            in_ch = out_ch
        if self.kind == "rnn":
            h = self.rnn_hidden
            shapes["cell.weight"] = (h, self.input_shape[-1] + h)
            shapes["cell.bias"] = (h,)
        widths = (self.head_in(), *self.hidden, self.n_classes)
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            shapes[f"linears.{i}.weight"] = (b, a)
            shapes[f"linears.{i}.bias"] = (b,)
        return shapes

    @property
    def n_parameters(self) -> int:
        return sum(math.prod(s) for s in self.param_shapes().values())


def init_params(spec: TreeSpec, n_trees: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Stacked initial parameters [n_trees, *shape]: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    That is PyTorch's default for Linear and Conv1d weights and biases; drawn from `gen` so a
    seed fixes every tree.
    """
    out: dict[str, torch.Tensor] = {}
    shapes = spec.param_shapes()
    for name, shape in shapes.items():
        w_shape = shapes[name.replace(".bias", ".weight")]
        fan_in = math.prod(w_shape[1:])
        bound = 1.0 / math.sqrt(fan_in)
        out[name] = (torch.rand((n_trees, *shape), generator=gen) * 2 - 1) * bound
    return out


def batched_forward(spec: TreeSpec, params: Mapping[str, torch.Tensor],
                    x: torch.Tensor) -> torch.Tensor:
    """Logits [T, B, n_classes] of T trees of `spec` on inputs x [T, B, *input_shape].

    params[name] is [T, *shape] (see `TreeSpec.param_shapes`). Tree t reads only x[t]; the
    work is grouped matrix multiplies over the tree dimension.
    """
    t, b = x.shape[0], x.shape[1]
    h = x.reshape(t, b, *spec.input_shape)
    for i, (_, k, stride) in enumerate(spec.convs):
        w, bias = params[f"convs.{i}.weight"], params[f"convs.{i}.bias"]
        windows = h.unfold(2, k, stride)  # [T, B, L_out, in_ch, k]
        h = torch.relu(torch.einsum("tbpck,tock->tbpo", windows, w) + bias[:, None, None, :])
    if spec.kind == "rnn":
        w, bias = params["cell.weight"], params["cell.bias"]
        state = h.new_zeros(t, b, spec.rnn_hidden)
        for step in range(h.shape[2]):
            z = torch.cat([h[:, :, step, :], state], dim=2)
            state = torch.tanh(torch.baddbmm(bias[:, None, :], z, w.transpose(1, 2)))
        h = state
    h = h.reshape(t, b, -1)
    n_dense = len(spec.hidden) + 1
    for i in range(n_dense):
        w, bias = params[f"linears.{i}.weight"], params[f"linears.{i}.bias"]
        h = torch.baddbmm(bias[:, None, :], h, w.transpose(1, 2))
        if i < n_dense - 1:
            h = torch.relu(h)
    return h


def _head_export(linears: nn.ModuleList) -> list[FloatLayer]:
    last = len(linears) - 1
    out: list[FloatLayer] = []
    for i, module in enumerate(linears):
        linear = cast(nn.Linear, module)
        w = linear.weight.detach().cpu().numpy().astype(np.float32, copy=True)
        b = linear.bias.detach().cpu().numpy().astype(np.float32, copy=True)
        out.append((w, b, i < last))
    return out


def _linears(widths: tuple[int, ...]) -> nn.ModuleList:
    return nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))


class MLPTree(nn.Module):
    """A multilayer perceptron: Linear layers with ReLU between them, none after the last.

    `in_features -> hidden[0] -> ... -> hidden[-1] -> out_features`; an empty `hidden`
    gives a single linear layer. The output is one logit per class.
    """

    kind: ClassVar[str] = "mlp"

    def __init__(self, in_features: int, hidden: tuple[int, ...], out_features: int) -> None:
        super().__init__()
        widths = (in_features, *hidden, out_features)
        bad = [w for w in widths if not isinstance(w, int) or w < 1]
        if bad:
            raise ForestError(
                f"MLPTree widths must be positive integers, got in_features={in_features}, "
                f"hidden={hidden}, out_features={out_features}"
            )
        self.in_features = in_features
        self.hidden = tuple(hidden)
        self.out_features = out_features
        self.linears: nn.ModuleList = _linears(widths)

    @property
    def spec(self) -> TreeSpec:
        return TreeSpec("mlp", (self.in_features,), self.out_features, self.hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (batch, out_features) of float inputs (batch, in_features)."""
        x = x.reshape(len(x), -1)
        last = len(self.linears) - 1
        for i, linear in enumerate(self.linears):
            x = linear(x)
            if i < last:
                x = torch.relu(x)
        return x

    def layers(self) -> list[FloatLayer]:
        """Float weights for the compiler: [(W [out, in] float32, b [out] float32, relu)].

        The arrays are copies; changing them does not change the module.
        """
        return _head_export(self.linears)

    def export(self) -> TreeExport:
        """The whole tree for the compiler (for an MLP, `layers()` is all of it)."""
        return TreeExport("mlp", (self.in_features,), self.layers())

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class _SpecTree(nn.Module):
    """A one-tree module whose forward is `batched_forward` with one tree."""

    def __init__(self, spec: TreeSpec) -> None:
        super().__init__()
        self.spec = spec
        self.linears: nn.ModuleList = _linears((spec.head_in(), *spec.hidden, spec.n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (batch, n_classes) of inputs (batch, *input_shape) or flattened rows."""
        params = {k: v.unsqueeze(0) for k, v in self.named_parameters()}
        return batched_forward(self.spec, params, x.unsqueeze(0))[0]

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class CNNTree(_SpecTree):
    """1-D convolutions over channel-last input, each with ReLU, then a dense head.

    For digits the 8x8 image is 8 steps of 8 pixels: Conv1d with in_channels=8 over length 8,
    each kernel spanning k whole rows.
    """

    kind: ClassVar[str] = "cnn"

    def __init__(self, spec: TreeSpec) -> None:
        if spec.kind != "cnn":
            raise ForestError(f"CNNTree needs a cnn spec, got kind {spec.kind!r}")
        super().__init__(spec)
        in_ch = spec.input_shape[-1]
        convs = []
        for out_ch, k, stride in spec.convs:
            convs.append(nn.Conv1d(in_ch, out_ch, k, stride=stride))
            in_ch = out_ch
        self.convs: nn.ModuleList = nn.ModuleList(convs)

    def conv_layers(self) -> list[ConvLayer]:
        """Float convolutions for the compiler: weight [out_ch, in_ch, k], bias, stride."""
        out = []
        for module, (_, _, stride) in zip(self.convs, self.spec.convs, strict=True):
            conv = cast(nn.Conv1d, module)
            assert conv.bias is not None  # built with bias=True
            out.append(ConvLayer(conv.weight.detach().numpy().astype(np.float32, copy=True),
                                 conv.bias.detach().numpy().astype(np.float32, copy=True),
                                 stride))
        return out

    def head_layers(self) -> list[FloatLayer]:
        """Dense head over the last conv output flattened channel-last (p * out_ch + o)."""
        return _head_export(self.linears)

    def export(self) -> TreeExport:
        return TreeExport("cnn", self.spec.input_shape, self.head_layers(),
                          convs=self.conv_layers())


class RNNTree(_SpecTree):
    """An Elman cell over the input's steps, then a dense head on the last hidden state."""

    kind: ClassVar[str] = "rnn"

    def __init__(self, spec: TreeSpec) -> None:
        if spec.kind != "rnn":
            raise ForestError(f"RNNTree needs an rnn spec, got kind {spec.kind!r}")
        super().__init__(spec)
        self.cell = nn.Linear(spec.input_shape[-1] + spec.rnn_hidden, spec.rnn_hidden)

    def elman_cell(self) -> ElmanCell:
        """The cell for the compiler: W [hidden, input + hidden] over [x_t; h_{t-1}], b."""
        return ElmanCell(self.cell.weight.detach().numpy().astype(np.float32, copy=True),
                         self.cell.bias.detach().numpy().astype(np.float32, copy=True),
                         self.spec.input_shape[-1], self.spec.rnn_hidden)

    def head_layers(self) -> list[FloatLayer]:
        """Dense head over the last hidden state."""
        return _head_export(self.linears)

    def export(self) -> TreeExport:
        return TreeExport("rnn", self.spec.input_shape, self.head_layers(),
                          cell=self.elman_cell())


TreeModule = MLPTree | CNNTree | RNNTree


def build_tree(spec: TreeSpec, params: Mapping[str, torch.Tensor] | None = None) -> TreeModule:
    """A one-tree module of `spec`, with `params` (per-tree shapes) loaded if given."""
    tree: TreeModule
    if spec.kind == "mlp":
        tree = MLPTree(math.prod(spec.input_shape), spec.hidden, spec.n_classes)
    elif spec.kind == "cnn":
        tree = CNNTree(spec)
    else:
        tree = RNNTree(spec)
    if params is not None:
        tree.load_state_dict({k: v.detach().clone() for k, v in params.items()})
    return tree
