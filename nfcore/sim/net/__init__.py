"""Network models of the mesh: one family, all by the router RTL's rules.

* `topology` (`Network`): endpoints (cores, the host and DRAM ports), XY routes, and the
  traffic counted on them (packets, hops, flit-hops, flits per router).
* `worm` (`WormNetwork`): per packet, by the router RTL's rules (input FIFOs, output
  registers, wormhole locks, round robin, a destination holding its ejection port until it
  takes the packet), event-driven on output arbitrations. Equal to the RTL on every scenario
  tested.
* `array` (`run_array_model`): SEND/RECV programs on an array of cores, the host port's
  packets, a core RUN several times, by the router RTL's rules flit by flit in the compiled
  loop of `kernel` (numba; cycles in which nothing can move are skipped), then the golden
  cores' values replayed in the order the timing found; also the array's power-state cycles
  (`core_state_cycles`). The tests check it against the RTL, `flit` and the SimPy model on
  `worm` it replaced (`tests/sim/worm_array_reference.py`).
* `dispatch` (`run_requests`, `run_timed_requests`): requests through the host port on
  `array` (the host's RUNs and input packets, results back to the host), with values or with
  a program's timing alone (`array.TimedProgram`); the RTL replays the same requests
  (`sim_tests/test_host_replay_rtl.py`). The system model (`nfcore.sim.system.model`, what
  `make sim` reports) serves its requests this way.
* `flit` (`run_array_flits`): the same programs stepped flit by flit, cycle by cycle, by the
  router RTL's rules: the slow reference, and what the RTL tests use to predict scratchpads
  under contention.
"""
