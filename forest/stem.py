"""Shared per-request features: one layer computed once per request and given to every tree.

On the chip this is "compute once, broadcast": the stem runs once for a request and its output
goes to the router and to each of the k selected trees, instead of every tree recomputing its
own first layer. It is also the embedding the partition clusters on and the router reads.

The stem is the first layer of a small generalist network (stem + linear classifier) trained
on all the training data and then frozen; trees train on its output. For flat inputs it is
Linear + ReLU, out_shape (width,). For sequence inputs (length, channels) it is a 1-D
convolution over channel-last input + ReLU (kernel, stride; no padding, no pooling), out_shape
(length_out, width), so CNN and RNN trees still read a sequence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from forest.errors import ForestError
from forest.export import ConvLayer, FloatLayer
from forest.fit import FitOptions, fit_trees
from forest.trees import TreeSpec, init_params


@dataclass(frozen=True)
class StemSpec:
    """input_shape of the raw rows; width: output features (channels); kernel/stride:
    sequence inputs only."""

    input_shape: tuple[int, ...]
    width: int
    kernel: int = 1
    stride: int = 1

    def __post_init__(self) -> None:
        if self.width < 1 or self.kernel < 1 or self.stride < 1:
            raise ForestError(f"stem width, kernel and stride must be >= 1: {self}")
        if self.is_sequence and self.kernel > self.input_shape[0]:
            raise ForestError(f"stem kernel {self.kernel} is longer than the input {self}")

    @property
    def is_sequence(self) -> bool:
        return len(self.input_shape) == 2

    @property
    def out_shape(self) -> tuple[int, ...]:
        if not self.is_sequence:
            return (self.width,)
        return ((self.input_shape[0] - self.kernel) // self.stride + 1, self.width)

    def generalist(self, n_classes: int) -> TreeSpec:
        """The stem plus a linear classifier, as a tree spec (what pretraining trains)."""
        if self.is_sequence:
            return TreeSpec("cnn", self.input_shape, n_classes,
                            convs=((self.width, self.kernel, self.stride),))
        return TreeSpec("mlp", self.input_shape, n_classes, hidden=(self.width,))

    @property
    def param_names(self) -> tuple[str, str]:
        return ("convs.0.weight", "convs.0.bias") if self.is_sequence else \
            ("linears.0.weight", "linears.0.bias")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StemSpec:
        return cls(tuple(d["input_shape"]), int(d["width"]), int(d["kernel"]), int(d["stride"]))


class SharedStem(nn.Module):
    """The frozen stem layer. `weight`, `bias`: [width, features] or [width, channels, k]."""

    weight: torch.Tensor
    bias: torch.Tensor

    def __init__(self, spec: StemSpec, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.spec = spec
        self.register_buffer("weight", weight.detach().clone())
        self.register_buffer("bias", bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features [N, *out_shape] of rows [N, *input_shape] (or flattened rows)."""
        x = x.reshape(len(x), *self.spec.input_shape)
        w, b = self.weight, self.bias
        if not self.spec.is_sequence:
            return torch.relu(x @ w.T + b)
        windows = x.unfold(1, self.spec.kernel, self.spec.stride)  # [N, L_out, C, k]
        return torch.relu(torch.einsum("npck,ock->npo", windows, w) + b)

    @property
    def n_parameters(self) -> int:
        return int(self.weight.numel() + self.bias.numel())

    def export(self) -> ConvLayer | FloatLayer:
        """The layer for the compiler: a `ConvLayer`, or (W [out, in], b [out], relu=True)."""
        w = self.weight.numpy().astype(np.float32, copy=True)
        b = self.bias.numpy().astype(np.float32, copy=True)
        if self.spec.is_sequence:
            return ConvLayer(w, b, self.spec.stride)
        return (w, b, True)


def pretrain_stem(spec: StemSpec, x: torch.Tensor, y: torch.Tensor, n_classes: int,
                  options: FitOptions, gen: torch.Generator, quiet: bool = True) -> SharedStem:
    """Train stem + linear classifier on all of (x, y) and keep the stem."""
    tree = spec.generalist(n_classes)
    members = torch.arange(len(x))[None, :]
    params = fit_trees(tree, init_params(tree, 1, gen), x.reshape(len(x), *spec.input_shape),
                       y, members, torch.tensor([len(x)]), options, gen,
                       desc="shared stem", quiet=quiet)
    w_name, b_name = spec.param_names
    return SharedStem(spec, params[w_name][0], params[b_name][0])
