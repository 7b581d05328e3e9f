"""The golden model: hand-checked results, wrap-around, cycle counts and refusals."""

import numpy as np
import pytest

from nfcore.arch import isa
from nfcore.arch.isa import Activation
from nfcore.config import CoreConfig
from nfcore.errors import ExecutionError
from nfcore.golden.core import CoreState, requantize

CORE = CoreConfig(lanes=8, weight_sram_bytes=1024, act_sram_bytes=256, imem_depth=16)


def _core(program: list[isa.Instruction], core: CoreConfig = CORE) -> CoreState:
    state = CoreState(core)
    state.load_program([i.encode() for i in program])
    return state


def test_matvec_by_hand() -> None:
    # y0 = (10 + 1*1 + 2*2 + 3*3) * 3 = 72, shifted by 2 with rounding: (72 + 2) >> 2 = 18
    # y1 = (-50 + 0) * 1 = -50, RELU -> 0
    w = np.array([[1, 2, 3], [0, 0, 0]])
    words = isa.pack_matvec(w, np.array([10, -50]), np.array([3, 1]), np.array([2, 0]), 8)
    mv = isa.matvec(rows=2, cols=3, w_addr=0, x_addr=0, y_addr=1, act=Activation.RELU)
    state = _core([mv, isa.halt()])
    state.load_weights(words)
    state.write_vector(0, np.array([1, 2, 3]))
    result = state.run()
    assert list(state.read_vector(1, 2)) == [18, 0]
    assert result.cycles == isa.cycles(mv, 8) + isa.cycles(isa.halt(), 8)
    assert result.op_counts == {"MATVEC": 1, "HALT": 1}


def test_requantize_rounds_half_up_and_saturates() -> None:
    acc = np.array([5, -5, 6, -6, 1000, -1000, 7])
    mult = np.ones_like(acc)
    shift = np.array([1, 1, 2, 2, 0, 0, 0])
    assert list(requantize(acc, mult, shift, Activation.NONE)) == [3, -2, 2, -1, 127, -128, 7]


def test_accumulator_wraps_at_acc_bits() -> None:
    core = CoreConfig(lanes=8, weight_sram_bytes=1024, act_sram_bytes=256, acc_bits=16)
    w = np.full((1, 3), 127)
    words = isa.pack_matvec(w, np.array([32767]), np.array([1]), np.array([0]), 8)
    state = _core([isa.matvec(rows=1, cols=3, w_addr=0, x_addr=0, y_addr=1), isa.halt()], core)
    state.load_weights(words)
    state.write_vector(0, np.array([1, 0, 0]))
    state.run()
    # 32767 + 127 wraps to -32642 in 16 bits, which saturates to -128.
    assert list(state.read_vector(1, 1)) == [-128]


def test_vadd_in_place_and_saturating() -> None:
    add = isa.vadd(n=3, a_addr=0, b_addr=1, y_addr=0, act=Activation.NONE)
    state = _core([add, isa.halt()])
    state.write_vector(0, np.array([100, -100, 5]))
    state.write_vector(1, np.array([100, -100, -9]))
    state.run()
    assert list(state.read_vector(0, 3)) == [127, -128, -4]


def test_refusals() -> None:
    with pytest.raises(ExecutionError, match="without HALT"):
        _core([isa.vadd(n=1, a_addr=0, b_addr=1, y_addr=2)]).run()
    overlap = isa.matvec(rows=9, cols=8, w_addr=0, x_addr=0, y_addr=0)
    state = _core([overlap, isa.halt()])
    with pytest.raises(ExecutionError, match="overlap"):
        state.run()
    with pytest.raises(ExecutionError, match="weight region words 0..1023 out of range"):
        big = isa.matvec(rows=512, cols=8, w_addr=0, x_addr=0, y_addr=4)
        _core([big, isa.halt()]).run()
    with pytest.raises(ExecutionError, match="exceeds core.imem_depth = 16"):
        _core([isa.halt()] * 17)


def test_vmul_rounds_shifts_and_saturates() -> None:
    mul = isa.vmul(n=5, a_addr=0, b_addr=1, y_addr=2, shift=2)
    state = _core([mul, isa.vmul(n=5, a_addr=0, b_addr=1, y_addr=3, shift=0,
                                 act=Activation.RELU), isa.halt()])
    state.write_vector(0, np.array([3, -3, 127, -128, 5]))
    state.write_vector(1, np.array([1, 1, 127, 127, -2]))
    result = state.run()
    # (3 + 2) >> 2 = 1, (-3 + 2) >> 2 = -1, 16129 -> 127, -16256 -> -128, (-10 + 2) >> 2 = -2
    assert list(state.read_vector(2, 5)) == [1, -1, 127, -128, -2]
    assert list(state.read_vector(3, 5)) == [3, 0, 127, 0, 0]
    assert result.cycles == 2 * (isa.ISSUE_CYCLES + 1 + isa.VMUL_DRAIN_CYCLES) + isa.ISSUE_CYCLES


def test_setlut_and_lut_activation() -> None:
    table = (np.arange(256) - 128)[::-1].astype(np.int8)  # lut[i] = 127 - i: y = -q - 1
    words = isa.pack_matvec(np.array([[1], [2]]), np.array([0, 0]), np.array([1, 1]),
                            np.array([0, 0]), 8)
    mv = isa.matvec(rows=2, cols=1, w_addr=0, x_addr=0, y_addr=1, act=Activation.LUT)
    state = _core([isa.setlut(w_addr=8), mv, isa.halt()])
    state.load_weights(words)
    state.load_weights(table.view(np.uint8).reshape(-1, 8), addr=8)
    state.write_vector(0, np.array([100]))
    result = state.run()
    # q = 100 and 200 -> clamp 127; LUT[q + 128] = -q - 1
    assert list(state.read_vector(1, 2)) == [-101, -128]
    assert result.cycles == (isa.cycles(isa.setlut(w_addr=8), 8) + isa.cycles(mv, 8)
                             + isa.ISSUE_CYCLES)
    assert isa.cycles(mv, 8) == isa.ISSUE_CYCLES + 2 * 2 + isa.MATVEC_DRAIN_CYCLES + 1


def test_loop_strides_a_convolution() -> None:
    # y[t] = sum_k w[k] * x[t + k] over a 1-channel signal, one word per sample:
    # each output position reads 2 words from x_addr = t (x stride 1), writes word 8 + t.
    lanes = 8
    x = np.zeros((6, lanes), dtype=np.int64)
    x[:, 0] = [1, 2, 3, 4, 5, 6]
    w = np.zeros((1, 2 * lanes), dtype=np.int64)
    w[0, 0], w[0, lanes] = 10, 1  # taps on sample t and t + 1
    words = isa.pack_matvec(w, np.array([0]), np.array([1]), np.array([0]), lanes)
    body = isa.matvec(rows=1, cols=2 * lanes, w_addr=0, x_addr=0, y_addr=8)
    state = _core([isa.loop(body=1, count=5, x_stride=1, y_stride=1, x_mask=1, y_mask=1),
                   body, isa.halt()])
    state.load_weights(words)
    state.act[:6] = x.astype(np.uint8)
    result = state.run()
    got = [int(state.read_vector(8 + t, 1)[0]) for t in range(5)]
    assert got == [10 * x[t, 0] + x[t + 1, 0] for t in range(5)]
    assert result.op_counts == {"LOOP": 1, "MATVEC": 5, "HALT": 1}
    assert result.cycles == isa.ISSUE_CYCLES + 5 * isa.cycles(body, lanes) + isa.ISSUE_CYCLES
    assert [i.x_addr for i in result.trace[1:6]] == [0, 1, 2, 3, 4]


def test_loop_masks_pick_body_instructions_and_negative_strides() -> None:
    # Body: VADD (x stride -1 on a_addr), VADD (y stride +2 on y_addr); 3 iterations.
    add0 = isa.vadd(n=1, a_addr=5, b_addr=9, y_addr=10)
    add1 = isa.vadd(n=1, a_addr=9, b_addr=9, y_addr=12)
    state = _core([isa.loop(body=2, count=3, x_stride=-1, y_stride=2, x_mask=0b01,
                            y_mask=0b10), add0, add1, isa.halt()])
    result = state.run()
    body = result.trace[1:7]
    assert [(i.a_addr, i.y_addr) for i in body] == [(5, 10), (9, 12), (4, 10), (9, 14),
                                                    (3, 10), (9, 16)]


def test_loop_refusals() -> None:
    nested = [isa.loop(body=2, count=2), isa.loop(body=1, count=2), isa.halt(), isa.halt()]
    with pytest.raises(ExecutionError, match="loops do not nest"):
        _core(nested).run()
    off = [isa.loop(body=1, count=3, x_stride=-1, x_mask=1),
           isa.vadd(n=1, a_addr=1, b_addr=2, y_addr=3), isa.halt()]
    with pytest.raises(ExecutionError, match="iteration 2: VADD.a_addr = -1 is outside"):
        _core(off).run()
    with pytest.raises(ExecutionError, match="SEND at pc 0 needs a network"):
        _core([isa.send(n=1, addr=0, dest_x=0, dest_y=0), isa.halt()]).run()


def test_halt_inside_a_loop_body_ends_the_program() -> None:
    add = isa.vadd(n=1, a_addr=0, b_addr=0, y_addr=0)
    result = _core([isa.loop(body=2, count=4), add, isa.halt(), add]).run()
    assert result.op_counts == {"LOOP": 1, "VADD": 1, "HALT": 1}
