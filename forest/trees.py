"""Tree networks. A tree is a small `torch.nn.Module` that exports its float weights.

The export (`layers()`) is plain numpy so that the compiler never needs PyTorch.
"""

from __future__ import annotations

from typing import ClassVar, cast

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from forest.errors import ForestError

FloatLayer = tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], bool]
"""One dense layer as the compiler reads it: (W [out, in], b [out], relu after it)."""


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
        self.linears: nn.ModuleList = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (batch, out_features) of float inputs (batch, in_features)."""
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
        last = len(self.linears) - 1
        out: list[FloatLayer] = []
        for i, module in enumerate(self.linears):
            linear = cast(nn.Linear, module)
            w = linear.weight.detach().cpu().numpy().astype(np.float32, copy=True)
            b = linear.bias.detach().cpu().numpy().astype(np.float32, copy=True)
            out.append((w, b, i < last))
        return out

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
