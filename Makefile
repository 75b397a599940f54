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
        aarch64-deps test-aarch64 bench demo lint lint-deps gpu-check clean

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

# Style: clang-format (.clang-format, dry run: any change needed is an error) over
# the C++ and CUDA sources, ruff check and ruff format --check over the Python.
LINT_PACKAGES := clang-format
CPP_LINT_DIRS := csrc cuda tests/cpp tests/cuda tests/fuzz
PYTHON_LINT_DIRS := qmoe_torch tests benchmarks examples cuda

lint-deps:
	@if ! dpkg -s $(LINT_PACKAGES) >/dev/null 2>&1; then \
	  echo "installing $(LINT_PACKAGES)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(LINT_PACKAGES); \
	fi
	@$(PYTHON) -m ruff --version >/dev/null 2>&1 || $(PYTHON) -m pip install -q -r requirements-dev.txt

lint: lint-deps
	find $(CPP_LINT_DIRS) -type f \( -name '*.h' -o -name '*.cpp' -o -name '*.inc' -o -name '*.cu' \
	  -o -name '*.cuh' \) -print0 2>/dev/null | xargs -0 clang-format --dry-run --Werror
	$(PYTHON) -m ruff check $(PYTHON_LINT_DIRS)
	$(PYTHON) -m ruff format --check $(PYTHON_LINT_DIRS)

clean:
	rm -rf build qmoe_torch/_qmoe_ops*.so *.egg-info

# On a machine with a GPU (the lent H100/H200): build against its torch, the CUDA
# tests, compute-sanitizer, the GPU benchmark -> benchmarks/results/gpu.md.
gpu-check:
	bash benchmarks/gpu_check.sh

# ---- sanitizers and fuzzing (not part of `make test`; cmake/sanitizers.cmake) ----------
# test-sanitize: the core's GoogleTests and the operator library built with gcc's
# ASan+UBSan (UB fatal) in one folder of their own; the GoogleTests run, then a subset
# of the Python op tests against that library (QMOE_OPS_LIBRARY: the package's own
# library is untouched) with the ASan runtime preloaded into the uninstrumented CPython.
SANITIZE_BUILD_DIR ?= build/sanitize
SANITIZERS ?= address;undefined
SANITIZE_PYTHON_TESTS ?= tests/python/test_ops_vs_reference.py tests/python/test_ops_inputs.py \
  tests/python/test_ops_density_matrix.py tests/python/test_ops_autograd.py
# CPython leaks by design; it is not linked with ASan, so ASan is preloaded, not first.
SANITIZE_ASAN_OPTIONS ?= detect_leaks=0:verify_asan_link_order=0:abort_on_error=1:detect_stack_use_after_return=0
SANITIZE_UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1
# Left out: Determinism.SingleSampleKernels (17 qubits with parameter shift: over 5
# minutes under ASan; the other large-state tests run its paths) and
# IsaObjects.ExportNothingOutsideTheirNamespace (reads the per-ISA objects for symbols
# that escaped inlining: at -O1 under ASan some do, unlike the -O3 build it is for).
SANITIZE_CTEST_EXCLUDE ?= ^Determinism\.SingleSampleKernels$$
# fuzz: tests/fuzz/program_fuzzer.cpp under libFuzzer (clang) with ASan+UBSan, for
# FUZZ_SECONDS from the seed corpus tests/fuzz/corpus/ plus a scratch corpus of its finds.
FUZZ_BUILD_DIR ?= build/fuzz
FUZZ_SECONDS ?= 60
CLANG_VERSION ?= 14
FUZZ_PACKAGES := clang-$(CLANG_VERSION) libclang-rt-$(CLANG_VERSION)-dev libomp-$(CLANG_VERSION)-dev

.PHONY: test-sanitize sanitize-configure test-sanitize-cpp test-sanitize-python fuzz-deps fuzz

test-sanitize: test-sanitize-cpp test-sanitize-python

sanitize-configure: deps
	cmake -S . -B $(SANITIZE_BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DQMOE_SANITIZE=$(SANITIZERS)" \
	  "-DCMAKE_PREFIX_PATH=$$($(PYTHON) -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')" \
	  >/dev/null

test-sanitize-cpp: sanitize-configure
	cmake --build $(SANITIZE_BUILD_DIR) -j $(MAX_JOBS)
	ASAN_OPTIONS=$(SANITIZE_ASAN_OPTIONS) UBSAN_OPTIONS=$(SANITIZE_UBSAN_OPTIONS) \
	  ctest --test-dir $(SANITIZE_BUILD_DIR) --output-on-failure -j $(MAX_JOBS) -E '$(SANITIZE_CTEST_EXCLUDE)'

test-sanitize-python: sanitize-configure
	cmake --build $(SANITIZE_BUILD_DIR) --target qmoe_ops -j $(MAX_JOBS)
	QMOE_OPS_LIBRARY=$(CURDIR)/$(SANITIZE_BUILD_DIR)/libqmoe_ops.so PYTHONPATH=$(CURDIR) \
	  LD_PRELOAD="$$(g++ -print-file-name=libasan.so) $$(g++ -print-file-name=libubsan.so)" \
	  ASAN_OPTIONS=$(SANITIZE_ASAN_OPTIONS) UBSAN_OPTIONS=$(SANITIZE_UBSAN_OPTIONS) \
	  $(PYTHON) -m pytest -q -p no:cacheprovider $(SANITIZE_PYTHON_TESTS)

fuzz-deps:
	@if ! dpkg -s cmake $(FUZZ_PACKAGES) >/dev/null 2>&1; then \
	  echo "installing $(FUZZ_PACKAGES)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq cmake $(FUZZ_PACKAGES); \
	fi

fuzz: fuzz-deps
	CC=clang-$(CLANG_VERSION) CXX=clang++-$(CLANG_VERSION) cmake -S . -B $(FUZZ_BUILD_DIR) \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQMOE_BUILD_OPS=OFF -DQMOE_BUILD_TESTS=OFF \
	  -DQMOE_BUILD_FUZZER=ON "-DQMOE_SANITIZE=address;undefined" >/dev/null
	cmake --build $(FUZZ_BUILD_DIR) --target qmoe_program_fuzzer -j $(MAX_JOBS)
	@# New inputs go to the scratch corpus (kept between runs); the seeds are only read.
	mkdir -p $(FUZZ_BUILD_DIR)/corpus $(FUZZ_BUILD_DIR)/artifacts
	OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=$(SANITIZE_UBSAN_OPTIONS) \
	  $(FUZZ_BUILD_DIR)/qmoe_program_fuzzer -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	  -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	  -artifact_prefix=$(FUZZ_BUILD_DIR)/artifacts/ $(FUZZ_BUILD_DIR)/corpus tests/fuzz/corpus
