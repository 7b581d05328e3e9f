"""Run a lowered tree (one or several cores) on the golden model, request by request, and
route requests with the image's int8 router."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from nfcore.compiler.images.forest_image import ForestImage, ForestTree
from nfcore.compiler.lower.split import Coord, TreeProgram
from nfcore.config import CoreConfig
from nfcore.golden.array import run_array
from nfcore.golden.core import CoreState


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
    return _run_requests(tp, states, x_int)


def run_image_tree(image: ForestImage, tree_id: int, x_int: npt.NDArray[np.integer]
                   ) -> tuple[npt.NDArray[np.int8], list[int]]:
    """As `run_tree`, for tree `tree_id` of a forest image, from what the image puts on each
    core: the core's resident SRAM (every tree's regions at their bases), the tree's weights
    at its base if it is paged, and its relocated program slot. Tests relocation and
    assignment end to end."""
    return run_image_part(image, image.tree(tree_id), x_int)


def run_image_router(image: ForestImage, x_int: npt.NDArray[np.integer]
                     ) -> tuple[npt.NDArray[np.int8], list[int]]:
    """As `run_image_tree`, for the image's router: int8 region logits (n, regions) of the
    int8 flattened features (n, features), and each request's cycles."""
    return run_image_part(image, image.router(), x_int)


def run_image_part(image: ForestImage, tree: ForestTree, x_int: npt.NDArray[np.integer]
                   ) -> tuple[npt.NDArray[np.int8], list[int]]:
    """As `run_image_tree`, for a tree (or the router) of `image`."""
    states = {}
    for k, code in enumerate(tree.program.cores):
        state = CoreState(image.cfg.core)
        state.load_weights(image.core_sram(code.coord))
        if not tree.resident:
            state.load_weights(code.weights, tree.base_words[k])
        state.load_program(image.core_programs(code.coord)[(tree.tree_id, k)])
        states[code.coord] = state
    return _run_requests(tree.program, states, x_int)


def _run_requests(tp: TreeProgram, states: dict[Coord, CoreState],
                  x_int: npt.NDArray[np.integer]) -> tuple[npt.NDArray[np.int8], list[int]]:
    first, last = states[tp.input_coord], states[tp.output_coord]
    outs, cycles = [], []
    for vec in tp.plan.pack_input(x_int):
        first.write_vector(tp.plan.input_addr, vec)
        results = run_array(states)
        outs.append(last.read_vector(tp.plan.output_addr, tp.plan.output_len))
        cycles.append(max(r.cycles for r in results.values()))
    return np.stack(outs), cycles
