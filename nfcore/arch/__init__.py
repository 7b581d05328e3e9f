"""The contracts, in plain Python (no Amaranth): the ISA and its timing contract (`isa`), the
network's packet format, routing and latency (`noc`), and the ISA reference page (`isa_doc`).
Everything else in `nfcore` reads these; they import only `nfcore.errors`."""
