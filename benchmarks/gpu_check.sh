#!/usr/bin/env bash
# make gpu-check: on a machine with a GPU (the lent H100/H200), in at most ~8 minutes:
# build against the torch that is there (no reinstall), the CUDA tests, compute-sanitizer
# memcheck and racecheck on a small case, the GPU benchmark -> benchmarks/results/gpu.md.
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name())"
MAX_JOBS=${MAX_JOBS:-16} python -m pip install -q --no-build-isolation --no-deps -e .
python -m pytest -q -p no:cacheprovider tests/python/test_ops_cuda.py
for tool in memcheck racecheck; do
  (cd benchmarks && compute-sanitizer --tool "$tool" --error-exitcode 1 python cuda_smoke.py)
done
(cd benchmarks && python bench_circuit.py --device cuda --out results/gpu.md)
