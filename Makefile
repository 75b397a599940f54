# qmoe: `make test` sets up a fresh machine (Debian packages, pinned Python
# packages), builds the operator library and the C++ tests, and runs them all.

PYTHON ?= python3
MAX_JOBS ?= 2
CPP_BUILD_DIR ?= build/cpp
AARCH64_BUILD_DIR ?= build/aarch64
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEBIAN_PACKAGES := cmake g++ libgtest-dev ccache
# test-aarch64 only: the cross compiler, QEMU user-mode emulation, GoogleTest's sources.
AARCH64_PACKAGES := cmake g++-aarch64-linux-gnu qemu-user googletest

export MAX_JOBS

.PHONY: all deps system-deps python-deps build build-python build-cpp test test-cpp test-python \
        aarch64-deps test-aarch64 bench demo lint clean

all: build

deps: system-deps python-deps

system-deps:
	@if ! dpkg -s $(DEBIAN_PACKAGES) >/dev/null 2>&1; then \
	  echo "installing $(DEBIAN_PACKAGES)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(DEBIAN_PACKAGES); \
	fi

python-deps:
	$(PYTHON) -m pip install -q -r requirements-dev.txt
	@# optional: the tests that need these skip when they cannot be installed
	$(PYTHON) -m pip install -q -r requirements-optional.txt || \
	  echo "requirements-optional.txt not installed: their tests will be skipped"

build: build-python build-cpp

# The operator library, built by setup.py through CMakeLists.txt against the installed torch.
build-python: deps
	$(PYTHON) -m pip install -q --no-build-isolation -e .

# The torch-free core and its GoogleTest suite.
build-cpp: system-deps
	cmake -S . -B $(CPP_BUILD_DIR) -DCMAKE_BUILD_TYPE=Release -DQMOE_BUILD_OPS=OFF >/dev/null
	cmake --build $(CPP_BUILD_DIR) -j $(MAX_JOBS)

test: build test-cpp test-python

test-cpp:
	ctest --test-dir $(CPP_BUILD_DIR) --output-on-failure

test-python:
	$(PYTHON) -m pytest tests/python -q

# Not part of `make test`: the core and its C++ tests cross-built for aarch64 (baseline
# kernels only) and run under qemu-aarch64.
aarch64-deps:
	@if ! dpkg -s $(AARCH64_PACKAGES) >/dev/null 2>&1; then \
	  echo "installing $(AARCH64_PACKAGES)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(AARCH64_PACKAGES); \
	fi

test-aarch64: aarch64-deps
	cmake -S . -B $(AARCH64_BUILD_DIR) --no-warn-unused-cli -DCMAKE_BUILD_TYPE=Release -DQMOE_BUILD_OPS=OFF \
	  -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake -DQMOE_GTEST_FROM_SOURCE=ON >/dev/null
	cmake --build $(AARCH64_BUILD_DIR) -j $(MAX_JOBS)
	ctest --test-dir $(AARCH64_BUILD_DIR) --output-on-failure -j $(MAX_JOBS)

bench: build-python
	$(PYTHON) -m pip install -q -r requirements-bench.txt
	$(PYTHON) benchmarks/bench_circuit.py
	$(PYTHON) benchmarks/bench_moe.py
	$(PYTHON) benchmarks/bench_noise.py --out benchmarks/results/cpu_noise.md

# The paper's experiments (arXiv 2512.22296) at its sizes with 5 seeds and a held-out test
# split, plus a reviewer's extras (qmoe_torch.experiments; about 2 minutes on 2 cores):
# prints the table and writes it with the figures into $(DEMO_OUT).
DEMO_OUT ?= results/demo

demo: build-python
	$(PYTHON) -m pip install -q -r requirements-demo.txt
	$(PYTHON) -m qmoe_torch.experiments demo --out $(DEMO_OUT)

lint:
	$(PYTHON) -m ruff check qmoe_torch tests benchmarks examples

clean:
	rm -rf build qmoe_torch/_qmoe_ops*.so *.egg-info
