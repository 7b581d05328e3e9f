"""The DRAM channel: latency, bandwidth and FIFO queueing, by hand."""

from __future__ import annotations

from nfcore.config import NFCoreConfig
from nfcore.sim.dram import DramChannel


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
