"""A tree's program as the chip serves it: input and result as packets through the host port.

`with_host_io` wraps a lowered tree (`nfcore.compiler.lower.program.CoreProgram`) so that
its program begins with a RECV of the input packet (the packed input vector, whole words at
`input_addr`) and ends with a SEND of the output words to the host (`isa.send_to_host`),
then HALT. The host dispatches a request as `nfcore.sim.net.dispatch` states: RUN over the
core's `cmd` bus and the input packet through the host port.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt

from nfcore.arch import isa
from nfcore.compiler.lower.program import CoreProgram, check_imem
from nfcore.config import CoreConfig


def with_host_io(prog: CoreProgram, core: CoreConfig, tag: int, tree_id: int | str = 0
                 ) -> CoreProgram:
    """`prog` with a RECV of its input (tag `tag`) first and a SEND of its output to the
    host (tag `tag`) before HALT. Raises `CompileError` if the program no longer fits
    `core.imem_depth`."""
    body = [isa.decode(w) for w in prog.program]
    assert body[-1].op is isa.Opcode.HALT, "a lowered program ends in HALT"
    program = [isa.recv(n=input_words(prog), addr=prog.input_addr, tag=tag), *body[:-1],
               isa.send_to_host(n=output_words(prog), addr=prog.output_addr, tag=tag),
               isa.halt()]
    check_imem(program, core, tree_id, " (with its host RECV and SEND)")
    return dataclasses.replace(prog, program=[i.encode() for i in program])


def input_words(prog: CoreProgram) -> int:
    """Words of the input packet's payload."""
    return isa.words_for(prog.input_len, prog.lanes)


def output_words(prog: CoreProgram) -> int:
    """Words of the result packet's payload."""
    return isa.words_for(prog.output_len, prog.lanes)


def input_payload(prog: CoreProgram, x_int: npt.NDArray[np.integer]) -> npt.NDArray[np.uint8]:
    """The input packet's payload, `(input_words, lanes)` bytes, for one int8 input of the
    tree's input shape."""
    vec = prog.pack_input(np.asarray(x_int)[None])[0]
    out = np.zeros(input_words(prog) * prog.lanes, dtype=np.int8)
    out[:len(vec)] = vec
    return out.view(np.uint8).reshape(-1, prog.lanes)


def output_values(prog: CoreProgram, payload: npt.NDArray[np.uint8]) -> npt.NDArray[np.int8]:
    """The tree's int8 outputs from its result packet's payload."""
    return np.ascontiguousarray(payload, dtype=np.uint8).reshape(-1).view(np.int8)[
        :prog.output_len].copy()
