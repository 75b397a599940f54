#!/usr/bin/env python
"""Throughput of the fused circuit operators against the plain-PyTorch reference.

Circuit: ``n`` qubits, RX angle embedding of ``n`` input features, 3 StronglyEntanglingLayers,
readout ``<Z_w>`` on every wire (expval). At ``n = 2`` this is the paper's router. The cells
(op forward, op fwd+bwd adjoint and parameter shift, reference forward and fwd+bwd) are
described in ``cells.py``.

By default the full grid: n in {2, 4, ..., 16} x batch in {1, 64, 4096, 65536}, float32 and
float64, every kind; about 15 minutes on a quiet 2-core machine. A cell whose single
call is estimated over its limit (``--max-run-seconds`` for the op, ``--max-ps-seconds``
for parameter shift, ``--max-ref-seconds`` for the reference; extrapolated from a smaller
probe batch) or, for the reference, over ``--mem-limit-gb`` of memory, is reported as
skipped. The report also has the measured FMA peak (``fma_peak.c``, built at run time with
the system C compiler), GFLOP/s and % of that peak per cell (flop count: docs/flops.md),
the targets with met/missed, batch-1 latency against trivial PyTorch calls, and a plot of
samples/s against n (PNG next to ``--out``; needs matplotlib).

Examples::

    python benchmarks/bench_circuit.py --quick --out /tmp/quick.md
    python benchmarks/bench_circuit.py --out benchmarks/results/cpu.md
    python benchmarks/bench_circuit.py --qubits 2,8 --batches 1024 --dtypes float32 \\
        --methods forward,adjoint,reference
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from cells import KINDS, LABELS, Bench, Limits, router_circuit
from latency import SAME_PASS, measure_trivial
from peak import Peak, measure_peak, peak_section
from plot import plot_samples_per_s
from report import (
    flops_section,
    grid_section,
    latency_section,
    measure_targets,
    targets,
    targets_section,
)
from timing import TimingPolicy, machine_info

from qmoe_torch import ops, reference

REPO = Path(__file__).resolve().parent.parent

ALIASES = {
    "all": KINDS,
    "op": ("forward", "adjoint", "parameter_shift"),
    "reference": ("ref_forward", "ref_backward"),
    "ref": ("ref_forward", "ref_backward"),
    "param_shift": ("parameter_shift",),
    "parameter-shift": ("parameter_shift",),
}
DTYPE_NAMES = ("float32", "float64")
FULL_QUBITS = (2, 4, 6, 8, 10, 12, 14, 16)
FULL_BATCHES = (1, 64, 4096, 65536)
PLOT_BATCHES = (4096, 65536)
PLOT_KINDS = ("forward", "adjoint", "ref_forward", "ref_backward")


# ---------------------------------------------------------------------- command line
def _int_list(text: str) -> list[int]:
    try:
        values = [int(v.replace("_", "")) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from exc
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _dtype_list(text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in values if v not in DTYPE_NAMES]
    if not values or unknown:
        raise argparse.ArgumentTypeError(
            f"dtypes must be among {', '.join(DTYPE_NAMES)}, got {text!r}"
        )
    return values


def _kind_list(text: str) -> list[str]:
    chosen: list[str] = []
    for value in (v.strip() for v in text.split(",") if v.strip()):
        expanded = ALIASES.get(value, (value,))
        for kind in expanded:
            if kind not in KINDS:
                raise argparse.ArgumentTypeError(
                    f"unknown method {value!r}; choose from {', '.join(KINDS)} "
                    f"or {', '.join(ALIASES)}"
                )
            if kind not in chosen:
                chosen.append(kind)
    if not chosen:
        raise argparse.ArgumentTypeError("no methods given")
    return sorted(chosen, key=KINDS.index)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the fused qmoe circuit operators against the PyTorch reference "
        "(RX embedding + 3 StronglyEntanglingLayers + <Z> on every wire). Default: the full "
        "grid (~15 min on a quiet 2-core machine); --quick for a smoke test."
    )
    add = parser.add_argument
    add(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="cuda: the GPU grid of bench_gpu.py (its own options follow)",
    )
    add("--quick", action="store_true", help="tiny sizes and short timings (~30 s)")
    add(
        "--qubits",
        type=_int_list,
        help="comma-separated qubit counts (default 2,4,...,16; quick: 2,4)",
    )
    add(
        "--batches",
        type=_int_list,
        help="comma-separated batch sizes (default 1,64,4096,65536; quick: 1,256)",
    )
    add("--dtypes", type=_dtype_list, help="comma-separated: float32,float64 (default both)")
    add(
        "--methods",
        type=_kind_list,
        help=f"comma-separated among {', '.join(KINDS)}; "
        f"aliases: {', '.join(ALIASES)} (default all)",
    )
    add("--no-targets", action="store_true", help="leave out the targets section")
    add("--no-latency", action="store_true", help="leave out the batch-1 latency section")
    add("--no-peak", action="store_true", help="skip the FMA peak probe (no %% peak)")
    add("--out", type=Path, help="also write the Markdown report to this file")
    add(
        "--plot",
        type=Path,
        help="PNG of samples/s vs qubits (default: next to --out, <stem>_samples_per_s.png)",
    )
    add("--no-plot", action="store_true", help="draw no plot")
    add(
        "--max-run-seconds",
        type=float,
        default=10.0,
        help="skip an op forward / adjoint cell whose call is estimated longer (default 10)",
    )
    add(
        "--max-ps-seconds",
        type=float,
        default=4.0,
        help="the same for parameter-shift cells (default 4)",
    )
    add(
        "--max-ref-seconds",
        type=float,
        default=10.0,
        help="the same for reference cells (default 10)",
    )
    add(
        "--mem-limit-gb",
        type=float,
        default=4.0,
        help="skip a reference cell estimated to need more GiB (default 4)",
    )
    add(
        "--min-time",
        type=float,
        help="seconds of timed calls per cell, at least (default 0.5; quick 0.05)",
    )
    add("--min-repeats", type=int, help="timed calls per cell, at least (default 5; quick 3)")
    add(
        "--max-time",
        type=float,
        help="a slow cell stops after this many seconds once it has 3 calls (default 4; quick 1)",
    )
    add("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)

    quick = args.quick
    args.qubits = sorted(set(args.qubits or ([2, 4] if quick else FULL_QUBITS)))
    args.batches = sorted(set(args.batches or ([1, 256] if quick else FULL_BATCHES)))
    args.dtypes = args.dtypes or list(DTYPE_NAMES)
    args.methods = args.methods or list(KINDS)
    args.min_time = args.min_time if args.min_time is not None else (0.05 if quick else 0.5)
    args.min_repeats = args.min_repeats if args.min_repeats is not None else (3 if quick else 5)
    args.max_time = args.max_time if args.max_time is not None else (1.0 if quick else 4.0)
    args.peak_seconds, args.peak_repeats = (0.1, 2) if quick else (0.2, 3)
    # Targets: the paper router at 65,536 samples and 8 qubits at 4,096 (scaled down by --quick).
    args.router_batch = 4096 if quick else 65536
    args.wide_qubits, args.wide_batch = 8, (64 if quick else 4096)
    if args.plot is None and args.out is not None:
        args.plot = args.out.with_name(f"{args.out.stem}_samples_per_s.png")
    if args.no_plot:
        args.plot = None
    return args


# ---------------------------------------------------------------------- running
def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _warm_up() -> None:
    """First calls pay one-time costs (library load, thread pool start-up): pay them here."""
    circuit = router_circuit(2)
    for dtype in (torch.float32, torch.float64):
        x = torch.rand(64, 2, dtype=dtype, requires_grad=True)
        w = torch.rand(circuit.n_weights, dtype=dtype, requires_grad=True)
        for method in ("adjoint", "parameter_shift"):
            out = ops.run(circuit, x, w, diff_method=method)
            out.backward(torch.ones_like(out))
        out = reference.expval(x, w, circuit.program, 2, circuit.z_masks)
        out.backward(torch.ones_like(out))


def _probe_peak(args: argparse.Namespace, when: str) -> tuple[Peak | None, str]:
    if args.no_peak:
        return None, "--no-peak"
    _log(f"FMA peak probe ({when})...")
    peak, message = measure_peak(
        ops.active_isa(), torch.get_num_threads(), args.peak_seconds, args.peak_repeats
    )
    if peak is None:
        _log(message)
    else:
        _log(
            f"  GFLOP/s fp32 {peak.one_thread['float32']:.1f} (1 thread) "
            f"{peak.all_threads['float32']:.1f} (all); fp64 {peak.one_thread['float64']:.1f} "
            f"{peak.all_threads['float64']:.1f}"
        )
    return peak, message


def _doc_link(out: Path | None) -> str:
    """docs/flops.md relative to a report inside the repository, else repository-relative."""
    if out is not None and out.resolve().is_relative_to(REPO):
        return os.path.relpath(REPO / "docs" / "flops.md", out.resolve().parent)
    return "docs/flops.md"


def _samples_per_s(bench: Bench, n: int, batch: int, dtype: str, kind: str) -> float | None:
    t = bench.timing(n, batch, dtype, kind)
    return None if t is None else batch / t.median


def _plot_lines(bench: Bench, args: argparse.Namespace, report_dir: Path | None) -> list[str]:
    if args.plot is None:
        return []
    batches = [b for b in PLOT_BATCHES if b in args.batches] or [max(args.batches)]
    kinds = [k for k in PLOT_KINDS if k in args.methods]
    panels = {
        batch: {
            f"{dtype} {LABELS[kind]}": [
                (n, _samples_per_s(bench, n, batch, dtype, kind)) for n in args.qubits
            ]
            for dtype in args.dtypes
            for kind in kinds
        }
        for batch in batches
    }
    message = plot_samples_per_s(panels, args.plot, f"qmoe circuit benchmark, {ops.active_isa()}")
    _log(message)
    if not message.startswith("plot written"):
        return [f"Plot: {message}.", ""]
    link = os.path.relpath(args.plot, report_dir) if report_dir else str(args.plot)
    return [
        "## Samples/s against qubits",
        "",
        f"![samples/s vs qubits at batch {', '.join(f'{b:,}' for b in batches)}]({link})",
        "",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    device = argparse.ArgumentParser(add_help=False)
    device.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    known, rest = device.parse_known_args(argv)
    if known.device == "cuda":
        # The GPU grid has its own cells, timing (CUDA events) and report: bench_gpu.py.
        import bench_gpu

        return bench_gpu.main(rest)
    args = parse_args(rest)
    started = time.perf_counter()
    policy = TimingPolicy(
        min_time=args.min_time, min_repeats=args.min_repeats, max_time=args.max_time
    )
    limits = Limits(
        op_seconds=args.max_run_seconds,
        shift_seconds=args.max_ps_seconds,
        ref_seconds=args.max_ref_seconds,
        ref_bytes=args.mem_limit_gb * 2**30,
    )
    bench = Bench(policy, limits, verbose=not args.quiet)
    info = machine_info(REPO, ops.active_isa(), ops.supported_isas())  # load average first
    peak_before, message = _probe_peak(args, "before")
    _warm_up()

    goals = targets(args.router_batch, args.wide_qubits, args.wide_batch)
    if not args.no_targets:
        measure_targets(bench, goals, args.dtypes)  # the headline cells first
    # Reference cells first, so they are in the cache when the op cells look for a speed-up.
    order = sorted(args.methods, key=lambda k: (not k.startswith("ref"), KINDS.index(k)))
    for n in args.qubits:
        for batch in args.batches:
            for dtype_name in args.dtypes:
                for kind in order:
                    bench.cell(n, batch, dtype_name, kind)
    latency_qubits = args.qubits if 1 in args.batches else [2]
    trivial = {}
    if not args.no_latency:
        for n in latency_qubits:
            for dtype_name in args.dtypes:
                for kind in SAME_PASS:
                    bench.cell(n, 1, dtype_name, kind)
        trivial = measure_trivial(args.dtypes, policy)
    peak_after = _probe_peak(args, "after")[0] if peak_before is not None else None
    peak = peak_before.combined(peak_after) if peak_before is not None else None
    minutes = (time.perf_counter() - started) / 60

    title = "# qmoe circuit benchmark" + (" (--quick: smoke-test sizes)" if args.quick else "")
    command = (
        f"- command: `python {' '.join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])}`"
        if argv is None
        else f"- arguments: `{' '.join(argv)}`"
    )
    lines = [title, "", *(f"- {label}: {value}" for label, value in info)]
    lines += [
        f"- timing: `time.perf_counter`, warm-up then >= {policy.min_repeats} calls and "
        f">= {policy.min_time:g} s per cell (slow cells: >= {policy.slow_repeats} calls, "
        f"{policy.max_time:g} s); median and min per call",
        f"- skipped: calls estimated over {limits.op_seconds:g} s (op), "
        f"{limits.shift_seconds:g} s (parameter shift), {limits.ref_seconds:g} s (reference); "
        f"reference cells estimated over {args.mem_limit_gb:g} GiB",
        f"- grid: qubits {', '.join(map(str, args.qubits))}; batches "
        f"{', '.join(f'{b:,}' for b in args.batches)}; {', '.join(args.dtypes)}",
        f"- run time: {minutes:.1f} min",
        command,
        "",
    ]
    lines += peak_section(peak_before, peak_after, message)
    lines += flops_section(bench, args.qubits, _doc_link(args.out))
    if not args.no_targets:
        lines += targets_section(bench, peak, goals, args.dtypes, args.quick)
    if not args.no_latency:
        lines += latency_section(bench, trivial, latency_qubits, args.dtypes)
    lines += _plot_lines(bench, args, args.out.parent if args.out else None)
    lines += grid_section(bench, peak, args.qubits, args.batches, args.dtypes, args.methods)
    report = "\n".join(lines).rstrip() + "\n"
    print(report, end="")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
