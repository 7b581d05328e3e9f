"""A tree's programs as the chip serves them: input and result as packets through the host port.

`serve_chain` wraps a lowered tree (`nfcore.compiler.lower.split.TreeProgram`, on one core or
split over a chain of cores) so that its first core's program begins with a RECV of the input
packet (the packed input vector, whole words at `plan.input_addr`) and its last core's ends
with a SEND of the output words to the host (`isa.send_to_host`), then HALT. The host
dispatches a request as `nfcore.sim.net.dispatch` states: RUN over each core's `cmd` bus and
the input packet through the host port.
"""

from __future__ import annotations

import dataclasses

from nfcore.arch import isa
from nfcore.compiler.lower.program import check_imem
from nfcore.compiler.lower.split import TreeProgram
from nfcore.config import CoreConfig


def serve_chain(tp: TreeProgram, core: CoreConfig, tag: int) -> TreeProgram:
    """`tp` with a RECV of its input (tag `tag`) first on its first core and a SEND of its
    output to the host (tag `tag`) before HALT on its last. Raises `CompileError` if a
    program no longer fits `core.imem_depth`."""
    n_in = isa.words_for(tp.plan.input_len, tp.lanes)
    n_out = isa.words_for(tp.plan.output_len, tp.lanes)
    codes = []
    for k, code in enumerate(tp.cores):
        body = code.instructions()
        assert body[-1].op is isa.Opcode.HALT, "a lowered program ends in HALT"
        program = body[:-1]
        if k == 0:
            program = [isa.recv(n=n_in, addr=tp.plan.input_addr, tag=tag), *program]
        if k == len(tp.cores) - 1:
            program.append(isa.send_to_host(n=n_out, addr=tp.plan.output_addr, tag=tag))
        program.append(isa.halt())
        check_imem(program, core, tp.tree_id, f" core {code.coord} (with its host I/O)")
        codes.append(dataclasses.replace(code, program=[i.encode() for i in program]))
    return dataclasses.replace(tp, cores=tuple(codes))
