"""Lowering: the core program computes exactly `forward_int`, in the contract's cycles."""

from __future__ import annotations

import numpy as np
import pytest
from compiler_helpers import Trained, run_golden

from nfcore import isa
from nfcore.compiler import compile_mlp, lower_mlp, quantize_mlp
from nfcore.config import CoreConfig, NFCoreConfig
from nfcore.errors import CompileError

CORE = CoreConfig()  # the default core: 8 lanes, 64 KiB weights, 4 KiB scratchpad


def _random_mlp(rng: np.random.Generator, widths: list[int]) -> list[tuple]:
    layers = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        w = rng.normal(scale=1 / np.sqrt(a), size=(b, a)).astype(np.float32)
        bias = rng.normal(scale=0.3, size=b).astype(np.float32)
        layers.append((w, bias, i < len(widths) - 2 or bool(rng.integers(2))))
    return layers


def _check_program(prog, core: CoreConfig) -> None:
    instrs = prog.instructions()
    assert instrs[-1].op is isa.Opcode.HALT
    assert [i.op for i in instrs[:-1]] == [isa.Opcode.MATVEC] * len(prog.layers)
    assert len(prog.weights) <= core.weight_words and prog.weight_addr == 0
    w_next = 0
    for instr, place in zip(instrs, prog.layers, strict=False):
        assert instr.w_addr == place.w_addr == w_next  # regions back to back
        w_next += place.w_words
        x = range(instr.x_addr, instr.x_addr + isa.words_for(instr.cols, core.lanes))
        y = range(instr.y_addr, instr.y_addr + isa.words_for(instr.rows, core.lanes))
        assert not set(x) & set(y) and max(x) < core.act_words and max(y) < core.act_words
    assert w_next == len(prog.weights)
    assert prog.input_addr == instrs[0].x_addr and prog.output_addr == instrs[-2].y_addr


@pytest.mark.parametrize("seed", range(12))
def test_random_mlps_match_forward_int_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    lanes = int(rng.choice([8, 16, 32]))
    core = CoreConfig(lanes=lanes, weight_sram_bytes=1 << 16, act_sram_bytes=4096,
                      imem_depth=16)
    depth = int(rng.integers(1, 5))
    widths = [int(w) for w in rng.integers(1, 70, size=depth + 1)]
    if seed == 0:
        widths = [1, 1]  # the smallest layer
    layers = _random_mlp(rng, widths)
    x = rng.normal(size=(40, widths[0]))
    q = quantize_mlp(layers, x, acc_bits=core.acc_bits)
    prog = lower_mlp(q, core)
    _check_program(prog, core)
    x_int = q.quantize_input(rng.normal(scale=1.5, size=(25, widths[0])))  # some saturate
    out, cycles = run_golden(prog, core, x_int)
    np.testing.assert_array_equal(out, q.forward_int(x_int))
    assert set(cycles) == {prog.cycles}
    assert prog.cycles == sum(p.cycles for p in prog.layers) + isa.ISSUE_CYCLES
    assert prog.shapes == [(b, a) for a, b in zip(widths[:-1], widths[1:], strict=True)]


def test_trained_trees_run_bit_exact_on_the_golden_model(trained: Trained) -> None:
    cfg = NFCoreConfig()
    d = trained.data
    q, prog = compile_mlp(trained.tree.layers(), d.x_train, cfg)
    _check_program(prog, cfg.core)
    x_int = q.quantize_input(d.x_test)
    out, cycles = run_golden(prog, cfg.core, x_int)
    np.testing.assert_array_equal(out, q.forward_int(x_int))
    by_contract = sum(isa.cycles(i, cfg.core.lanes) for i in prog.instructions())
    assert cycles == [by_contract] * len(d.x_test)
    assert prog.input_len == d.n_features and prog.output_len == d.n_classes


def test_digits_program_pinned() -> None:
    """A regression pin: a 64-32-10 MLP on the default core (change only deliberately)."""
    rng = np.random.default_rng(0)
    (w0, b0, _), (w1, b1, _) = _random_mlp(rng, [64, 32, 10])
    q = quantize_mlp([(w0, b0, True), (w1, b1, False)], rng.normal(size=(10, 64)))
    prog = lower_mlp(q, CORE)
    assert [str(i) for i in prog.instructions()] == [
        "MATVEC act=RELU rows=32 cols=64 w_addr=0 x_addr=0 y_addr=8",
        "MATVEC act=NONE rows=10 cols=32 w_addr=288 x_addr=8 y_addr=0",
        "HALT",
    ]
    # 2 + 32 * (1 + 8) + 4, 2 + 10 * (1 + 4) + 4, 2
    assert prog.cycles == 294 + 56 + 2
    assert prog.weights.shape == (338, 8)


def _q(widths: list[int]):
    rng = np.random.default_rng(1)
    return quantize_mlp(_random_mlp(rng, widths), rng.normal(size=(4, widths[0])))


def test_weights_larger_than_the_sram_are_refused() -> None:
    core = CoreConfig(weight_sram_bytes=4096)
    with pytest.raises(CompileError, match=r"weights need 5328 bytes .*layer 0 64x64: 4608 B.*"
                                           r"core\.weight_sram_bytes = 4096"):
        lower_mlp(_q([64, 64, 10]), core)


def test_vectors_larger_than_the_scratchpad_are_refused() -> None:
    core = CoreConfig(weight_sram_bytes=1 << 17, act_sram_bytes=256)
    with pytest.raises(CompileError, match=r"activation buffers need 40 words .*"
                                           r"core\.act_sram_bytes = 256"):
        lower_mlp(_q([200, 120, 3]), core)


def test_rows_or_cols_beyond_1024_are_refused() -> None:
    big = NFCoreConfig(core=CoreConfig(weight_sram_bytes=1 << 17, act_sram_bytes=1 << 13))
    lower_mlp(_q([1024, 2]), big.core)
    with pytest.raises(CompileError, match="layer 0 is 2x1025; one MATVEC takes at most 1024"):
        lower_mlp(_q([1025, 2]), big.core)


def test_programs_longer_than_imem_are_refused() -> None:
    with pytest.raises(CompileError, match=r"5 instructions .*core\.imem_depth = 4"):
        lower_mlp(_q([4, 4, 4, 4, 4]), CoreConfig(imem_depth=4))
    lower_mlp(_q([4, 4, 4, 4]), CoreConfig(imem_depth=4))


def test_accumulator_width_must_match_the_core() -> None:
    with pytest.raises(CompileError, match="quantize with acc_bits=24"):
        lower_mlp(_q([4, 4]), CoreConfig(acc_bits=24))
