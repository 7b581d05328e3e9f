"""Compile a typical tree of each kind (random float weights, seed 0) for the default core and
run it on the golden model: instructions, weight bytes, contract cycles, int8-vs-float
agreement; then a tree too large for one core, split across cores.

The trees are not trained (the compiler does not depend on training code): agreement is
measured on random inputs against `forest.export.reference_forward` of the same float tree.
Run: `python benchmarks/bench_compile_trees.py`.
"""

from __future__ import annotations

import sys

import numpy as np
import options

from forest.export import ConvLayer, ElmanCell, TreeExport, reference_forward
from nfcore.compiler import compile_tree
from nfcore.compiler.golden_run import run_tree
from nfcore.config import MeshConfig, NFCoreConfig


def _dense(rng: np.random.Generator, widths: list[int]) -> list[tuple]:
    return [(rng.normal(scale=1 / np.sqrt(a), size=(b, a)).astype(np.float32),
             rng.normal(scale=0.1, size=b).astype(np.float32), i < len(widths) - 2)
            for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True))]


def typical_trees(rng: np.random.Generator) -> dict[str, TreeExport]:
    f = np.float32
    conv1 = ConvLayer(rng.normal(scale=1 / np.sqrt(20), size=(8, 4, 5)).astype(f),
                      rng.normal(scale=0.1, size=8).astype(f), 2)
    conv2 = ConvLayer(rng.normal(scale=1 / np.sqrt(24), size=(16, 8, 3)).astype(f),
                      rng.normal(scale=0.1, size=16).astype(f), 2)
    cell = ElmanCell(rng.normal(scale=1 / np.sqrt(40), size=(32, 40)).astype(f),
                     rng.normal(scale=0.1, size=32).astype(f), 8, 32)
    return {
        "mlp 64-32-10": TreeExport(kind="mlp", input_shape=(64,),
                                   head=_dense(rng, [64, 32, 10])),
        "cnn 64x4 c8k5s2 c16k3s2 224-32-10": TreeExport(
            kind="cnn", input_shape=(64, 4), convs=[conv1, conv2],
            head=_dense(rng, [14 * 16, 32, 10])),
        "rnn 20x8 h32 32-10": TreeExport(kind="rnn", input_shape=(20, 8), cell=cell,
                                         head=_dense(rng, [32, 10])),
        "mlp 128-256-128-10 (split)": TreeExport(kind="mlp", input_shape=(128,),
                                                 head=_dense(rng, [128, 256, 128, 10])),
    }


def main(argv: list[str]) -> None:
    options.parser(__doc__).parse_args(argv)  # already small: --smoke runs the same
    cfg = NFCoreConfig(mesh=MeshConfig(rows=2, cols=2))
    rng = np.random.default_rng(0)
    print(f"core: {cfg.core.lanes} lanes, {cfg.core.weight_sram_bytes} B weights, "
          f"{cfg.core.act_sram_bytes} B scratchpad, imem {cfg.core.imem_depth}")
    print(f"{'tree':<36} {'cores':>5} {'instrs':>7} {'weight B':>9} {'cycles':>7} "
          f"{'argmax agree':>12} {'rel logit err':>13}")
    for name, tree in typical_trees(rng).items():
        x = rng.normal(size=(800, *tree.input_shape))
        q, tp = compile_tree(tree, x[:300], cfg)
        x_int = q.quantize_input(x[300:320])
        out, cycles = run_tree(tp, cfg.core, x_int)
        if not np.array_equal(out, q.forward_int(x_int)):
            raise SystemExit(f"{name}: golden model differs from forward_int")
        f = reference_forward(tree, x[300:]).astype(np.float64)
        g = q.forward(x[300:])
        agree = float(np.mean(f.argmax(1) == g.argmax(1)))
        rel = float(np.abs(f - g).mean() / np.abs(f).mean())
        instrs = sum(len(c.program) for c in tp.cores)
        wbytes = sum(int(c.weights.size) for c in tp.cores)
        print(f"{name:<36} {len(tp.cores):>5} {instrs:>7} {wbytes:>9} {max(cycles):>7} "
              f"{agree:>12.3f} {rel:>13.4f}")


if __name__ == "__main__":
    main(sys.argv[1:])
