"""Tools around the RTL: Verilog emission (`verilog`), the Verilator build (`toolchain`), the
one product module that drives cocotb (`rtl_runner`, the RTL backend) and FPGA builds (`fpga`)."""
