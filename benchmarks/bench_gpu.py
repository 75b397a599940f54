#!/usr/bin/env python
"""The CUDA operators against the plain-PyTorch reference on the same GPU.

Circuit as in bench_circuit.py (``cells.router_circuit``): ``n`` qubits, RX embedding of
``n`` features, 3 StronglyEntanglingLayers, ``<Z_w>`` on every wire; at ``n = 2`` the
paper's router. Cells: forward and forward + adjoint backward, float32, n in {2, 4, 6,
8, 10} (the CUDA kernels' range today) x batch in {1,024; 65,536; 1,048,576}; the
reference where it fits in ``--mem-limit-gb``. Times are medians of CUDA-event-timed
runs after warm-up; batch-1 latency eager and under CUDA-graph replay. Writes a
Markdown report (device, driver, torch, date) to ``--out``.

    python benchmarks/bench_gpu.py --out benchmarks/results/gpu.md
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import subprocess
import sys
from pathlib import Path

import torch
from cells import router_circuit

from qmoe_torch import ops, reference

QUBITS = (2, 4, 6, 8, 10)
BATCHES = (1024, 65536, 1048576)


def median_ms(fn, repeats: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def cell(n: int, batch: int, kind: str, impl: str) -> float:
    circuit = router_circuit(n)
    x = torch.rand(batch, n, device="cuda") * 3.0
    w = (torch.rand(circuit.n_weights, device="cuda") * 3.0).requires_grad_()
    masks = [1 << q for q in range(n)]
    if impl == "qmoe":

        def forward():
            return ops.expval(x, w, circuit.program, n, masks, constants=circuit.constants)
    else:

        def forward():
            return reference.expval(x, w, circuit.program, n, masks, None, circuit.constants)

    if kind == "forward":

        def run():
            with torch.no_grad():
                forward()
    else:
        grad = torch.ones(batch, n, device="cuda")

        def run():
            torch.autograd.grad(forward(), [w], grad)

    return median_ms(run, repeats=10 if batch >= 65536 else 30)


def graph_latency_us(n: int) -> tuple[float, float]:
    circuit = router_circuit(n)
    x = torch.rand(1, n, device="cuda")
    w = torch.rand(circuit.n_weights, device="cuda")
    masks = [1 << q for q in range(n)]

    def forward():
        return ops.expval(x, w, circuit.program, n, masks, constants=circuit.constants)

    eager = median_ms(forward, 200) * 1e3
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            forward()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        forward()
    return eager, median_ms(graph.replay, 200) * 1e3


def driver_version() -> str:
    try:
        return subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--mem-limit-gb", type=float, default=60.0)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_gpu: no CUDA device", file=sys.stderr)
        return 2
    lines = [
        "# qmoe on the GPU",
        "",
        f"- device: {torch.cuda.get_device_name()} (driver {driver_version()})",
        f"- torch {torch.__version__}, CUDA {torch.version.cuda}",
        f"- date: {datetime.date.today().isoformat()}",
        "- float32, medians of CUDA-event-timed runs; ms",
        "",
        "| n | batch | kind | qmoe | reference | reference / qmoe |",
        "|---:|---:|---|---:|---:|---:|",
    ]
    for n in QUBITS:
        for batch in BATCHES:
            for kind in ("forward", "forward+backward"):
                try:
                    ours = cell(n, batch, kind, "qmoe")
                except (torch.cuda.OutOfMemoryError, RuntimeError) as error:
                    lines.append(f"| {n} | {batch:,} | {kind} | {type(error).__name__} | | |")
                    torch.cuda.empty_cache()
                    continue
                # the reference holds [batch, 2**n] complex states per gate (autograd)
                reference_bytes = batch * (2**n) * 8 * 60 * (3 if kind != "forward" else 1)
                theirs = None
                if reference_bytes < args.mem_limit_gb * 2**30:
                    try:
                        theirs = cell(n, batch, kind, "reference")
                    except torch.cuda.OutOfMemoryError:
                        torch.cuda.empty_cache()
                ref_text = f"{theirs:.3f}" if theirs else "skipped (memory)"
                ratio = f"{theirs / ours:.1f}x" if theirs else ""
                lines.append(f"| {n} | {batch:,} | {kind} | {ours:.3f} | {ref_text} | {ratio} |")
                print(lines[-1], flush=True)
    lines += ["", "## Batch-1 latency (forward, µs)", "", "| n | eager | CUDA graph replay |"]
    lines.append("|---:|---:|---:|")
    for n in (2, 8):
        eager, replay = graph_latency_us(n)
        lines.append(f"| {n} | {eager:.1f} | {replay:.1f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
