"""Compiled cnn and rnn trees (LOOP with strides, SETLUT, MATVEC act=LUT) on the RTL: the
outputs equal the compiler's integer reference and the cycles equal the golden model's."""

from __future__ import annotations

import numpy as np
from test_core_rtl import BUILD, CONFIGS

from forest.export import ConvLayer, ElmanCell, TreeExport
from nfcore.compiler import lower_tree, quantize_tree
from nfcore.config import NFCoreConfig
from nfcore.eda.rtl_runner import run_rtl
from nfcore.eda.toolchain import config_tag
from nfcore.golden.core import CoreState


def _trees(rng: np.random.Generator) -> list[TreeExport]:
    f = np.float32
    cnn = TreeExport(kind="cnn", input_shape=(12, 3), convs=[ConvLayer(
        rng.normal(scale=0.5, size=(5, 3, 3)).astype(f), rng.normal(size=5).astype(f) * .1, 1)],
        head=[(rng.normal(scale=0.2, size=(6, 50)).astype(f), np.zeros(6, f), False)])
    cell = ElmanCell(rng.normal(scale=0.4, size=(10, 13)).astype(f), np.zeros(10, f), 3, 10)
    rnn = TreeExport(kind="rnn", input_shape=(5, 3), cell=cell,
                     head=[(rng.normal(scale=0.3, size=(4, 10)).astype(f), np.zeros(4, f),
                            False)])
    return [cnn, rnn]


def test_compiled_cnn_and_rnn_run_on_the_rtl() -> None:
    cfg = NFCoreConfig(core=CONFIGS["lanes8"])
    rng = np.random.default_rng(11)
    for tree in _trees(rng):
        q = quantize_tree(tree, rng.normal(size=(40, *tree.input_shape)))
        prog = lower_tree(q, cfg.core)
        x_int = q.quantize_input(rng.normal(size=(3, *tree.input_shape)))
        inputs = list(prog.pack_input(x_int))
        results = run_rtl(cfg, prog.weights, prog.program, inputs, prog.input_addr,
                          prog.output_addr, prog.output_len,
                          build_dir=BUILD / f"core_{config_tag(cfg)}")
        golden = CoreState(cfg.core)
        golden.load_weights(prog.weights)
        golden.load_program(prog.program)
        golden.write_vector(prog.input_addr, inputs[0])
        assert golden.run().cycles == prog.cycles
        np.testing.assert_array_equal(np.stack([o for o, _ in results]), q.forward_int(x_int))
        assert [c for _, c in results] == [prog.cycles] * len(inputs), tree.kind
