"""`run_rtl`, the RTL path of `make sim`, against the golden model on a small program."""

from __future__ import annotations

import numpy as np
from test_core_rtl import BUILD, CONFIGS

from nfcore.arch import isa
from nfcore.arch.isa import Activation
from nfcore.config import NFCoreConfig
from nfcore.eda.rtl_runner import run_rtl
from nfcore.eda.toolchain import config_tag
from nfcore.golden.core import CoreState


def test_run_rtl_matches_golden() -> None:
    cfg = NFCoreConfig(core=CONFIGS["lanes8"])
    lanes = cfg.core.lanes
    rng = np.random.default_rng(7)
    dims = [13, 21, 5]  # none a multiple of lanes
    blocks, program, w_addr = [], [], 0
    x_addr, h_addr, y_addr = 0, 8, 16
    for i, (cols, rows) in enumerate(zip(dims, dims[1:], strict=False)):
        blocks.append(isa.pack_matvec(rng.integers(-128, 128, (rows, cols)),
                                      rng.integers(-500, 500, rows), rng.integers(1, 1 << 16, rows),
                                      rng.integers(14, 20, rows), lanes))
        src, dst = (x_addr, h_addr) if i == 0 else (h_addr, y_addr)
        program.append(isa.matvec(rows=rows, cols=cols, w_addr=w_addr, x_addr=src, y_addr=dst,
                                  act=Activation.RELU if i == 0 else Activation.NONE))
        w_addr += len(blocks[-1])
    program.append(isa.vadd(n=dims[-1], a_addr=y_addr, b_addr=y_addr, y_addr=y_addr))
    program.append(isa.halt())
    weights = np.concatenate(blocks)
    words = [i.encode() for i in program]
    inputs = [rng.integers(-128, 128, dims[0]).astype(np.int8) for _ in range(4)]

    results = run_rtl(cfg, weights, words, inputs, x_addr, y_addr, dims[-1],
                      build_dir=BUILD / f"core_{config_tag(cfg)}")

    assert len(results) == len(inputs)
    for x, (out, cycles) in zip(inputs, results, strict=True):
        golden = CoreState(cfg.core)
        golden.load_weights(weights)
        golden.load_program(words)
        golden.write_vector(x_addr, x)
        expected = golden.run()
        np.testing.assert_array_equal(out, golden.read_vector(y_addr, dims[-1]))
        assert cycles == expected.cycles
