#!/usr/bin/env python
"""The CUDA operators against the plain-PyTorch reference on the same GPU.

Circuit as in bench_circuit.py (``cells.router_circuit``): ``n`` qubits, RX embedding of
``n`` features, 3 StronglyEntanglingLayers, ``<Z_w>`` on every wire; at ``n = 2`` the
paper's router. Cells: forward, forward + adjoint backward and forward + parameter-shift
backward, float32, n in {2, 4, ..., 14} x batch in {1,024; 65,536; 1,048,576} (what fits
in memory); the reference where it fits in ``--mem-limit-gb``; achieved FLOP/s
(docs/flops.md counts) against the device's FP32 peak. Then the issue's targets, the
noisy router (density matrix, 2 qubits) against qmoe's CPU path, and batch-1 latency
eager and under CUDA-graph replay. Times are medians of CUDA-event-timed runs after
warm-up. Writes a Markdown report (device, driver, torch, date) to ``--out``.

    python benchmarks/bench_gpu.py --out benchmarks/results/gpu.md
    python benchmarks/bench_circuit.py --device cuda --out benchmarks/results/gpu.md
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from cells import kind_flops, router_circuit
from flops import circuit_flops

from qmoe_torch import ops, reference
from qmoe_torch.circuits import Circuit

QUBITS = (2, 4, 6, 8, 10, 12, 14)
BATCHES = (1024, 65536, 1048576)
KINDS = ("forward", "adjoint", "parameter_shift")
# Dense FP32 (non-tensor-core) peaks, TFLOP/s, from the vendors' data sheets.
FP32_PEAK_TFLOPS = {"H100 SXM": 67.0, "H100 PCIe": 51.0, "H100 NVL": 60.0, "H200": 67.0}


def median_ms(fn: Callable[[], object], repeats: int) -> float:
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


def make_run(
    circuit: Circuit, batch: int, kind: str, impl: str, device: str
) -> Callable[[], object]:
    """One call of ``kind`` (forward, or forward + a backward by ``kind``'s method)."""
    n = circuit.n_qubits
    x = torch.rand(batch, circuit.n_inputs, device=device) * 3.0
    w = (torch.rand(circuit.n_weights, device=device) * 3.0).requires_grad_()
    masks = circuit.z_masks
    method = "parameter_shift" if kind == "parameter_shift" else "adjoint"
    if impl == "qmoe":

        def forward():
            return ops.expval(
                x, w, circuit.program, n, masks, constants=circuit.constants, diff_method=method
            )
    else:

        def forward():
            return reference.expval(x, w, circuit.program, n, masks, None, circuit.constants)

    if kind == "forward":

        def run():
            with torch.no_grad():
                return forward()

        return run
    grad = torch.ones(batch, len(masks), device=device)

    def run():
        return torch.autograd.grad(forward(), [w], grad)

    return run


def cell_ms(circuit: Circuit, batch: int, kind: str, impl: str) -> float:
    return median_ms(make_run(circuit, batch, kind, impl, "cuda"), 10 if batch >= 65536 else 30)


def fits(n: int, batch: int, kind: str, free_bytes: int) -> bool:
    """qmoe keeps [batch, 2**n] complex64 states (a final state for the adjoint)."""
    state = batch * 2**n * 8
    return state * (2 if kind != "forward" else 1) < 0.5 * free_bytes


def reference_fits(n: int, batch: int, kind: str, limit_bytes: float) -> bool:
    """The reference holds [batch, 2**n] complex states per gate under autograd."""
    return batch * 2**n * 8 * 60 * (3 if kind != "forward" else 1) < limit_bytes


def fp32_peak() -> float | None:
    name = torch.cuda.get_device_name()
    for key, peak in FP32_PEAK_TFLOPS.items():
        if all(part in name for part in key.split()):
            return peak
    return None


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


def noisy_router(p: float = 0.05) -> Circuit:
    """The paper's noisy router (phase 3B): bench_noise.py's circuit at 2 qubits."""
    from bench_noise import router_circuit as noisy_circuit

    return noisy_circuit(2, p)


def cpu_ms(run: Callable[[], object], repeats: int = 3) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


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


def grid_section(args: argparse.Namespace, peak: float | None) -> list[str]:
    lines = [
        "## Grid (float32, ms; FLOP/s by docs/flops.md)",
        "",
        "| n | batch | kind | qmoe | reference | reference / qmoe | qmoe TFLOP/s | % FP32 peak |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    free_bytes, _ = torch.cuda.mem_get_info()
    for n in args.qubits:
        circuit = router_circuit(n)
        flops = circuit_flops(circuit)
        for batch in args.batches:
            for kind in KINDS:
                if kind == "parameter_shift" and batch > 65536:
                    continue  # 2 S + 1 forward runs: the adjoint's cell says enough
                if not fits(n, batch, kind, free_bytes):
                    lines.append(f"| {n} | {batch:,} | {kind} | does not fit | | | | |")
                    continue
                try:
                    ours = cell_ms(circuit, batch, kind, "qmoe")
                except (torch.cuda.OutOfMemoryError, RuntimeError) as error:
                    lines.append(f"| {n} | {batch:,} | {kind} | {type(error).__name__} | | | | |")
                    torch.cuda.empty_cache()
                    continue
                theirs = None
                ref_kind = "forward" if kind == "forward" else "adjoint"
                if kind != "parameter_shift" and reference_fits(
                    n, batch, ref_kind, args.mem_limit_gb * 2**30
                ):
                    try:
                        theirs = cell_ms(circuit, batch, ref_kind, "reference")
                    except torch.cuda.OutOfMemoryError:
                        torch.cuda.empty_cache()
                tflops = kind_flops(flops, kind) * batch / (ours * 1e-3) / 1e12
                ref_text = f"{theirs:.3f}" if theirs else "—"
                ratio = f"{theirs / ours:.1f}x" if theirs else ""
                share = f"{100 * tflops / peak:.1f}%" if peak else "n/a"
                lines.append(
                    f"| {n} | {batch:,} | {kind} | {ours:.3f} | {ref_text} | {ratio} "
                    f"| {tflops:.2f} | {share} |"
                )
                print(lines[-1], flush=True)
    return lines


def targets_section() -> list[str]:
    lines = ["", "## Targets", "", "| target | measured | goal | met |", "|---|---:|---:|---|"]
    paper = router_circuit(2)
    ours = cell_ms(paper, 1048576, "adjoint", "qmoe")
    lines.append(
        f"| paper router fwd+bwd, 1,048,576 tokens | {ours * 1e3:.0f} µs | ≤ 60 µs "
        f"| {'yes' if ours <= 0.060 else 'no'} |"
    )
    wide = router_circuit(8)
    ours = cell_ms(wide, 65536, "adjoint", "qmoe")
    theirs = cell_ms(wide, 65536, "adjoint", "reference")
    lines.append(
        f"| 8 qubits x 3 layers fwd+bwd, 65,536 tokens | {ours:.3f} ms | ≤ 1 ms "
        f"| {'yes' if ours <= 1.0 else 'no'} |"
    )
    lines.append(
        f"| same, against the reference on this GPU | {theirs / ours:.0f}x | ≥ 100x "
        f"| {'yes' if theirs / ours >= 100 else 'no'} |"
    )
    noisy = noisy_router()
    try:
        gpu = cell_ms(noisy, 1048576, "adjoint", "qmoe")
    except (NotImplementedError, RuntimeError) as error:
        lines.append(f"| noisy router (density matrix) fwd+bwd, 1,048,576 | {error} | | no |")
        return lines
    cpu = cpu_ms(make_run(noisy, 1048576, "adjoint", "qmoe", "cpu"))
    lines.append(
        f"| noisy router (density matrix) fwd+bwd, 1,048,576 tokens | {gpu:.3f} ms "
        f"(this machine's CPU path {cpu:.0f} ms: {cpu / gpu:.0f}x) | ≥ 20x the CPU path "
        f"| {'yes' if cpu / gpu >= 20 else 'no'} |"
    )
    lines.append("")
    lines.append(
        "The noisy router's CPU figure is this GPU machine's host CPU; the target names the "
        "2-core development machine, whose figure is in benchmarks/results/cpu_noise.md."
    )
    return lines


def parse_int_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--mem-limit-gb", type=float, default=60.0)
    parser.add_argument("--qubits", type=parse_int_list, default=list(QUBITS))
    parser.add_argument("--batches", type=parse_int_list, default=list(BATCHES))
    parser.add_argument("--no-targets", action="store_true")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_gpu: no CUDA device", file=sys.stderr)
        return 2
    peak = fp32_peak()
    lines = [
        "# qmoe on the GPU",
        "",
        f"- device: {torch.cuda.get_device_name()} (driver {driver_version()})",
        f"- torch {torch.__version__}, CUDA {torch.version.cuda}",
        f"- date: {datetime.date.today().isoformat()}",
        f"- FP32 peak used for %: {peak if peak else 'unknown device'} TFLOP/s",
        "- medians of CUDA-event-timed runs after warm-up",
        "",
    ]
    lines += grid_section(args, peak)
    if not args.no_targets:
        lines += targets_section()
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
