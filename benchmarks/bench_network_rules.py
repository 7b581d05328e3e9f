"""Cost and error of `make sim`'s one-shot network against the router RTL's rules.

On a 16 x 16 mesh, host traffic as `make sim` sends it (per request, 4 input packets of 5
flits from the host to random cores, each answered by 3 flits 150 cycles later; requests
every 500 cycles on average), every destination taking at once: CPU microseconds per packet
of `nfcore.sim.network` (the one-shot walk `make sim` uses) and of
`nfcore.sim.worm_network` (the RTL's rules: FIFOs, registers, locks, round robin; equal to
the RTL on the array scenarios), and the one-shot model's latency error against the latter
(mean and per packet). It says why `make sim` keeps the one-shot model and what that costs in
accuracy.

Run: `python benchmarks/bench_network_rules.py [--requests N]`.
"""

from __future__ import annotations

import argparse
import random
import time

from nfcore.config import NFCoreConfig
from nfcore.sim import network, worm_network
from nfcore.sim.network import Network


def host_traffic(net: Network, requests: int, gap: int, seed: int
                 ) -> list[tuple[int, int, int, int]]:
    """(ready cycle, src, dst, flits) of `requests` requests `gap` cycles apart on average."""
    rng = random.Random(seed)
    out, t = [], 0
    for _ in range(requests):
        t += rng.randint(0, 2 * gap)
        for _ in range(4):
            core = rng.randrange(net.n_cores)
            out += [(t, net.host, core, 5), (t + 150, core, net.host, 3)]
    return sorted(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args(argv)
    cfg = NFCoreConfig.from_dict({"mesh": {"rows": 16, "cols": 16}})
    packets = host_traffic(Network(cfg), args.requests, 500, seed=0)
    results = {}
    for name, run in (("one-shot (make sim)", network.send_in_order),
                      ("RTL rules (worm_network)", worm_network.send_in_order)):
        c0 = time.process_time()
        done = run(Network(cfg), packets)
        results[name] = (done, (time.process_time() - c0) / len(packets) * 1e6)
    (one, one_us), (exact, exact_us) = results.values()
    lat_one = [d - p[0] for d, p in zip(one, packets, strict=True)]
    lat_exact = [d - p[0] for d, p in zip(exact, packets, strict=True)]
    mean_err = abs(sum(lat_one) - sum(lat_exact)) / sum(lat_exact)
    packet_err = sum(abs(a - b) for a, b in zip(lat_one, lat_exact, strict=True)) / \
        sum(lat_exact)
    print(f"bench_network_rules: {len(packets)} packets on 16 x 16, host traffic")
    print("| model | CPU us per packet |")
    print("| --- | --- |")
    for name, (_, us) in results.items():
        print(f"| {name} | {us:,.0f} |")
    print(f"one-shot vs RTL rules: mean latency error {mean_err:.2%}, per-packet error "
          f"{packet_err:.2%}; RTL rules cost {exact_us / one_us:.0f}x the one-shot walk")


if __name__ == "__main__":
    main()
