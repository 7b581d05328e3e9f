"""Contract cycles of the CNN and RNN kernels that LOOP, SETLUT and the LUT activation make
possible, run on the golden model (which counts cycles by the timing contract).

Prints, per kernel and lane count: cycles, useful int8 MACs, and MACs per cycle against the
core's peak of `lanes` MACs per cycle. Random weights; only the cycle counts matter here.
Run: `python benchmarks/bench_isa_kernels.py`.
"""

from __future__ import annotations

import sys

import numpy as np
import options

from nfcore.arch import isa
from nfcore.arch.isa import Activation
from nfcore.config import CoreConfig
from nfcore.golden.core import CoreState, RunResult


def _layer(rng: np.random.Generator, rows: int, cols: int, lanes: int) -> np.ndarray:
    return isa.pack_matvec(rng.integers(-128, 128, (rows, cols)), rng.integers(-99, 99, rows),
                           rng.integers(1, 1 << 16, rows), np.full(rows, 16), lanes)


def conv1d(lanes: int, length: int = 64, channels: int = 8, kernel: int = 3,
           out_channels: int = 16) -> tuple[RunResult, int]:
    """A 1-D convolution, channel-last, channels padded to a word: one MATVEC per output
    position in a LOOP (x stride one position, y stride one output vector)."""
    core = CoreConfig(lanes=lanes, weight_sram_bytes=1 << 16, act_sram_bytes=1 << 14)
    rng = np.random.default_rng(0)
    cw = isa.words_for(channels, lanes)  # words per input position
    ow = isa.words_for(out_channels, lanes)
    positions = length - kernel + 1
    state = CoreState(core)
    state.load_weights(_layer(rng, out_channels, kernel * cw * lanes, lanes))
    program = [isa.loop(body=1, count=positions, x_stride=cw, y_stride=ow, x_mask=1, y_mask=1),
               isa.matvec(rows=out_channels, cols=kernel * cw * lanes, w_addr=0, x_addr=0,
                          y_addr=length * cw, act=Activation.RELU),
               isa.halt()]
    state.load_program([i.encode() for i in program])
    return state.run(), positions * out_channels * kernel * channels


def elman_rnn(lanes: int, steps: int = 20, inputs: int = 8, hidden: int = 16
              ) -> tuple[RunResult, int]:
    """h_t = tanh(W [x_t; h_{t-1}] + b): SETLUT once, then per step copy x_t next to h (VADD
    with a zero vector, x-strided), MATVEC with act LUT, copy the result into h."""
    core = CoreConfig(lanes=lanes, weight_sram_bytes=1 << 16, act_sram_bytes=1 << 14)
    rng = np.random.default_rng(1)
    xw, hw = isa.words_for(inputs, lanes), isa.words_for(hidden, lanes)
    seq, xh, tmp, zero = 0, steps * xw, steps * xw + xw + hw, steps * xw + xw + 2 * hw
    table = np.round(127 * np.tanh((np.arange(256) - 128) / 32)).astype(np.int8)
    state = CoreState(core)
    state.load_weights(table.view(np.uint8).reshape(-1, lanes))
    w_addr = isa.lut_words(lanes)
    state.load_weights(_layer(rng, hidden, (xw + hw) * lanes, lanes), addr=w_addr)
    program = [
        isa.setlut(w_addr=0),
        isa.loop(body=3, count=steps, x_stride=xw, x_mask=0b001),
        isa.vadd(n=inputs, a_addr=seq, b_addr=zero, y_addr=xh),
        isa.matvec(rows=hidden, cols=(xw + hw) * lanes, w_addr=w_addr, x_addr=xh,
                   y_addr=tmp, act=Activation.LUT),
        isa.vadd(n=hidden, a_addr=tmp, b_addr=zero, y_addr=xh + xw),
        isa.halt(),
    ]
    state.load_program([i.encode() for i in program])
    return state.run(), steps * hidden * (inputs + hidden)


def main(argv: list[str]) -> None:
    options.parser(__doc__).parse_args(argv)  # already small: --smoke runs the same
    print("kernel      lanes   cycles     MACs   MACs/cycle  peak")
    for lanes in (8, 16, 32):
        for name, kernel in (("conv1d", conv1d), ("elman_rnn", elman_rnn)):
            result, macs = kernel(lanes)
            print(f"{name:<11} {lanes:>5} {result.cycles:>8} {macs:>8} "
                  f"{macs / result.cycles:>12.2f} {lanes:>5}")


if __name__ == "__main__":
    main(sys.argv[1:])
