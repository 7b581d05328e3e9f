"""The array's timing as one compiled loop: cores, the host port and the mesh, flit by flit.

`nfcore.sim.net.array.run_array_model` turns its programs into the arrays below and calls
`run`; this module knows nothing of instructions or values, only of steps and packets.
The rules are those of `nfcore.sim.net.flit` (the per-cycle reference, equal to the RTL), on
arrays instead of objects, compiled by numba, and a cycle in which no flit moves is followed
directly by the next cycle in which something can change (a fetch, a SEND or RECV becoming
ready, the host port's next packet), so waiting costs nothing:

* each router input has a FIFO of `depth` flits that takes a flit in a cycle only if it was
  not full at the start of the cycle; each output has a one-flit register that takes a flit
  in a cycle in which it is empty or its flit leaves; an output is locked to one input from
  a header to its tail, and when free grants the first input, round robin from the one after
  the input it granted last (reset WEST), whose head is a header routed to it;
* a core fetches its next step in the cycle after the previous one ends: a run of local
  instructions takes its cycles; a SEND pushes a flit per cycle into its router's LOCAL
  FIFO from `issue` cycles after its fetch, and ends in the cycle after its last push; a
  RECV takes a flit per cycle from its router's LOCAL output register from `issue` cycles
  after its fetch, and ends in the cycle after the packet's tail; HALT ends the run in its
  last cycle (`done`), and the core takes its next RUN from the cycle after;
* the host port pushes its packets one after the other into router `host_router`'s
  `host_port` input as a SEND does; a packet is eligible from its cycle, or from the cycle
  after its core took a given RUN, and the host takes, when free, the one eligible first
  (ties: the lower index); it takes every flit of a packet for it at once;
* a RUN may wait for a result of another run (the host's decision on the router's scores):
  it is presented no earlier than `decision` cycles after the host took the tail of that
  result packet; a core whose next RUN waits for a result not yet taken waits with it.

Step kinds are `LOCAL`, `SEND`, `RECV` and `HALT`. All arrays are int64. Packet ids: the
host's packets are 0 .. H - 1 in order, the cores' SENDs follow in the order they are
fetched. A cycle is "never" when it is -1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

LOCAL, SEND, RECV, HALT = 0, 1, 2, 3
"""Step kinds."""

_N_PORTS = 5
_PORT_LOCAL = 0
_PORT_WEST = 4
_OPPOSITE = (0, 2, 1, 4, 3)
"""The input port a flit leaving by output port p enters at the neighbour (`noc.Port`)."""

_RUNNING, _SENDING, _RECEIVING, _HALTED = 0, 1, 2, 3


@njit(cache=True)
def _heap_push(heap: Any, n: int, key: int) -> int:
    """Push `key` onto the min-heap `heap[:n]`; returns the new size."""
    i = n
    heap[i] = key
    while i > 0:
        parent = (i - 1) >> 1
        if heap[parent] <= heap[i]:
            break
        heap[parent], heap[i] = heap[i], heap[parent]
        i = parent
    return n + 1


@njit(cache=True)
def _heap_pop(heap: Any, n: int) -> int:
    """Remove the least key of `heap[:n]` (read it as `heap[0]` first); returns the new size."""
    n -= 1
    heap[0] = heap[n]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= n:
            break
        child = left
        if left + 1 < n and heap[left + 1] < heap[left]:
            child = left + 1
        if heap[i] <= heap[child]:
            break
        heap[i], heap[child] = heap[child], heap[i]
        i = child
    return n


@njit(cache=True)
def _take_run(c: int, j: int, free_from: int, delay: int, n_cores: int, run_presented: Any,
              run_step: Any, run_host: Any, run_wait: Any, release: Any, run_taken: Any,
              this_run: Any, step: Any, fetches: Any, n_fetches: int, host_cycle: Any,
              packet_ready: Any, host_heap: Any, n_host_heap: int, waiting: Any,
              waiting_from: Any, waiting_delay: Any) -> tuple[int, int]:
    """Core c, idle from cycle `free_from`, takes its RUN j `delay` cycles (a wake-up) after
    the RUN is presented and, if j waits for a result, released; or, if that result is not
    yet taken, waits for it (`waiting`). Returns the new sizes of `fetches` and
    `host_heap`."""
    this_run[c] = j
    g = run_wait[j]
    if g >= 0 and release[g] < 0:
        waiting[c] = g
        waiting_from[c] = free_from
        waiting_delay[c] = delay
        return n_fetches, n_host_heap
    presented = run_presented[j] if g < 0 else max(run_presented[j], release[g])
    taken = max(presented, free_from) + delay
    run_taken[j] = taken
    step[c] = run_step[j]
    n_fetches = _heap_push(fetches, n_fetches, (taken + 1) * n_cores + c)
    i = run_host[j]
    if i >= 0:
        n_host = host_cycle.shape[0]
        packet_ready[i] = max(host_cycle[i], taken + 1)
        n_host_heap = _heap_push(host_heap, n_host_heap, packet_ready[i] * (n_host + 1) + i)
    return n_fetches, n_host_heap


@njit(cache=True)
def run(depth: int, issue: int, route: Any, neighbour: Any, host_router: int, host_port: int,
        step_kind: Any, step_cycles: Any, step_dest: Any, step_flits: Any,
        core_node: Any, run_start: Any, run_presented: Any, run_step: Any, run_host: Any,
        run_delay: Any, host_dest: Any, host_flits: Any, host_cycle: Any,
        run_wait: Any, run_result: Any, decision: int, max_packets: int) -> tuple[Any, ...]:
    """Run every core's RUNs to their HALTs.

    Mesh: `route[r, d]` is the output port router r picks for destination node d (a router
    index, or R = the host); `neighbour[r, p]` the router output p of r feeds (-1: none).
    Steps: `step_kind`, `step_cycles` (a LOCAL run's cycles, HALT's `isa.cycles`),
    `step_dest` (a SEND's destination node), `step_flits` (a SEND's flits).
    Cores c: `core_node[c]`, its runs `run_start[c] .. run_start[c + 1] - 1`, each RUN
    presented in `run_presented[j]`, its program from step `run_step[j]`, the host packet that
    waits for it `run_host[j]` (-1: none); RUN j is taken `run_delay[j]` late (a wake-up).
    Host packets i: to node `host_dest[i]`, `host_flits[i]` flits, from `host_cycle[i]`
    (waiting for a RUN if some `run_host` names it).
    Results: RUN j waits for run `run_wait[j]` (-1: none), released `decision` cycles after
    the host took the tail of that run's result packet number `run_result[run_wait[j]]`
    (0-based, among its packets to the host).

    Returns (run_taken, run_done, stall_cycles, wait_cycles, packet_src, packet_dst,
    packet_flits, packet_ready, packet_sent, packet_taken, packet_tail, packet_step, packets,
    log, logged):
    per run the cycle its RUN was taken and its `done`; per core the cycles its SENDs waited
    for the network and its RECVs for a header; per packet its source and destination nodes
    (R: the host), flits, first cycle it could be pushed (`ready`; a host packet's: when it
    became eligible), first cycle the sender pushed it (-1: never), cycles its header and
    its tail were taken at the destination, a core's packet's SEND step; the number of
    packets; `log[:logged]`, in causal order, (core, packet, step) of every SEND (at its
    fetch) and every RECV (at its tail).
    A core whose runs did not all end, or a packet never taken, is a deadlock."""
    n_routers = route.shape[0]
    host = n_routers
    n_cores = core_node.shape[0]
    n_host = host_dest.shape[0]
    n_runs = run_presented.shape[0]

    # -- the mesh
    fifo_packet = np.full((n_routers, _N_PORTS, depth), -1, np.int64)
    fifo_flit = np.zeros((n_routers, _N_PORTS, depth), np.int64)
    fifo_head = np.zeros((n_routers, _N_PORTS), np.int64)
    fifo_len = np.zeros((n_routers, _N_PORTS), np.int64)
    between = np.ones((n_routers, _N_PORTS), np.bool_)
    out_packet = np.full((n_routers, _N_PORTS), -1, np.int64)
    out_flit = np.zeros((n_routers, _N_PORTS), np.int64)
    lock = np.full((n_routers, _N_PORTS), -1, np.int64)
    pointer = np.full((n_routers, _N_PORTS), _PORT_WEST, np.int64)
    # A router's moves in a cycle depend on its FIFOs, registers, locks and pointers, the
    # room in the FIFOs its outputs feed and, for LOCAL, whether its core's RECV is ready;
    # only the routers where one of these changed are evaluated (`due`, for this cycle;
    # `listed[r]`: the cycle r is listed for).
    due = np.zeros(n_routers, np.int64)
    n_due = 0
    later = np.zeros(n_routers, np.int64)  # the routers due next cycle: later[:n_later]
    n_later = 0
    listed = np.full(n_routers, -1, np.int64)
    held = np.zeros(n_routers, np.int64)  # flits in a router's FIFOs and registers
    wants = np.zeros(_N_PORTS, np.int64)
    opposite = np.array(_OPPOSITE, np.int64)
    wakes = np.zeros(2 * max_packets + 1, np.int64)  # heap of cycle * R + router: a SEND's
    n_wakes = 0  # or RECV's ready cycle (at most two per packet)
    node_core = np.full(n_routers, -1, np.int64)
    for c in range(n_cores):
        node_core[core_node[c]] = c

    # -- this cycle's moves, applied after every decision
    cap = n_routers * _N_PORTS
    eject_r = np.zeros(cap, np.int64)
    eject_p = np.zeros(cap, np.int64)
    pop_r = np.zeros(cap, np.int64)
    pop_p = np.zeros(cap, np.int64)
    load_r = np.zeros(cap, np.int64)
    load_p = np.zeros(cap, np.int64)
    load_packet = np.zeros(cap, np.int64)
    load_flit = np.zeros(cap, np.int64)
    push_r = np.zeros(cap + n_cores + 1, np.int64)
    push_p = np.zeros(cap + n_cores + 1, np.int64)
    push_packet = np.zeros(cap + n_cores + 1, np.int64)
    push_flit = np.zeros(cap + n_cores + 1, np.int64)

    # -- packets
    packet_src = np.full(max_packets, -1, np.int64)
    packet_dst = np.full(max_packets, -1, np.int64)
    packet_flits = np.zeros(max_packets, np.int64)
    packet_ready = np.full(max_packets, -1, np.int64)
    packet_sent = np.full(max_packets, -1, np.int64)
    packet_taken = np.full(max_packets, -1, np.int64)
    packet_tail = np.full(max_packets, -1, np.int64)
    packet_step = np.full(max_packets, -1, np.int64)
    packet_run = np.full(max_packets, -1, np.int64)  # a core's packet's run
    for i in range(n_host):
        packet_src[i] = host
        packet_dst[i] = host_dest[i]
        packet_flits[i] = host_flits[i]
    n_packets = n_host
    log = np.zeros((max_packets * 2, 3), np.int64)
    logged = 0

    # -- cores
    phase = np.full(n_cores, _HALTED, np.int64)
    step = np.zeros(n_cores, np.int64)
    this_run = np.zeros(n_cores, np.int64)
    ready_at = np.zeros(n_cores, np.int64)
    moved_flits = np.zeros(n_cores, np.int64)
    packet_of = np.full(n_cores, -1, np.int64)
    recv_step = np.zeros(n_cores, np.int64)
    stall_cycles = np.zeros(n_cores, np.int64)
    wait_cycles = np.zeros(n_cores, np.int64)
    run_taken = np.full(n_runs, -1, np.int64)
    run_done = np.full(n_runs, -1, np.int64)
    release = np.full(n_runs, -1, np.int64)  # when the runs waiting for run g's result may go
    results_taken = np.zeros(n_runs, np.int64)  # run g's packets whose tail the host took
    waiting = np.full(n_cores, -1, np.int64)  # the run whose result a core's next RUN awaits
    waiting_from = np.zeros(n_cores, np.int64)
    waiting_delay = np.zeros(n_cores, np.int64)
    sending = np.zeros(n_cores, np.int64)  # cores in a SEND: sending[:n_sending]
    n_sending = 0
    fetches = np.zeros(n_cores + 1, np.int64)  # heap of next fetch * n_cores + core
    n_fetches = 0
    host_heap = np.zeros(n_host + 1, np.int64)  # heap of eligible cycle * (H + 1) + packet
    n_host_heap = 0
    gated_host = np.zeros(n_host, np.bool_)
    for j in range(n_runs):
        if run_host[j] >= 0:
            gated_host[run_host[j]] = True
    for i in range(n_host):
        if not gated_host[i]:
            packet_ready[i] = host_cycle[i]
            n_host_heap = _heap_push(host_heap, n_host_heap, host_cycle[i] * (n_host + 1) + i)
    for c in range(n_cores):
        j = run_start[c]
        if j == run_start[c + 1]:
            continue
        phase[c] = _RUNNING
        n_fetches, n_host_heap = _take_run(
            c, j, 0, run_delay[j], n_cores, run_presented, run_step, run_host, run_wait,
            release, run_taken, this_run, step, fetches, n_fetches, host_cycle, packet_ready,
            host_heap, n_host_heap, waiting, waiting_from, waiting_delay)
    host_packet = -1  # the packet the host port is pushing
    host_pushed = 0
    host_free = 0  # first cycle the host port may start its next packet

    t = 0
    while True:
        # 1. Cores whose next fetch is in cycle t.
        while n_fetches > 0 and fetches[0] // n_cores == t:
            c = fetches[0] % n_cores
            n_fetches = _heap_pop(fetches, n_fetches)
            s = step[c]
            kind = step_kind[s]
            step[c] = s + 1
            if kind == LOCAL:
                n_fetches = _heap_push(fetches, n_fetches, (t + step_cycles[s]) * n_cores + c)
            elif kind == SEND:
                p = n_packets
                n_packets += 1
                packet_src[p] = core_node[c]
                packet_dst[p] = step_dest[s]
                packet_flits[p] = step_flits[s]
                packet_ready[p] = t + issue
                packet_step[p] = s
                packet_run[p] = this_run[c]
                phase[c] = _SENDING
                ready_at[c] = t + issue
                moved_flits[c] = 0
                packet_of[c] = p
                sending[n_sending] = c
                n_sending += 1
                n_wakes = _heap_push(wakes, n_wakes, (t + issue) * n_routers + core_node[c])
                log[logged, 0] = c
                log[logged, 1] = p
                log[logged, 2] = s
                logged += 1
            elif kind == RECV:
                phase[c] = _RECEIVING
                recv_step[c] = s
                ready_at[c] = t + issue
                n_wakes = _heap_push(wakes, n_wakes, (t + issue) * n_routers + core_node[c])
                moved_flits[c] = 0
            else:  # HALT
                j = this_run[c]
                done = t + step_cycles[s] - 1
                run_done[j] = done
                if j + 1 < run_start[c + 1]:
                    n_fetches, n_host_heap = _take_run(
                        c, j + 1, done + 1, run_delay[j + 1], n_cores, run_presented,
                        run_step, run_host, run_wait, release, run_taken, this_run, step,
                        fetches, n_fetches, host_cycle, packet_ready, host_heap, n_host_heap,
                        waiting, waiting_from, waiting_delay)
                else:
                    phase[c] = _HALTED

        # 2. The host port starts its next packet.
        if host_packet < 0 and host_free <= t and n_host_heap > 0 \
                and host_heap[0] // (n_host + 1) <= t:
            host_packet = host_heap[0] % (n_host + 1)
            n_host_heap = _heap_pop(host_heap, n_host_heap)
            host_pushed = 0

        # 3. The mesh: decide from the state at the start of the cycle, then apply.
        while n_wakes > 0 and wakes[0] // n_routers <= t:
            r = wakes[0] % n_routers
            n_wakes = _heap_pop(wakes, n_wakes)
            if listed[r] != t:
                listed[r] = t
                due[n_due] = r
                n_due += 1
        n_eject = n_pop = n_load = n_push = 0
        for a in range(n_due):
            r = due[a]
            if held[r] == 0:
                continue
            # The inputs whose head is a header, as a bit mask per output it is routed to.
            for port in range(_N_PORTS):
                wants[port] = 0
            for q in range(_N_PORTS):
                if fifo_len[r, q] > 0 and between[r, q]:
                    h = fifo_head[r, q]
                    if fifo_flit[r, q, h] == 0:
                        wants[route[r, packet_dst[fifo_packet[r, q, h]]]] |= 1 << q
            for port in range(_N_PORTS):
                occupied = out_packet[r, port] >= 0
                if occupied:
                    if port == _PORT_LOCAL:
                        c = node_core[r]
                        leaving = c >= 0 and phase[c] == _RECEIVING and t >= ready_at[c]
                    elif r == host_router and port == host_port:
                        leaving = True
                    else:
                        there = neighbour[r, port]
                        leaving = there >= 0 and fifo_len[there, opposite[port]] < depth
                    if not leaving:
                        continue
                    eject_r[n_eject] = r
                    eject_p[n_eject] = port
                    n_eject += 1
                holder = lock[r, port]
                src = -1
                if holder >= 0:
                    if fifo_len[r, holder] > 0:
                        src = holder
                elif wants[port] != 0:
                    for k in range(1, _N_PORTS + 1):
                        q = (pointer[r, port] + k) % _N_PORTS
                        if (wants[port] >> q) & 1:
                            pointer[r, port] = q
                            src = q
                            break
                if src >= 0:
                    h = fifo_head[r, src]
                    p = fifo_packet[r, src, h]
                    f = fifo_flit[r, src, h]
                    last = f == packet_flits[p] - 1
                    if holder < 0 and not last:
                        lock[r, port] = src
                    elif holder >= 0 and last:
                        lock[r, port] = -1
                    pop_r[n_pop] = r
                    pop_p[n_pop] = src
                    n_pop += 1
                    load_r[n_load] = r
                    load_p[n_load] = port
                    load_packet[n_load] = p
                    load_flit[n_load] = f
                    n_load += 1
        # Senders push into their LOCAL FIFO (the host into its port's) if it had room.
        kept = 0
        for a in range(n_sending):
            c = sending[a]
            r = core_node[c]
            if t >= ready_at[c] and fifo_len[r, _PORT_LOCAL] < depth:
                p = packet_of[c]
                if moved_flits[c] == 0:
                    packet_sent[p] = t
                push_r[n_push] = r
                push_p[n_push] = _PORT_LOCAL
                push_packet[n_push] = p
                push_flit[n_push] = moved_flits[c]
                n_push += 1
                moved_flits[c] += 1
                if moved_flits[c] == packet_flits[p]:
                    stall_cycles[c] += t + 1 - (ready_at[c] + packet_flits[p])
                    phase[c] = _RUNNING
                    n_fetches = _heap_push(fetches, n_fetches, (t + 1) * n_cores + c)
                    continue
            sending[kept] = c
            kept += 1
        n_sending = kept
        if host_packet >= 0 and fifo_len[host_router, host_port] < depth:
            if host_pushed == 0:
                packet_sent[host_packet] = t
            push_r[n_push] = host_router
            push_p[n_push] = host_port
            push_packet[n_push] = host_packet
            push_flit[n_push] = host_pushed
            n_push += 1
            host_pushed += 1
            if host_pushed == packet_flits[host_packet]:
                host_packet = -1
                host_free = t + 1
        # Apply: flits leave registers, FIFOs pop, registers load, FIFOs take pushes; list
        # every router this changes, and the ones whose outputs feed a FIFO that popped.
        for e in range(n_eject):
            r = eject_r[e]
            port = eject_p[e]
            p = out_packet[r, port]
            f = out_flit[r, port]
            out_packet[r, port] = -1
            held[r] -= 1
            last = f == packet_flits[p] - 1
            if listed[r] != t + 1:
                listed[r] = t + 1
                later[n_later] = r
                n_later += 1
            if port == _PORT_LOCAL:
                c = node_core[r]
                if f == 0:
                    packet_taken[p] = t
                    wait_cycles[c] += t - ready_at[c]
                if last:
                    packet_tail[p] = t
                    phase[c] = _RUNNING
                    n_fetches = _heap_push(fetches, n_fetches, (t + 1) * n_cores + c)
                    log[logged, 0] = c
                    log[logged, 1] = p
                    log[logged, 2] = recv_step[c]
                    logged += 1
            elif r == host_router and port == host_port:
                if f == 0:
                    packet_taken[p] = t
                if last:
                    packet_tail[p] = t
                    g = packet_run[p]
                    if g >= 0 and run_result[g] >= 0:
                        if results_taken[g] == run_result[g]:
                            release[g] = t + decision
                            for w in range(n_cores):
                                if waiting[w] == g:
                                    waiting[w] = -1
                                    n_fetches, n_host_heap = _take_run(
                                        w, this_run[w], waiting_from[w], waiting_delay[w],
                                        n_cores, run_presented, run_step, run_host, run_wait,
                                        release, run_taken, this_run, step, fetches,
                                        n_fetches, host_cycle, packet_ready, host_heap,
                                        n_host_heap, waiting, waiting_from, waiting_delay)
                        results_taken[g] += 1
            else:
                push_r[n_push] = neighbour[r, port]
                push_p[n_push] = opposite[port]
                push_packet[n_push] = p
                push_flit[n_push] = f
                n_push += 1
        for e in range(n_pop):
            r = pop_r[e]
            q = pop_p[e]
            h = fifo_head[r, q]
            between[r, q] = fifo_flit[r, q, h] == packet_flits[fifo_packet[r, q, h]] - 1
            fifo_head[r, q] = (h + 1) % depth
            fifo_len[r, q] -= 1
            held[r] -= 1
            up = neighbour[r, q] if q != _PORT_LOCAL else -1
            if up >= 0 and listed[up] != t + 1:
                listed[up] = t + 1
                later[n_later] = up
                n_later += 1
        for e in range(n_load):
            r = load_r[e]
            out_packet[r, load_p[e]] = load_packet[e]
            out_flit[r, load_p[e]] = load_flit[e]
            held[r] += 1
            if listed[r] != t + 1:
                listed[r] = t + 1
                later[n_later] = r
                n_later += 1
        for e in range(n_push):
            r = push_r[e]
            q = push_p[e]
            slot = (fifo_head[r, q] + fifo_len[r, q]) % depth
            fifo_packet[r, q, slot] = push_packet[e]
            fifo_flit[r, q, slot] = push_flit[e]
            fifo_len[r, q] += 1
            held[r] += 1
            if listed[r] != t + 1:
                listed[r] = t + 1
                later[n_later] = r
                n_later += 1
        due, later = later, due
        n_due, n_later = n_later, 0

        # 4. The next cycle in which something can happen.
        if n_eject + n_pop + n_push > 0:
            t += 1
            continue
        nxt = -1
        if n_fetches > 0:
            nxt = fetches[0] // n_cores
        if n_wakes > 0 and (nxt < 0 or wakes[0] // n_routers < nxt):
            nxt = wakes[0] // n_routers
        if host_packet < 0 and n_host_heap > 0:
            due_host = max(host_free, host_heap[0] // (n_host + 1))
            if nxt < 0 or due_host < nxt:
                nxt = due_host
        if nxt < 0:
            break
        t = max(nxt, t + 1)

    return (run_taken, run_done, stall_cycles, wait_cycles, packet_src, packet_dst,
            packet_flits, packet_ready, packet_sent, packet_taken, packet_tail, packet_step,
            n_packets, log, logged)

