"""The ISA module: encoding round trips, range checks, layout, and the rendered docs."""

from pathlib import Path

import numpy as np
import pytest

from nfcore import isa
from nfcore.errors import ISAError
from nfcore.isa import Activation, Opcode

DOCS = Path(__file__).resolve().parents[2] / "docs" / "isa.md"


def _random_instruction(rng: np.random.Generator) -> isa.Instruction:
    op = Opcode(int(rng.integers(0, len(Opcode))))
    fields = {}
    for f in isa.FORMATS[op]:
        hi = 1 if f.name == "act" else f.max_value
        fields[f.name] = int(rng.integers(f.min_value, hi + 1))
    return isa.make(op, **fields)


def test_encode_decode_round_trip() -> None:
    rng = np.random.default_rng(1)
    for _ in range(500):
        instr = _random_instruction(rng)
        word = instr.encode()
        assert 0 <= word < 1 << 64
        assert isa.decode(word) == instr


def test_fields_do_not_overlap_and_fit_64_bits() -> None:
    for op, spec in isa.FORMATS.items():
        used = (1 << isa.OPCODE_BITS) - 1
        for f in spec:
            mask = ((1 << f.width) - 1) << f.lsb
            assert not used & mask, f"{op.name}.{f.name} overlaps"
            used |= mask
        assert used < 1 << isa.INSTR_BITS


def test_counts_are_stored_minus_one() -> None:
    word = isa.matvec(rows=1, cols=1024, w_addr=0, x_addr=0, y_addr=0).encode()
    rows = next(f for f in isa.FORMATS[Opcode.MATVEC] if f.name == "rows")
    cols = next(f for f in isa.FORMATS[Opcode.MATVEC] if f.name == "cols")
    assert (word >> rows.lsb) & 0x3FF == 0
    assert (word >> cols.lsb) & 0x3FF == 1023


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rows": 0}, "MATVEC.rows = 0 is out of range 1..1024"),
        ({"cols": 1025}, "MATVEC.cols = 1025 is out of range 1..1024"),
        ({"w_addr": 1 << 14}, "MATVEC.w_addr = 16384 is out of range 0..16383"),
        ({"act": Activation.LUT}, "only NONE and RELU are implemented"),
    ],
)
def test_out_of_range_fields_are_refused(kwargs: dict, message: str) -> None:
    args = {"rows": 4, "cols": 4, "w_addr": 0, "x_addr": 0, "y_addr": 1} | kwargs
    with pytest.raises(ISAError, match=message):
        isa.matvec(**args)


def test_decode_refuses_planned_unknown_and_reserved() -> None:
    with pytest.raises(ISAError, match="planned opcode LOOP"):
        isa.decode(isa.PlannedOpcode.LOOP)
    with pytest.raises(ISAError, match="unknown opcode 0x3f"):
        isa.decode(0x3F)
    with pytest.raises(ISAError, match="reserved bits set"):
        isa.decode(isa.halt().encode() | 1 << 63)


def test_timing_contract_formulas() -> None:
    mv = isa.matvec(rows=10, cols=13, w_addr=0, x_addr=0, y_addr=2)
    assert isa.cycles(mv, 8) == isa.ISSUE_CYCLES + 10 * (1 + 2) + isa.MATVEC_DRAIN_CYCLES
    assert isa.cycles(mv, 16) == isa.ISSUE_CYCLES + 10 * (1 + 1) + isa.MATVEC_DRAIN_CYCLES
    add = isa.vadd(n=17, a_addr=0, b_addr=4, y_addr=8)
    assert isa.cycles(add, 8) == isa.ISSUE_CYCLES + 3 + isa.VADD_DRAIN_CYCLES
    assert isa.cycles(isa.halt(), 8) == isa.ISSUE_CYCLES


def test_pack_matvec_layout() -> None:
    w = np.arange(-6, 6, dtype=np.int64).reshape(2, 6)
    words = isa.pack_matvec(w, np.array([-2, 70000]), np.array([3, 65535]), np.array([0, 47]), 8)
    assert words.shape == (isa.matvec_region_words(2, 6, 8), 8) == (4, 8)
    assert isa.unpack_header(words[0]) == (-2, 3, 0)
    assert isa.unpack_header(words[2]) == (70000, 65535, 47)
    assert list(words[1].view(np.int8)) == [-6, -5, -4, -3, -2, -1, 0, 0]
    assert list(words[3].view(np.int8)) == [0, 1, 2, 3, 4, 5, 0, 0]


def test_pack_matvec_refuses_out_of_range() -> None:
    with pytest.raises(ISAError, match="shift outside 0..47"):
        isa.pack_matvec(np.zeros((1, 1)), np.zeros(1), np.ones(1), np.array([48]), 8)
    with pytest.raises(ISAError, match="weights outside -128..127"):
        isa.pack_matvec(np.full((1, 1), 128), np.zeros(1), np.ones(1), np.zeros(1), 8)


def test_docs_are_rendered_from_the_module() -> None:
    assert DOCS.read_text() == isa.render_markdown(), "run `nfcore isa-doc` to regenerate"
