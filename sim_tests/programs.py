"""Random core programs for the RTL tests: MLP-like chains of MATVEC with VADDs.

Pure Python; the cocotb tests load the result into the RTL and the golden model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nfcore.arch import isa
from nfcore.arch.isa import Activation
from nfcore.config import CoreConfig


@dataclass
class Workload:
    weights: npt.NDArray[np.uint8]  # (words, lanes), written from word 0
    program: list[int]  # ends with HALT
    act_init: npt.NDArray[np.uint8]  # (act_words, lanes), the scratchpad before the run


def _quant_params(rng: np.random.Generator, rows: int, cols: int
                  ) -> tuple[npt.NDArray[np.int64], ...]:
    """Per-row bias, mult, shift: mostly in a range where outputs are not all saturated, with
    some extremes (shift 0 and MAX_SHIFT, mult 0 and max, large biases)."""
    bias = rng.integers(-(1 << 12), 1 << 12, rows)
    mult = rng.integers(1, 1 << isa.MULT_BITS, rows)
    acc_scale = 64 * 64 * math.sqrt(cols)
    shift = np.round(np.log2(acc_scale * mult / 64)).astype(np.int64) + rng.integers(-2, 3, rows)
    shift = np.clip(shift, 0, isa.MAX_SHIFT)
    odd = rng.random(rows) < 0.15
    kinds = rng.integers(0, 5, rows)
    shift = np.where(odd & (kinds == 0), 0, shift)
    shift = np.where(odd & (kinds == 1), isa.MAX_SHIFT, shift)
    mult = np.where(odd & (kinds == 2), 0, mult)
    mult = np.where(odd & (kinds == 3), (1 << isa.MULT_BITS) - 1, mult)
    bias = np.where(odd & (kinds == 4), rng.choice([-(1 << 31), (1 << 31) - 1], rows), bias)
    return bias, mult, shift


def _layer(rng: np.random.Generator, rows: int, cols: int, lanes: int) -> npt.NDArray[np.uint8]:
    w = rng.integers(-128, 128, (rows, cols))
    bias, mult, shift = _quant_params(rng, rows, cols)
    return isa.pack_matvec(w, bias, mult, shift, lanes)


def random_mlp(rng: np.random.Generator, core: CoreConfig, *, max_dim: int = 80,
               fill_weights: bool = False) -> Workload:
    """A chain x -> MATVEC -> ... with VADDs between layers. Vectors live in three word-aligned
    scratchpad regions, so operands are either the same vector or disjoint.

    `fill_weights`: one layer whose weight region is exactly the whole weight SRAM.
    """
    lanes = core.lanes
    region_words = core.act_words // 3
    regions = [0, region_words, 2 * region_words]
    max_len = min(max_dim, region_words * lanes)
    act_init = rng.integers(0, 256, (core.act_words, lanes), dtype=np.uint8)
    budget = core.weight_words
    blocks: list[npt.NDArray[np.uint8]] = []
    program: list[isa.Instruction] = []
    w_addr = 0
    cur, dim = 0, int(rng.integers(1, max_len + 1))

    def matvec(rows: int) -> None:
        nonlocal w_addr, cur, dim
        region = _layer(rng, rows, dim, lanes)
        blocks.append(region)
        out = (cur + 1 + int(rng.integers(0, 2))) % 3
        program.append(isa.matvec(rows=rows, cols=dim, w_addr=w_addr, x_addr=regions[cur],
                                  y_addr=regions[out], act=_act(rng)))
        w_addr += len(region)
        cur, dim = out, rows

    if fill_weights:
        shapes = [(budget // d, d - 1) for d in range(2, budget + 1) if budget % d == 0]
        shapes = [(r, wpr) for r, wpr in shapes if r <= max_len and (wpr - 1) * lanes < max_len]
        rows, wpr = shapes[int(rng.integers(len(shapes)))]
        dim = int(rng.integers((wpr - 1) * lanes + 1, min(wpr * lanes, max_len) + 1))
        matvec(rows)
    else:
        for _ in range(int(rng.integers(1, 5))):
            fits = (budget - w_addr) // (1 + isa.words_for(dim, lanes))
            if fits < 1:
                break
            matvec(int(rng.integers(1, min(max_len, fits) + 1)))
            if rng.random() < 0.5:
                other = regions[int(rng.integers(3))]
                in_place = rng.random() < 0.5
                y = regions[cur] if in_place else regions[(cur + 1) % 3]
                program.append(isa.vadd(n=dim, a_addr=regions[cur], b_addr=other, y_addr=y,
                                        act=_act(rng)))
                if not in_place:
                    cur = (cur + 1) % 3
    program.append(isa.halt())
    weights = np.concatenate(blocks) if blocks else np.zeros((0, lanes), dtype=np.uint8)
    return Workload(weights, [i.encode() for i in program], act_init)


def _act(rng: np.random.Generator) -> Activation:
    return Activation.RELU if rng.random() < 0.5 else Activation.NONE


def _place(rng: np.random.Generator, count: int, stride: int, span: int, lo: int,
           hi: int) -> int | None:
    """A start word such that `span` words at start + i * stride lie in [lo, hi) for all
    i < count, or None."""
    first = lo + max(0, -stride * (count - 1))
    last = hi - span - max(0, stride * (count - 1))
    return None if last < first else int(rng.integers(first, last + 1))


def random_lut_table(rng: np.random.Generator, lanes: int) -> npt.NDArray[np.uint8]:
    """A random int8 table laid out as SETLUT reads it: `(256 / lanes, lanes)` bytes."""
    return rng.integers(0, 256, isa.LUT_ENTRIES, dtype=np.uint8).reshape(-1, lanes)


def random_loops(rng: np.random.Generator, core: CoreConfig) -> Workload:
    """SETLUT of a random table, then LOOPs with random counts and strides (negative ones
    too) over MATVEC (act NONE/RELU/LUT, conv-like), VADD and VMUL, plus some unlooped
    instructions. Reads come from the lower half of the scratchpad and writes go to the
    upper half, so operands never overlap results."""
    lanes = core.lanes
    half = core.act_words // 2
    lut_words = isa.lut_words(lanes)
    blocks = [random_lut_table(rng, lanes)]
    program: list[isa.Instruction] = [isa.setlut(w_addr=0)]
    w_addr = lut_words
    acts = [Activation.NONE, Activation.RELU, Activation.LUT]
    slots = core.imem_depth - 2  # SETLUT and HALT
    while slots >= 3:
        count = int(rng.integers(1, 6))
        kind = int(rng.integers(0, 3))
        if kind == 0:  # LOOP over a conv-like MATVEC
            rows, cols = int(rng.integers(1, 2 * lanes + 1)), int(rng.integers(1, 3 * lanes))
            wpr, yw = isa.words_for(cols, lanes), isa.words_for(rows, lanes)
            region = isa.matvec_region_words(rows, cols, lanes)
            sx, sy = int(rng.integers(-2, 4)), yw + int(rng.integers(-yw, 2))
            x = _place(rng, count, sx, wpr, 0, half)
            y = _place(rng, count, sy, yw, half, core.act_words)
            if x is None or y is None or w_addr + region > core.weight_words:
                continue
            blocks.append(_layer(rng, rows, cols, lanes))
            program += [isa.loop(body=1, count=count, x_stride=sx, y_stride=sy,
                                 x_mask=int(rng.integers(0, 2)), y_mask=1),
                        isa.matvec(rows=rows, cols=cols, w_addr=w_addr, x_addr=x, y_addr=y,
                                   act=acts[int(rng.integers(3))])]
            w_addr += region
            slots -= 2
        elif kind == 1:  # LOOP over VADD and VMUL, masks random
            n = int(rng.integers(1, 2 * lanes + 1))
            w = isa.words_for(n, lanes)
            sx, sy = int(rng.integers(-3, 4)), int(rng.integers(-3, 4))
            a = [_place(rng, count, sx, w, 0, half) for _ in range(2)]
            y = [_place(rng, count, sy, w, half, core.act_words) for _ in range(2)]
            b = _place(rng, 1, 0, w, 0, half)
            if None in a or None in y or b is None:
                continue
            x_mask, y_mask = int(rng.integers(0, 4)), int(rng.integers(0, 4))
            # An unmasked address does not move: it must fit without the stride.
            a = [v if (x_mask >> i) & 1 else _place(rng, 1, 0, w, 0, half)
                 for i, v in enumerate(a)]
            y = [v if (y_mask >> i) & 1 else _place(rng, 1, 0, w, half, core.act_words)
                 for i, v in enumerate(y)]
            program += [
                isa.loop(body=2, count=count, x_stride=sx, y_stride=sy, x_mask=x_mask,
                         y_mask=y_mask),
                isa.vadd(n=n, a_addr=int(a[0] or 0), b_addr=b, y_addr=int(y[0] or 0),
                         act=_act(rng)),
                isa.vmul(n=n, a_addr=int(a[1] or 0), b_addr=b, y_addr=int(y[1] or 0),
                         shift=int(rng.integers(0, isa.VMUL_MAX_SHIFT + 1)), act=_act(rng)),
            ]
            slots -= 3
        else:  # an unlooped VMUL
            n = int(rng.integers(1, 3 * lanes))
            w = isa.words_for(n, lanes)
            a, b = _place(rng, 1, 0, w, 0, half), _place(rng, 1, 0, w, 0, half)
            y0 = _place(rng, 1, 0, w, half, core.act_words)
            if a is None or b is None or y0 is None:
                continue
            program.append(isa.vmul(n=n, a_addr=a, b_addr=b, y_addr=y0,
                                    shift=int(rng.integers(0, isa.VMUL_MAX_SHIFT + 1)),
                                    act=_act(rng)))
            slots -= 1
    program.append(isa.halt())
    act_init = rng.integers(0, 256, (core.act_words, lanes), dtype=np.uint8)
    return Workload(np.concatenate(blocks), [i.encode() for i in program], act_init)
