"""Cost and error of `make sim`'s one-shot network against the router RTL's rules.

On a 16 x 16 mesh, host traffic as `make sim` sends it (per request, 4 input packets of 5
flits from the host to random cores, each answered by 3 flits 150 cycles later; requests
every 500 cycles on average), every destination taking at once: CPU microseconds per packet
of `nfcore.sim.net.oneshot` (the one-shot walk `make sim` uses) and of
`nfcore.sim.net.worm` (the RTL's rules: FIFOs, registers, locks, round robin; equal to
the RTL on the array scenarios), and the one-shot model's latency error against the latter
(mean and per packet). It says why `make sim` keeps the one-shot model and what that costs in
accuracy.

Run: `python benchmarks/bench_network_rules.py [--requests N]`.
"""

from __future__ import annotations

import sys

import options

from nfcore.config import NFCoreConfig
from nfcore.sim.net.check import check_network, host_traffic
from nfcore.sim.net.oneshot import Network


def main(argv: list[str]) -> None:
    parser = options.parser(__doc__)
    parser.add_argument("--requests", type=int, default=300, help="requests of host traffic")
    args = parser.parse_args(argv)
    if args.smoke:
        args.requests = 10
    cfg = NFCoreConfig.from_dict({"mesh": {"rows": 16, "cols": 16}})
    packets = host_traffic(Network(cfg), args.requests, 500, seed=0)
    check = check_network(cfg, packets)
    print(f"bench_network_rules: {len(packets)} packets on 16 x 16, host traffic")
    print("| model | CPU us per packet |")
    print("| --- | --- |")
    print(f"| one-shot (make sim) | {check.one_shot_us_per_packet:,.0f} |")
    print(f"| RTL rules (worm_network) | {check.rtl_rules_us_per_packet:,.0f} |")
    print(f"one-shot vs RTL rules: mean latency error {check.mean_error:.2%}, per-packet error "
          f"{check.per_packet_error:.2%}; RTL rules cost "
          f"{check.rtl_rules_us_per_packet / check.one_shot_us_per_packet:.0f}x the one-shot "
          "walk")

if __name__ == "__main__":
    main(sys.argv[1:])
