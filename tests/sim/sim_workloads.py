"""Helpers for the system-model tests: a small core and random valid programs for it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nfcore.arch import isa
from nfcore.arch.isa import Activation
from nfcore.config import CoreConfig, NFCoreConfig
from nfcore.golden.core import CoreState

SMALL = NFCoreConfig(core=CoreConfig(lanes=8, weight_sram_bytes=8192, act_sram_bytes=1024,
                                     imem_depth=32))


@dataclass
class Workload:
    weights: np.ndarray
    program: list[int]
    input_len: int
    input_addr: int
    output_addr: int
    output_len: int


def random_workload(rng: np.random.Generator, lanes: int = 8) -> Workload:
    """A chain of 1-3 MATVEC layers, sometimes with an in-place VADD after one, ending in
    HALT. Inputs sit at word 0; each layer's output alternates between two disjoint areas."""
    n_in = int(rng.integers(1, 40))
    areas = (0, 32)  # scratchpad words; each area holds up to 32 * lanes bytes
    program: list[isa.Instruction] = []
    blocks: list[np.ndarray] = []
    w_addr, cols, x_addr = 0, n_in, areas[0]
    for k in range(int(rng.integers(1, 4))):
        rows = int(rng.integers(1, 30))
        y_addr = areas[(k + 1) % 2]
        w = rng.integers(-128, 128, size=(rows, cols))
        bias = rng.integers(-5000, 5000, size=rows)
        mult = rng.integers(0, 1 << 16, size=rows)
        shift = rng.integers(10, 24, size=rows)
        blocks.append(isa.pack_matvec(w, bias, mult, shift, lanes))
        act = Activation(int(rng.integers(0, 2)))
        program.append(isa.matvec(rows=rows, cols=cols, w_addr=w_addr, x_addr=x_addr,
                                  y_addr=y_addr, act=act))
        if rng.random() < 0.4:
            program.append(isa.vadd(n=rows, a_addr=y_addr, b_addr=y_addr, y_addr=y_addr))
        w_addr += len(blocks[-1])
        cols, x_addr = rows, y_addr
    program.append(isa.halt())
    return Workload(np.concatenate(blocks), [i.encode() for i in program], n_in, areas[0],
                    x_addr, cols)


def golden_runs(cfg: NFCoreConfig, wl: Workload,
                inputs: list[np.ndarray]) -> list[tuple[np.ndarray, int]]:
    """(outputs, cycles) of each input on one persistent golden core, in order."""
    state = CoreState(cfg.core)
    state.load_weights(wl.weights)
    state.load_program(wl.program)
    out = []
    for x in inputs:
        state.write_vector(wl.input_addr, x)
        cycles = state.run().cycles
        out.append((state.read_vector(wl.output_addr, wl.output_len), cycles))
    return out
