"""How far the system model's one-shot network is from the router RTL's rules, on a run's own
packets.

`make sim` times packets with `nfcore.sim.net.oneshot` (one walk per packet, no SimPy events),
because `nfcore.sim.net.worm`, which follows the router RTL's rules (FIFOs, output
registers, locks, round robin) and equals the RTL on every array scenario, costs about 40x as
much CPU per packet. `check_network` replays the packets a system run sent (ready cycle,
source, destination, flits), in the order it sent them, through both models with the same
sources serialising their sends, and returns the one-shot model's latency error against the
RTL rules. Both replays let every destination take a packet at once, so the figure is the
network's own error (arbitration and wormhole blocking), not the cores'.

The error is a latency sum over packets: `mean` compares total latency (what the mean request
latency sees), `per_packet` sums each packet's absolute difference (what a tail percentile can
see).
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from typing import Any

from nfcore.config import NFCoreConfig
from nfcore.sim.net import oneshot, worm
from nfcore.sim.net.oneshot import Network

Packet = tuple[int, int, int, int]
"""(ready cycle, source endpoint, destination endpoint, flits), as `Network.trace` holds."""


@dataclass(frozen=True)
class NetworkCheck:
    """The one-shot model against the RTL's rules on one packet list."""

    packets: int
    mean_error: float
    """|sum of one-shot latencies - sum of RTL-rule latencies| / the latter (0.01 = 1%)."""
    per_packet_error: float
    """Sum over packets of |one-shot - RTL-rule latency| / sum of RTL-rule latencies."""
    equal_packets: int
    """Packets whose latency the two models give alike."""
    one_shot_us_per_packet: float
    """CPU µs per packet of the one-shot replay."""
    rtl_rules_us_per_packet: float
    """CPU µs per packet of the `worm` replay."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_network(cfg: NFCoreConfig, packets: list[Packet]) -> NetworkCheck:
    """Replay `packets` (in send order) through both network models on `cfg`'s mesh."""
    n = len(packets)
    if n == 0:
        return NetworkCheck(0, 0.0, 0.0, 0, 0.0, 0.0)
    done: list[list[int]] = []
    cpu_us: list[float] = []
    for replay in (oneshot.send_in_order, worm.send_in_order):
        c0 = time.process_time()
        done.append(replay(Network(cfg), packets))
        cpu_us.append((time.process_time() - c0) / n * 1e6)
    lat_one = [d - p[0] for d, p in zip(done[0], packets, strict=True)]
    lat_rtl = [d - p[0] for d, p in zip(done[1], packets, strict=True)]
    total = sum(lat_rtl)
    return NetworkCheck(
        packets=n,
        mean_error=abs(sum(lat_one) - total) / total,
        per_packet_error=sum(abs(a - b) for a, b in zip(lat_one, lat_rtl, strict=True)) / total,
        equal_packets=sum(a == b for a, b in zip(lat_one, lat_rtl, strict=True)),
        one_shot_us_per_packet=cpu_us[0],
        rtl_rules_us_per_packet=cpu_us[1],
    )


def host_traffic(net: Network, requests: int, gap_cycles: int, seed: int) -> list[Packet]:
    """Seeded traffic in `make sim`'s pattern, all through the host port: per request (every
    `gap_cycles` on average), 4 inputs of 5 flits from the host to random cores, each
    answered by 3 flits 150 cycles later. For tests and `benchmarks/bench_network_rules.py`."""
    rng = random.Random(seed)
    out: list[Packet] = []
    t = 0
    for _ in range(requests):
        t += rng.randint(0, 2 * gap_cycles)
        for _ in range(4):
            core = rng.randrange(net.n_cores)
            out += [(t, net.host, core, 5), (t + 150, core, net.host, 3)]
    return sorted(out)
