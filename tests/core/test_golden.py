"""The golden model: hand-checked results, wrap-around, cycle counts and refusals."""

import numpy as np
import pytest

from nfcore import isa
from nfcore.config import CoreConfig
from nfcore.errors import ExecutionError
from nfcore.golden import CoreState, requantize
from nfcore.isa import Activation

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
