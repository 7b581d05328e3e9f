"""The SimPy system model: the workload (`workload`), the chip serving it (`model`),
weight paging (`paging`) and the DRAM channel (`dram`)."""
