"""The ISA module: encoding round trips, range checks, layout, and the rendered docs."""

from pathlib import Path

import numpy as np
import pytest

from nfcore.arch import isa
from nfcore.arch.isa import Activation, Opcode
from nfcore.arch.isa_doc import render_isa_page
from nfcore.errors import ISAError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "isa.md"


def _random_instruction(rng: np.random.Generator) -> isa.Instruction:
    op = list(Opcode)[int(rng.integers(0, len(Opcode)))]
    fields = {}
    for f in isa.FORMATS[op]:
        if f.name == "act":
            fields[f.name] = int(rng.choice(isa.ACTIVATIONS[op]))
        else:
            hi = isa.VMUL_MAX_SHIFT if (op, f.name) == (Opcode.VMUL, "shift") else f.max_value
            fields[f.name] = int(rng.integers(f.min_value, hi + 1))
    if op is Opcode.LOOP:
        for name in ("x_mask", "y_mask"):
            fields[name] &= (1 << fields["body"]) - 1
    return isa.make(op, **fields)


def test_encode_decode_round_trip() -> None:
    rng = np.random.default_rng(1)
    for _ in range(2000):
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
        ({"act": 3}, "MATVEC allows NONE, RELU, LUT"),
    ],
)
def test_out_of_range_fields_are_refused(kwargs: dict, message: str) -> None:
    args = {"rows": 4, "cols": 4, "w_addr": 0, "x_addr": 0, "y_addr": 1} | kwargs
    with pytest.raises(ISAError, match=message):
        isa.matvec(**args)


def test_new_instruction_fields_are_checked() -> None:
    with pytest.raises(ISAError, match="VADD allows NONE, RELU"):
        isa.vadd(n=4, a_addr=0, b_addr=1, y_addr=2, act=Activation.LUT)
    with pytest.raises(ISAError, match="VMUL allows NONE, RELU"):
        isa.vmul(n=4, a_addr=0, b_addr=1, y_addr=2, act=Activation.LUT)
    with pytest.raises(ISAError, match="VMUL.shift = 16 is out of range 0..15"):
        isa.vmul(n=4, a_addr=0, b_addr=1, y_addr=2, shift=16)
    with pytest.raises(ISAError, match="LOOP.body = 9 is out of range 1..8"):
        isa.loop(body=9, count=2)
    with pytest.raises(ISAError, match="LOOP.x_stride = 512 is out of range -512..511"):
        isa.loop(body=1, count=2, x_stride=512)
    with pytest.raises(ISAError, match="LOOP.y_mask = 0x4 has bits at or above body = 2"):
        isa.loop(body=2, count=2, y_mask=0b100)
    with pytest.raises(ISAError, match="SEND.n = 1025 is out of range 1..1024"):
        isa.send(n=1025, addr=0, dest_x=0, dest_y=0)
    with pytest.raises(ISAError, match="RECV.tag = 256 is out of range 0..255"):
        isa.recv(n=1, addr=0, tag=256)


def test_signed_strides_are_twos_complement() -> None:
    word = isa.loop(body=1, count=1, x_stride=-1, y_stride=-512).encode()
    x = next(f for f in isa.FORMATS[Opcode.LOOP] if f.name == "x_stride")
    y = next(f for f in isa.FORMATS[Opcode.LOOP] if f.name == "y_stride")
    assert (word >> x.lsb) & 0x3FF == 0x3FF
    assert (word >> y.lsb) & 0x3FF == 0x200
    assert isa.decode(word).x_stride == -1 and isa.decode(word).y_stride == -512


def test_decode_refuses_illegal_words() -> None:
    with pytest.raises(ISAError, match="unknown opcode 0x05"):
        isa.decode(0x05)
    loop_mask = isa.loop(body=1, count=1).encode() | 1 << 40  # x_mask bit 1 with body 1
    with pytest.raises(ISAError, match="x_mask = 0x2 has bits at or above body = 1"):
        isa.decode(loop_mask)
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
    lut = isa.matvec(rows=10, cols=13, w_addr=0, x_addr=0, y_addr=2, act=Activation.LUT)
    assert isa.cycles(lut, 8) == isa.cycles(mv, 8) + isa.LUT_CYCLES
    mul = isa.vmul(n=17, a_addr=0, b_addr=4, y_addr=8, shift=3)
    assert isa.cycles(mul, 16) == isa.ISSUE_CYCLES + 2 + isa.VMUL_DRAIN_CYCLES
    assert isa.cycles(isa.setlut(w_addr=0), 8) == isa.ISSUE_CYCLES + 32 + isa.SETLUT_DRAIN_CYCLES
    assert isa.cycles(isa.setlut(w_addr=0), 32) == isa.ISSUE_CYCLES + 8 + isa.SETLUT_DRAIN_CYCLES
    assert isa.cycles(isa.loop(body=3, count=100), 8) == isa.ISSUE_CYCLES
    assert isa.cycles(isa.send(n=5, addr=0, dest_x=1, dest_y=0), 8) == isa.ISSUE_CYCLES + 1 + 5
    assert isa.cycles(isa.recv(n=7, addr=0), 8) == isa.ISSUE_CYCLES + 1 + 7


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
    assert DOCS.read_text() == render_isa_page(), "run `nfcore isa-doc` to regenerate"


def test_send_to_host_sets_its_bit_and_leaves_the_others() -> None:
    """SEND's `to_host` (bit 50) round-trips; an ordinary SEND leaves it 0, so every
    encoding from before the field is unchanged."""
    word = isa.send_to_host(n=3, addr=5, tag=7).encode()
    assert word >> 50 & 1 == 1
    assert isa.decode(word) == isa.send_to_host(n=3, addr=5, tag=7)
    plain = isa.send(n=3, addr=5, dest_x=1, dest_y=2, tag=7)
    assert plain.encode() >> 50 == 0 and plain.to_host == 0
    assert isa.reserved_lsb(isa.Opcode.SEND) == 51
