"""Lowering: the core program computes exactly `forward_int`, in the contract's cycles."""

from __future__ import annotations

import numpy as np
import pytest
from compiler_helpers import Trained, random_tree, run_golden, tree_inputs

from forest.export import ConvLayer, ElmanCell, TreeExport
from nfcore.arch import isa
from nfcore.compiler import compile_mlp, lower_mlp, lower_tree, quantize_mlp, quantize_tree
from nfcore.config import CoreConfig, NFCoreConfig
from nfcore.errors import CompileError
from nfcore.golden.core import CoreState

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


def test_dense_layers_beyond_1024_compile_in_blocks() -> None:
    big = NFCoreConfig(core=CoreConfig(weight_sram_bytes=1 << 17, act_sram_bytes=1 << 13))
    program = lower_mlp(_q([1025, 2]), big.core)
    assert [(i.rows, i.cols) for i in program.instructions()
            if i.op is isa.Opcode.MATVEC] == [(2, 1024), (2, 1)]


def test_programs_longer_than_imem_are_refused() -> None:
    with pytest.raises(CompileError, match=r"5 instructions .*core\.imem_depth = 4"):
        lower_mlp(_q([4, 4, 4, 4, 4]), CoreConfig(imem_depth=4))
    lower_mlp(_q([4, 4, 4, 4]), CoreConfig(imem_depth=4))


def test_accumulator_width_must_match_the_core() -> None:
    with pytest.raises(CompileError, match="quantize with acc_bits=24"):
        lower_mlp(_q([4, 4]), CoreConfig(acc_bits=24))


# --- trees of every kind ----------------------------------------------------------------------


def _run_tree(prog, core: CoreConfig, x_int: np.ndarray) -> tuple[np.ndarray, list[int]]:
    state = CoreState(core)
    state.load_weights(prog.weights)
    state.load_program(prog.program)
    outs, cycles = [], []
    for vec in prog.pack_input(x_int):
        state.write_vector(prog.input_addr, vec)
        cycles.append(state.run().cycles)
        outs.append(state.read_vector(prog.output_addr, prog.output_len))
    return np.stack(outs), cycles


@pytest.mark.parametrize("kind", ["mlp", "cnn", "rnn"])
@pytest.mark.parametrize("seed", range(6))
def test_random_trees_match_forward_int_bit_for_bit(kind: str, seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    lanes = int(rng.choice([8, 16, 32]))
    core = CoreConfig(lanes=lanes, weight_sram_bytes=1 << 16, act_sram_bytes=1 << 13)
    tree = random_tree(rng, kind)
    q = quantize_tree(tree, tree_inputs(rng, tree, 50), acc_bits=core.acc_bits)
    prog = lower_tree(q, core)
    x_int = q.quantize_input(tree_inputs(rng, tree, 12) * 1.5)  # some saturate
    out, cycles = _run_tree(prog, core, x_int)
    np.testing.assert_array_equal(out, q.forward_int(x_int))
    assert set(cycles) == {prog.cycles}
    assert len(prog.weights) <= core.weight_words and len(prog.program) <= core.imem_depth


def _pinned_trees() -> tuple[TreeExport, TreeExport]:
    rng = np.random.default_rng(0)
    f = np.float32
    cnn = TreeExport(kind="cnn", input_shape=(32, 3), convs=[
        ConvLayer(rng.normal(size=(10, 3, 3)).astype(f), np.zeros(10, f), 2)],
        head=[(rng.normal(size=(4, 150)).astype(f), np.zeros(4, f), False)])
    cell = ElmanCell(rng.normal(size=(20, 26)).astype(f), np.zeros(20, f), 6, 20)
    rnn = TreeExport(kind="rnn", input_shape=(16, 6), cell=cell,
                     head=[(rng.normal(size=(3, 20)).astype(f), np.zeros(3, f), False)])
    return cnn, rnn


def test_cnn_and_rnn_programs_pinned() -> None:
    """Regression pins on the default core (change only deliberately)."""
    cnn, rnn = _pinned_trees()
    rng = np.random.default_rng(1)
    p = lower_tree(quantize_tree(cnn, rng.normal(size=(20, 32, 3))), CORE)
    # 3 channels padded to one word: windows of 3 words, x stride 2 positions; 10 output
    # channels take 2 words per position, so the head reads 15 * 16 columns (permuted).
    assert [str(i) for i in p.instructions()] == [
        "LOOP body=1 count=15 x_stride=2 y_stride=2 x_mask=0b00000001 y_mask=0b00000001",
        "MATVEC act=RELU rows=10 cols=24 w_addr=0 x_addr=0 y_addr=32",
        "MATVEC act=NONE rows=4 cols=240 w_addr=40 x_addr=32 y_addr=0",
        "HALT",
    ]
    # 2 + 15 * (2 + 10 * 4 + 4) + 2 + 4 * 31 + 4 + 2
    assert p.cycles == 2 + 15 * 46 + 130 + 2
    p = lower_tree(quantize_tree(rnn, rng.normal(size=(20, 16, 6))), CORE)
    # slots of 1 + 3 words: [x_t; h_{t-1}]; the cell writes h_t into slot t + 1
    assert [str(i) for i in p.instructions()] == [
        "SETLUT w_addr=0",
        "LOOP body=1 count=16 x_stride=4 y_stride=4 x_mask=0b00000001 y_mask=0b00000001",
        "MATVEC act=LUT rows=20 cols=28 w_addr=32 x_addr=0 y_addr=5",
        "MATVEC act=NONE rows=3 cols=20 w_addr=132 x_addr=65 y_addr=68",
        "HALT",
    ]
    assert p.cycles == (2 + 32 + 2) + 2 + 16 * (2 + 20 * 5 + 4 + 1) + (2 + 3 * 4 + 4) + 2
    assert p.input_len == 16 * 4 * 8


def test_tree_errors_name_the_tree_the_resource_and_the_sizes() -> None:
    cnn, rnn = _pinned_trees()
    rng = np.random.default_rng(1)
    q = quantize_tree(rnn, rng.normal(size=(20, 16, 6)))
    with pytest.raises(CompileError, match=r"tree 17: needs 5 instructions \(1 SETLUT, 1 LOOP, "
                                           r"2 MATVEC, 1 HALT\) but core\.imem_depth = 4"):
        lower_tree(q, CoreConfig(imem_depth=4), tree_id=17)
    with pytest.raises(CompileError, match=r"tree 3: weights need 1152 bytes .*LUT: 256 B, "
                                           r"Elman cell 20x28: 800 B, head layer 0 3x20: 96 B"
                                           r"\) but core\.weight_sram_bytes = 1024"):
        lower_tree(q, CoreConfig(weight_sram_bytes=1024), tree_id=3)
    with pytest.raises(CompileError, match=r"tree 5: activation buffers need 69 words .*17 "
                                           r"sequence slots of 4 words.*core\.act_sram_bytes = "
                                           r"256"):
        lower_tree(q, CoreConfig(act_sram_bytes=256), tree_id=5)
    long = TreeExport(kind="cnn", input_shape=(400, 3), convs=cnn.convs,
                      head=[(np.ones((2, 1990), np.float32), np.zeros(2, np.float32), False)])
    q = quantize_tree(long, rng.normal(size=(5, 400, 3)))
    with pytest.raises(CompileError, match=r"tree 0: head layer 0 is 2x3184; a LOOPed MATVEC "
                                           r".* padded first layer takes at most 1024"):
        lower_tree(q, CoreConfig(act_sram_bytes=1 << 13))
