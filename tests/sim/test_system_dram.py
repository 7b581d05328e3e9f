"""The DRAM channel: latency, bandwidth and FIFO queueing, answer flits and the paging
timeline, by hand."""

from __future__ import annotations

from nfcore.arch import noc
from nfcore.config import NFCoreConfig
from nfcore.sim.system.dram import DramChannel, page_timeline, port_inject_cycles


def test_config_conversion_by_hand() -> None:
    """Defaults: 100 ns at 500 MHz = 50 cycles; 204.8 Gb/s = 25.6 GB/s = 51.2 bytes per
    2 ns cycle."""
    ch = DramChannel.of(NFCoreConfig())
    assert ch.latency_cycles == 50
    assert ch.bytes_per_cycle == 51.2
    assert ch.transfer_cycles(512) == 10 and ch.transfer_cycles(513) == 11


def test_reads_queue_in_issue_order() -> None:
    """Three 1,000-byte reads at 10 bytes/cycle, latency 30, issued at 0, 0 and 250: each
    transfers 100 cycles; the second starts when the first's transfer ends (queue 100); the
    third finds the channel free from 200 and does not queue."""
    ch = DramChannel(latency_cycles=30, bytes_per_cycle=10.0)
    a, b, c = ch.read(1000, 0), ch.read(1000, 0), ch.read(1000, 250)
    assert (a.start_cycle, a.first_byte_cycle, a.done_cycle, a.queue_cycles) == (0, 30, 130, 0)
    assert (b.start_cycle, b.first_byte_cycle, b.done_cycle, b.queue_cycles) == (100, 130, 230,
                                                                                100)
    assert (c.start_cycle, c.done_cycle, c.queue_cycles) == (250, 380, 0)
    assert ch.reads == 3 and ch.bytes_read == 3000 and ch.busy_cycles == 300
    assert ch.queue_cycles == 100


def test_answer_flits_by_hand() -> None:
    """8-byte words at 3 bytes/cycle, latency 5, read of 3 words issued at 10: the header is
    ready at 15, word k once its bytes are in, 15 + ceil(8 (k + 1) / 3) = 18, 21, 23; the
    port injects one flit per cycle. A second answer waits for the port."""
    ch = DramChannel(latency_cycles=5, bytes_per_cycle=3.0)
    read = ch.read(24, 10)
    assert ch.answer_ready_cycles(read, 3, 8) == [15, 18, 21, 23]
    assert read.done_cycle == 23
    assert ch.answer(read, 3, 8) == [15, 18, 21, 23]
    fast = DramChannel(latency_cycles=5, bytes_per_cycle=64.0)
    first, second = fast.read(64, 0), fast.read(16, 0)
    assert fast.answer(first, 8, 8) == list(range(5, 14))
    # Its data is in at 5 + 1 + 1 = 7, but the port is busy with the first until 13.
    assert fast.answer_ready_cycles(second, 2, 8) == [6, 7, 7]
    assert fast.answer(second, 2, 8) == [14, 15, 16]


def test_port_inject_cycles_is_one_per_cycle_in_order() -> None:
    assert port_inject_cycles([3, 3, 3, 10, 10], 0) == [3, 4, 5, 10, 11]
    assert port_inject_cycles([3, 4], 7) == [7, 8]


def test_page_timeline_without_contention_by_hand() -> None:
    """Default channel (50 cycles, 51.2 bytes/cycle), lanes 8, core (2, 1), two requests of
    4 and 2 words from cycle 100: requests at 100 and 103 (3 flits each), issued at their
    tails' arrival 100 + 2 + 2 = 104 and 107; answer 1's header at 154, its words at 155..158
    (one flit per cycle; the channel is faster), answer 2's flits at 159..161 (its data was in
    at 157 + 1, the port was busy); each write 3 hops + 1 router later: + 8."""
    ch = DramChannel.of(NFCoreConfig())
    t = page_timeline(ch, 8, (2, 1), [4, 2], 100)
    assert t.request_cycles == (100, 103) and t.issue_cycles == (104, 107)
    assert t.inject_cycles == ((154, 155, 156, 157, 158), (159, 160, 161))
    assert noc.header_latency_cycles(noc.DRAM, (2, 1)) == 8
    assert t.last_write_cycle == 169 and t.paging_cycles == 69
