"""Costs of events: the sourced energy tables (`energy`), a program's events (`events`),
the system-level energies (`system_energy`) and silicon area (`area`)."""
