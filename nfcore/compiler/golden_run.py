"""Run a lowered tree (one or several cores) on the golden model, request by request."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from nfcore.compiler.split import TreeProgram
from nfcore.config import CoreConfig
from nfcore.golden import CoreState
from nfcore.golden_array import run_array


def run_tree(tp: TreeProgram, core: CoreConfig, x_int: npt.NDArray[np.integer]
             ) -> tuple[npt.NDArray[np.int8], list[int]]:
    """Logits (n, output_len) of int8 inputs (n, *input_shape) and each request's cycles:
    from RUN (all cores in the same cycle) to the last core's HALT, network waits included.

    Weights and programs are loaded once; the scratchpads and the LUT keep their contents
    between requests, as on the chip.
    """
    states = {}
    for code in tp.cores:
        state = CoreState(core)
        state.load_weights(code.weights)
        state.load_program(code.program)
        states[code.coord] = state
    first, last = states[tp.input_coord], states[tp.output_coord]
    outs, cycles = [], []
    for vec in tp.plan.pack_input(x_int):
        first.write_vector(tp.plan.input_addr, vec)
        results = run_array(states)
        outs.append(last.read_vector(tp.plan.output_addr, tp.plan.output_len))
        cycles.append(max(r.cycles for r in results.values()))
    return np.stack(outs), cycles
