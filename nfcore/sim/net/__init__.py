"""Network models of the mesh: `oneshot` (per packet, analytic links), `worm` (the router
RTL's rules per packet, event-driven), `array` (SEND/RECV programs on an array, on `worm`),
`flit` (flit by flit) and `check` (one model's packets replayed through another)."""
