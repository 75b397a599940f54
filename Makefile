# qmoe: `make test` sets up a fresh machine (Debian packages, pinned Python
# packages), builds the operator library and the C++ tests, and runs them all.

PYTHON ?= python3
MAX_JOBS ?= 2
CPP_BUILD_DIR ?= build/cpp
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEBIAN_PACKAGES := cmake g++ libgtest-dev ccache

export MAX_JOBS

.PHONY: all deps system-deps python-deps build build-python build-cpp test test-cpp test-python \
        bench lint clean

all: build

deps: system-deps python-deps

system-deps:
	@if ! dpkg -s $(DEBIAN_PACKAGES) >/dev/null 2>&1; then \
	  echo "installing $(DEBIAN_PACKAGES)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(DEBIAN_PACKAGES); \
	fi

python-deps:
	$(PYTHON) -m pip install -q -r requirements-dev.txt

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

bench: build-python
	$(PYTHON) benchmarks/bench_circuit.py

lint:
	$(PYTHON) -m ruff check qmoe_torch tests benchmarks

clean:
	rm -rf build qmoe_torch/_qmoe_ops*.so *.egg-info
