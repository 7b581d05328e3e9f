"""Event counts per instruction and energy by component: pinned, hand-computed numbers.

A change in these numbers is a change in the model: update them deliberately, with the
reason in the commit message.
"""

from __future__ import annotations

import dataclasses

import pytest

from nfcore.arch import isa
from nfcore.config import NFCoreConfig, TechnologyConfig
from nfcore.sim.cost.energy import EnergyTable
from nfcore.sim.cost.events import (
    COMPONENTS,
    Events,
    energy_by_component,
    events_of,
    host_io_events,
    program_events,
)

MV = isa.matvec(rows=32, cols=13, w_addr=0, x_addr=0, y_addr=2)


@pytest.fixture(scope="module")
def table() -> EnergyTable:
    return EnergyTable.load("horowitz_45nm")


def test_matvec_events_by_hand() -> None:
    # rows R = 32, cols 13 on L = 8 lanes: W = ceil(13 / 8) = 2 weight-data words per row.
    ev = events_of(MV, 8)
    assert ev == Events(
        cycles=2 + 32 * (1 + 2) + 4,  # ISSUE + R * (1 + W) + MATVEC_DRAIN = 102
        instr_fetches=1,
        weight_word_reads=32 * 3,     # header + 2 data words per row = 96
        act_word_reads=32 * 2,        # one x word per data word = 64
        act_byte_writes=32,           # one output byte per row
        mults_int8=32 * 13,           # lanes holding padding are gated = 416
        adds_tree=32 * (7 + 4),       # a tree over 8 then 5 active lanes = 352
        adds_acc=32 * (2 + 1),        # 2 accumulate + 1 rounding add per row = 96
        requant_mults=32,
    )
    assert ev.cycles == isa.cycles(MV, 8)


def test_vadd_and_halt_events() -> None:
    add = isa.vadd(n=13, a_addr=0, b_addr=2, y_addr=4)
    assert events_of(add, 8) == Events(cycles=2 + 2 + 2, instr_fetches=1, act_word_reads=4,
                                       act_byte_writes=13, adds_int8=16)
    assert events_of(isa.halt(), 8) == Events(cycles=2, instr_fetches=1)
    assert host_io_events(13, 10, 8) == Events(cycles=4, act_word_writes=2, act_word_reads=2)


def test_events_add() -> None:
    a, b = events_of(MV, 8), events_of(isa.halt(), 8)
    total = a + b
    assert total.cycles == 104 and total.instr_fetches == 2
    assert Events() + a == a


def test_matvec_energy_by_component_default_config(table: EnergyTable) -> None:
    # Default config: 8 lanes (64-bit words), 64 KiB weights in 8 KiB sub-banks, 4 KiB
    # scratchpad, 256-entry imem (2 KiB), 500 MHz, energy_scale 1.
    e = energy_by_component(events_of(MV, 8), NFCoreConfig(), table)
    assert list(e) == list(COMPONENTS)
    # mac: 416 int8 mults * 0.2 + (352 tree + 96 acc) adds * 0.1 + 32 requant * 3.1 / 2
    #    = 83.2 + 44.8 + 49.6 = 177.6 pJ
    assert e["mac"] == pytest.approx(177.6)
    # weight_sram: a read activates one 8 KiB sub-bank: 10 pJ per 64-bit word;
    #    96 reads * 10 = 960 pJ
    assert e["weight_sram"] == pytest.approx(960.0)
    # act_sram: 4 KiB is below 8 KiB -> clamped to 10 pJ per 64-bit word;
    #    64 word reads * 10 + 32 byte writes * 10 * 8/64 = 640 + 40 = 680 pJ
    assert e["act_sram"] == pytest.approx(680.0)
    # control: 1 fetch from a 2 KiB imem -> clamped to 10 pJ per 64-bit read = 10 pJ
    assert e["control"] == pytest.approx(10.0)
    # leakage: (70 KiB * 1 uW/KiB + 20 uW) / 500 MHz = 0.18 pJ/cycle; * 102 cycles = 18.36 pJ
    assert e["leakage"] == pytest.approx(18.36)
    assert sum(e.values()) == pytest.approx(1845.96)


def test_one_bank_is_charged_the_whole_array(table: EnergyTable) -> None:
    # weight_subbank_bytes at the SRAM size: one 64 KiB bank, 20 pJ * 2**(ln 5 / ln 32)
    # = 27.5946 pJ per 64-bit word; 96 reads = 2649.08 pJ.
    cfg = NFCoreConfig.from_dict({"core": {"weight_subbank_bytes": 65536}})
    assert cfg.core.weight_subbanks == 1
    e = energy_by_component(events_of(MV, 8), cfg, table)
    assert e["weight_sram"] == pytest.approx(2649.081, abs=1e-3)


def test_reuse_buffer_serves_a_loop_after_its_first_iteration(table: EnergyTable) -> None:
    # A conv-like LOOP of 5 positions over a 4 x 13 MATVEC: its region is 4 * (1 + 2) = 12
    # words. A 12-word buffer holds it: iteration 1 reads the SRAM and fills the buffer,
    # iterations 2..5 read the buffer. Cycles do not change.
    mv = isa.matvec(rows=4, cols=13, w_addr=7, x_addr=0, y_addr=9)
    program = [isa.loop(body=1, count=5, x_stride=1, y_stride=1, x_mask=1, y_mask=1), mv,
               isa.halt()]
    plain = sum(program_events(program, 8, wbuf_words=0), Events())
    small = sum(program_events(program, 8, wbuf_words=11), Events())
    buffered = sum(program_events(program, 8, wbuf_words=12), Events())
    assert plain == small
    assert plain.weight_word_reads == 5 * 12 and plain.wbuf_word_reads == 0
    assert buffered.weight_word_reads == 12 and buffered.wbuf_word_writes == 12
    assert buffered.wbuf_word_reads == 4 * 12
    assert buffered.cycles == plain.cycles == sum(
        isa.cycles(i, 8) for i in isa.executed_instructions(program))
    # 60 SRAM reads at 10 pJ against 12 at 10 pJ plus 60 buffer accesses at 5.7 pJ.
    cfg = NFCoreConfig()
    assert energy_by_component(plain, cfg, table)["weight_sram"] == pytest.approx(600.0)
    assert energy_by_component(buffered, cfg, table)["weight_sram"] == pytest.approx(
        120.0 + 60 * 5.7)


def test_reuse_buffer_is_not_filled_outside_a_loop() -> None:
    mv = isa.matvec(rows=4, cols=13, w_addr=7, x_addr=0, y_addr=9)
    events = program_events([mv, mv, isa.halt()], 8, wbuf_words=64)
    assert [e.wbuf_word_reads + e.wbuf_word_writes for e in events] == [0, 0, 0]


def test_energy_scale_scales_every_component(table: EnergyTable) -> None:
    base = energy_by_component(events_of(MV, 8), NFCoreConfig(), table)
    cfg = dataclasses.replace(NFCoreConfig(), technology=TechnologyConfig(energy_scale=0.25))
    scaled = energy_by_component(events_of(MV, 8), cfg, table)
    for name in COMPONENTS:
        assert scaled[name] == pytest.approx(0.25 * base[name])


def test_new_instruction_events() -> None:
    mul = isa.vmul(n=13, a_addr=0, b_addr=2, y_addr=4, shift=3)
    assert events_of(mul, 8) == Events(cycles=2 + 2 + 3, instr_fetches=1, act_word_reads=4,
                                       act_byte_writes=13, mults_int8=16, adds_int8=16)
    assert events_of(isa.setlut(w_addr=0), 8) == Events(cycles=2 + 32 + 2, instr_fetches=1,
                                                        weight_word_reads=32)
    assert events_of(isa.loop(body=1, count=9), 8) == Events(cycles=2, instr_fetches=1)
    send = isa.send(n=5, addr=0, dest_x=1, dest_y=0)
    assert events_of(send, 8) == Events(cycles=2 + 1 + 5, instr_fetches=1, act_word_reads=5)
    assert events_of(isa.recv(n=5, addr=0), 8) == Events(cycles=8, instr_fetches=1,
                                                         act_word_writes=5)
