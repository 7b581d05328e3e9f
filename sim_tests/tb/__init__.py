"""Verification scaffolding for the cocotb suites: testbench classes, drivers and scenario
generators. Nothing in `nfcore` imports it."""
