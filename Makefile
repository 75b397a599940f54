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

# bench-peers: qmoe against PennyLane, TorchQuantum, Qiskit Aer, TensorCircuit and qulacs on
# the same cells (benchmarks/bench_peers.py -> benchmarks/results/peers-cpu.md and .png).
# The peers go into a virtual environment of their own that sees the system's torch and
# qmoe (--system-site-packages), never into the project's; each requirement is installed on
# its own, so one that cannot be leaves the others (the report lists what did not import).
# PEERS_ARGS: extra options, e.g. --device cuda on a machine with a GPU. About 15 minutes.
PEERS_VENV ?= build/peers-venv
PEERS_PYTHON := $(PEERS_VENV)/bin/python
PEERS_ARGS ?=

.PHONY: peers-env bench-peers
peers-env:
	@test -x $(PEERS_PYTHON) || $(PYTHON) -m venv --system-site-packages $(PEERS_VENV)
	@grep -v '^#' requirements-peers.txt | while read -r req; do [ -z "$$req" ] || \
	  $(PEERS_PYTHON) -m pip install -q "$$req" || echo "bench-peers: $$req not installed"; done
	@grep -v '^#' requirements-peers-nodeps.txt | while read -r req; do [ -z "$$req" ] || \
	  $(PEERS_PYTHON) -m pip install -q --no-deps "$$req" || echo "bench-peers: $$req not installed"; done
	@$(PEERS_PYTHON) -c "import matplotlib" 2>/dev/null || $(PEERS_PYTHON) -m pip install -q matplotlib

bench-peers: build-python peers-env
	$(PEERS_PYTHON) benchmarks/bench_peers.py $(PEERS_ARGS)

# ---- the C++ package (cmake/package.cmake; tests/python/test_cpp_package.py in make test)
# cpp-package: qmoe::ops and qmoe::nn installed from the folder setup.py builds in (the op
# library is not compiled twice) into CPP_PACKAGE_PREFIX, for find_package(qmoe).
# bench-cpp: C++ (AOTInductor, qmoe::nn) against Python latency -> benchmarks/results/.
CPP_PACKAGE_PREFIX ?= build/cpp-package/prefix

.PHONY: cpp-package bench-cpp

cpp-package: build-python
	cmake --build build/ops --target qmoe_nn -j $(MAX_JOBS)
	cmake --install build/ops --prefix $(CPP_PACKAGE_PREFIX)

bench-cpp: cpp-package
	$(PYTHON) benchmarks/bench_cpp.py --prefix $(CPP_PACKAGE_PREFIX) --jobs $(MAX_JOBS) \
	  --out benchmarks/results/cpp-latency.md

# The paper's experiments (arXiv 2512.22296) at its sizes with 10 seeds and a held-out test
# split, plus a reviewer's extras, every comparison with a paired 95% interval
# (qmoe_torch.experiments; about 200 CPU-seconds, 2.5 minutes on 2 idle cores): prints the
# table and writes it with the figures into $(DEMO_OUT). DEMO_SEEDS=30 for more seeds.
DEMO_OUT ?= results/demo
DEMO_SEEDS ?= 10

demo: build-python
	$(PYTHON) -m pip install -q -r requirements-demo.txt
	$(PYTHON) -m qmoe_torch.experiments demo --seeds $(DEMO_SEEDS) --out $(DEMO_OUT)

# Not part of `make demo`: quantum routers in a small MoE language model (byte-level, on
# the help files of Debian's vim-runtime), 4 routers x 3 seeds, about 340 CPU-seconds
# (9 minutes of wall time at load average 1.7 on 2 cores) -> $(LM_OUT).
LM_OUT ?= results/lm

.PHONY: experiment-lm
experiment-lm: build-python
	$(PYTHON) -m pip install -q -r requirements-demo.txt
	@dpkg -s vim-runtime >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq vim-runtime; }
	$(PYTHON) -m qmoe_torch.experiments lm --out $(LM_OUT)

# The expert-parallel example (README: Expert parallelism) on 2 CPU processes (gloo),
# checkpointed at step 20 and resumed at 1 process up to step 40.
DISTRIBUTED_OUT ?= build/distributed-example

.PHONY: example-distributed
example-distributed:
	$(PYTHON) -m torch.distributed.run --standalone --nproc_per_node=2 examples/distributed_moe.py \
	  --steps 20 --save-dir $(DISTRIBUTED_OUT) --save-every 20
	$(PYTHON) -m torch.distributed.run --standalone --nproc_per_node=1 examples/distributed_moe.py \
	  --steps 40 --resume $(DISTRIBUTED_OUT)/step-20

# Style: clang-format (.clang-format, dry run: any change needed is an error) over
# the C++ and CUDA sources, ruff check and ruff format --check over the Python.
LINT_PACKAGES := clang-format
CPP_LINT_DIRS := csrc cuda tests/cpp tests/cuda tests/fuzz tests/cpp_package examples benchmarks/cpp_latency
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
