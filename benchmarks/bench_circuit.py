#!/usr/bin/env python
"""Throughput of the fused circuit operators against the plain-PyTorch reference.

Circuit: ``n`` qubits, RX angle embedding of ``n`` input features, 3 StronglyEntanglingLayers,
readout ``<Z_w>`` on every wire (expval). At ``n = 2`` this is the paper's router.

For every (qubits, batch, dtype) cell it times:

- ``forward``          the op's forward (``qmoe_torch.ops.expval``, no gradient tracking),
- ``adjoint``          op forward + ``out.backward(grad)`` with ``diff_method="adjoint"``,
- ``parameter_shift``  the same with ``diff_method="parameter_shift"``,
- ``ref_forward``      ``qmoe_torch.reference.expval`` under ``torch.no_grad()``,
- ``ref_backward``     the reference forward + ``out.backward(grad)`` by autograd.

Backward passes go through the public wrappers with inputs and weights requiring grad, so
autograd's own overhead is included. Cells that would need more than ``--max-run-seconds``
per call (extrapolated from a smaller probe batch) or, for the reference, more than
``--mem-limit-gb`` of memory (estimated) are reported as skipped.

Examples::

    python benchmarks/bench_circuit.py --quick
    python benchmarks/bench_circuit.py --out benchmarks/results/cpu.md
    python benchmarks/bench_circuit.py --qubits 2,8 --batches 1024 --dtypes float32 \\
        --methods forward,adjoint,reference
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from timing import (
    Timing,
    TimingPolicy,
    format_rate,
    format_seconds_ms,
    machine_info,
    markdown_table,
    measure,
    time_once,
)

from qmoe_torch import ops, reference
from qmoe_torch.circuits import AngleEmbedding, Circuit, StronglyEntanglingLayers

REPO = Path(__file__).resolve().parent.parent

KINDS = ("forward", "adjoint", "parameter_shift", "ref_forward", "ref_backward")
LABELS = {
    "forward": "op forward",
    "adjoint": "op fwd+bwd adjoint",
    "parameter_shift": "op fwd+bwd param-shift",
    "ref_forward": "ref forward",
    "ref_backward": "ref fwd+bwd (autograd)",
}
BASELINE = {"forward": "ref_forward", "adjoint": "ref_backward",
            "parameter_shift": "ref_backward"}
ALIASES = {
    "all": KINDS,
    "op": ("forward", "adjoint", "parameter_shift"),
    "reference": ("ref_forward", "ref_backward"),
    "ref": ("ref_forward", "ref_backward"),
    "param_shift": ("parameter_shift",),
    "parameter-shift": ("parameter_shift",),
}
DTYPES = {"float32": torch.float32, "float64": torch.float64}
N_LAYERS = 3

# Probing: a cell's time per call is extrapolated linearly in the batch from a probe run
# of at least PROBE_TIME seconds (or the full batch); probes stop growing when the next one
# would take more than PROBE_BUDGET seconds.
PROBE_TIME = 0.2
PROBE_BUDGET = 2.0


def router_circuit(n_qubits: int, n_layers: int = N_LAYERS) -> Circuit:
    """RX angle embedding, ``n_layers`` StronglyEntanglingLayers, <Z> on every wire."""
    circuit = Circuit(n_qubits)
    circuit.append(AngleEmbedding("X"))
    circuit.append(StronglyEntanglingLayers(n_layers))
    circuit.measure_expval([f"Z{w}" for w in range(n_qubits)])
    return circuit


@dataclasses.dataclass(frozen=True)
class Result:
    timing: Timing | None = None
    skipped: str | None = None


class Bench:
    """Measures cells ``(n_qubits, batch, dtype, kind)`` once each and remembers them."""

    def __init__(self, policy: TimingPolicy, max_run_seconds: float, mem_limit_bytes: float,
                 verbose: bool = True) -> None:
        self.policy = policy
        self.max_run_seconds = max_run_seconds
        self.mem_limit_bytes = mem_limit_bytes
        self.verbose = verbose
        self.results: dict[tuple[int, int, str, str], Result] = {}
        # Per (n_qubits, dtype, kind): the largest batch timed so far and its seconds per call;
        # keys in _measured hold the median of a measured cell rather than a single probe call.
        self._probes: dict[tuple[int, str, str], tuple[int, float]] = {}
        self._measured: set[tuple[int, str, str]] = set()
        self._circuits: dict[int, Circuit] = {}
        self._lanes = 16  # widest SIMD batch of the blocked kernels (float32 on avx512)

    # ------------------------------------------------------------------ workloads
    def circuit(self, n_qubits: int) -> Circuit:
        if n_qubits not in self._circuits:
            self._circuits[n_qubits] = router_circuit(n_qubits)
        return self._circuits[n_qubits]

    def workload(self, n_qubits: int, batch: int, dtype_name: str,
                 kind: str) -> Callable[[], object]:
        """A zero-argument callable doing one call of ``kind`` on fresh random data."""
        circuit = self.circuit(n_qubits)
        dtype = DTYPES[dtype_name]
        gen = torch.Generator().manual_seed(1234 + 31 * n_qubits + batch)
        inputs = torch.rand(batch, circuit.n_inputs, generator=gen, dtype=dtype) * (2 * math.pi)
        weights = torch.rand(circuit.n_weights, generator=gen, dtype=dtype) * (2 * math.pi)
        grad = torch.randn(batch, len(circuit.z_masks), generator=gen, dtype=dtype)
        # Built once, as a model layer would cache them: `ops.run(circuit, ...)` rebuilds the
        # program list from the Circuit on every call (about 10-40 us here).
        program, masks = circuit.program, circuit.z_masks

        if kind == "forward":
            def run() -> object:
                with torch.no_grad():
                    return ops.expval(inputs, weights, program, n_qubits, masks)
            return run
        if kind == "ref_forward":
            def run() -> object:
                with torch.no_grad():
                    return reference.expval(inputs, weights, program, n_qubits, masks)
            return run

        x = inputs.requires_grad_(True)
        w = weights.requires_grad_(True)
        if kind in ("adjoint", "parameter_shift"):
            def forward() -> torch.Tensor:
                return ops.expval(x, w, program, n_qubits, masks, diff_method=kind)
        elif kind == "ref_backward":
            def forward() -> torch.Tensor:
                return reference.expval(x, w, program, n_qubits, masks)
        else:
            raise ValueError(f"unknown kind {kind!r}")

        def run() -> object:
            x.grad = None
            w.grad = None
            out = forward()
            out.backward(grad)
            return out
        return run

    # ------------------------------------------------------------------ skip rules
    def reference_bytes(self, n_qubits: int, batch: int, dtype_name: str, kind: str) -> float:
        """Estimated peak memory of one reference call.

        The state is ``[B, 2**n]`` complex (complex64 for float32). Measured peaks: autograd
        keeps about 1.5 state-sized tensors per operation plus the per-sample ``[B, d, d]``
        gate matrices; the no-grad forward needs about 6 states plus gate temporaries.
        """
        complex_bytes = 8 if dtype_name == "float32" else 16
        state = batch * 2 ** n_qubits * complex_bytes
        matrices = batch * 4 * complex_bytes
        n_ops = len(self.circuit(n_qubits))
        if kind == "ref_backward":
            return n_ops * (1.5 * state + 3 * matrices) + 4 * state
        return 6 * state + 8 * matrices

    def _min_probe_batch(self, n_qubits: int, kind: str) -> int:
        """Smallest probe batch that gives every thread a chunk of the op (its parallel unit)."""
        if kind.startswith("ref"):
            return 1
        lanes = self._lanes if n_qubits <= 10 else 1
        chunk = max(1, 4096 >> n_qubits) * lanes
        return chunk * torch.get_num_threads()

    def _predict(self, n_qubits: int, batch: int, dtype_name: str,
                 kind: str) -> tuple[float, int]:
        """(estimated seconds per call at ``batch``, batch it was extrapolated from)."""
        key = (n_qubits, dtype_name, kind)
        first = key not in self._probes
        b, t = self._probes.get(key, (0, 0.0))
        min_batch = self._min_probe_batch(n_qubits, kind)
        while b < batch:
            next_b = min(batch, b * 8 if b else 1)
            if (t >= PROBE_TIME and b >= min_batch) or (b and t * next_b / b > PROBE_BUDGET):
                break
            fn = self.workload(n_qubits, next_b, dtype_name, kind)
            b, t = next_b, time_once(fn)
            if first:  # the first call of a shape may pay one-time costs
                t = min(t, time_once(fn))
                first = False
            self._probes[key] = (b, t)
            self._measured.discard(key)
        return t * batch / b, b

    def _confirm(self, n_qubits: int, batch: int, dtype_name: str,
                 kind: str) -> tuple[float, int]:
        """Checks an estimate over the limit before the cell is skipped.

        Re-times the probe (a busy machine can slow one call down), then doubles the probe
        batch until its time grows with the batch: a probe dominated by fixed per-call costs
        would otherwise be extrapolated as if every sample cost that much.
        """
        key = (n_qubits, dtype_name, kind)
        b, t = self._probes[key]
        if key in self._measured:  # a median of several calls already
            return t * batch / b, b
        t = min(t, time_once(self.workload(n_qubits, b, dtype_name, kind)))
        while b < batch and t <= 2 * PROBE_BUDGET:
            next_b = min(batch, 2 * b)
            next_t = time_once(self.workload(n_qubits, next_b, dtype_name, kind))
            grew = next_t >= t * (1 + 0.5 * (next_b / b - 1))
            b, t = next_b, next_t
            if grew:
                break
        self._probes[key] = (b, t)
        return t * batch / b, b

    # ------------------------------------------------------------------ measuring
    def cell(self, n_qubits: int, batch: int, dtype_name: str, kind: str) -> Result:
        key = (n_qubits, batch, dtype_name, kind)
        if key in self.results:
            return self.results[key]
        result = self._measure_cell(n_qubits, batch, dtype_name, kind)
        self.results[key] = result
        if self.verbose:
            text = (f"skipped ({result.skipped})" if result.timing is None
                    else f"{format_seconds_ms(result.timing.median)} ms "
                         f"({result.timing.repeats} reps)")
            print(f"  n={n_qubits:<2} batch={batch:<6} {dtype_name} {LABELS[kind]}: {text}",
                  file=sys.stderr, flush=True)
        return result

    def _measure_cell(self, n_qubits: int, batch: int, dtype_name: str, kind: str) -> Result:
        if kind.startswith("ref"):
            need = self.reference_bytes(n_qubits, batch, dtype_name, kind)
            if need > self.mem_limit_bytes:
                return Result(skipped=f"~{need / 2**30:.1f} GiB est. "
                                      f"> {self.mem_limit_bytes / 2**30:g} GiB")
        estimate, probe_batch = self._predict(n_qubits, batch, dtype_name, kind)
        if estimate > self.max_run_seconds:
            estimate, probe_batch = self._confirm(n_qubits, batch, dtype_name, kind)
        if estimate > self.max_run_seconds:
            return Result(skipped=f"~{estimate:.0f} s/call est. from batch {probe_batch:,} "
                                  f"> {self.max_run_seconds:g} s")
        # A probe at the full batch has already warmed this shape up; a call of a second or
        # more amortises one-time costs, and the probes at smaller batches ran the same code.
        timing = measure(self.workload(n_qubits, batch, dtype_name, kind), self.policy,
                         warm=probe_batch == batch or estimate >= 1.0)
        key = (n_qubits, dtype_name, kind)
        if batch >= self._probes.get(key, (0, 0.0))[0]:
            self._probes[key] = (batch, timing.median)
            self._measured.add(key)
        return Result(timing=timing)

    def speedup(self, n_qubits: int, batch: int, dtype_name: str, kind: str) -> float | None:
        """Reference median / op median for the same cell, when both were measured."""
        if kind not in BASELINE:
            return None
        mine = self.results.get((n_qubits, batch, dtype_name, kind))
        ref = self.results.get((n_qubits, batch, dtype_name, BASELINE[kind]))
        if mine is None or ref is None or mine.timing is None or ref.timing is None:
            return None
        return ref.timing.median / mine.timing.median


# ---------------------------------------------------------------------- reporting
def _speedup_text(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f}×" if value >= 10 else f"{value:.2f}×"


def _reference_text(result: Result | None) -> str:
    if result is None:
        return "not measured"
    if result.timing is None:
        return f"skipped ({result.skipped})"
    return format_seconds_ms(result.timing.median)


def _result_cells(result: Result, batch: int) -> list[str]:
    if result.timing is None:
        return [f"skipped ({result.skipped})", "", "", ""]
    t = result.timing
    return [format_seconds_ms(t.median), format_seconds_ms(t.min),
            format_rate(batch / t.median), str(t.repeats)]


def targets_section(bench: Bench, router_batch: int, wide_qubits: int, wide_batch: int,
                    dtypes: Sequence[str]) -> list[str]:
    """The fixed headline numbers (measured on the first call, read from the cache later).

    The router's reference column is filled when the grid measured that cell too.
    """
    header = ["target", "dtype", "batch", "median ms", "min ms", "samples/s", "reps",
              "reference median ms", "speed-up vs reference"]
    rows = []
    for dtype_name in dtypes:
        result = bench.cell(2, router_batch, dtype_name, "adjoint")
        rows.append(["paper router (2 qubits): fwd+bwd adjoint", dtype_name, f"{router_batch:,}",
                     *_result_cells(result, router_batch),
                     _reference_text(bench.results.get((2, router_batch, dtype_name,
                                                        "ref_backward"))),
                     _speedup_text(bench.speedup(2, router_batch, dtype_name, "adjoint"))])
    for dtype_name in dtypes:
        ref = bench.cell(wide_qubits, wide_batch, dtype_name, "ref_backward")
        result = bench.cell(wide_qubits, wide_batch, dtype_name, "adjoint")
        rows.append([f"{wide_qubits} qubits: fwd+bwd adjoint vs reference", dtype_name,
                     f"{wide_batch:,}", *_result_cells(result, wide_batch), _reference_text(ref),
                     _speedup_text(bench.speedup(wide_qubits, wide_batch, dtype_name,
                                                 "adjoint"))])
    lines = ["## Targets", "",
             f"Circuit: RX angle embedding, {N_LAYERS} StronglyEntanglingLayers, <Z> on every "
             "wire; forward + `out.backward(grad)` through `qmoe_torch.ops.expval` (program "
             "list built once), inputs and "
             "weights requiring grad. The reference is `qmoe_torch.reference.expval` "
             "differentiated by autograd (for the router: only when the grid below has that "
             "cell).", ""]
    lines += markdown_table(header, rows, right={2, 3, 4, 5, 6, 7, 8})
    return lines


def grid_section(bench: Bench, qubits: Sequence[int], batches: Sequence[int],
                 dtypes: Sequence[str], kinds: Sequence[str]) -> list[str]:
    """Every (qubits, batch, dtype, kind) cell."""
    # Reference cells first, so they are in the cache when the op cells look for a speed-up.
    order = sorted(kinds, key=lambda k: (not k.startswith("ref"), KINDS.index(k)))
    for n_qubits in qubits:
        for batch in batches:
            for dtype_name in dtypes:
                for kind in order:
                    bench.cell(n_qubits, batch, dtype_name, kind)
    header = ["n", "batch", "dtype", "what", "median ms", "min ms", "samples/s", "reps",
              "speed-up vs reference"]
    rows = []
    for n_qubits in qubits:
        for batch in batches:
            for dtype_name in dtypes:
                for kind in kinds:
                    result = bench.results[(n_qubits, batch, dtype_name, kind)]
                    rows.append([str(n_qubits), f"{batch:,}", dtype_name, LABELS[kind],
                                 *_result_cells(result, batch),
                                 _speedup_text(bench.speedup(n_qubits, batch, dtype_name,
                                                             kind))])
    lines = ["## All cells", "",
             "Speed-up: reference median / op median for the same cell (op forward vs ref "
             "forward, op fwd+bwd vs ref fwd+bwd).", ""]
    lines += markdown_table(header, rows, right={0, 1, 4, 5, 6, 7, 8})
    return lines


# ---------------------------------------------------------------------- command line
def _int_list(text: str) -> list[int]:
    try:
        values = [int(v.replace("_", "")) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") \
            from exc
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _dtype_list(text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in values if v not in DTYPES]
    if not values or unknown:
        raise argparse.ArgumentTypeError(f"dtypes must be among {', '.join(DTYPES)}, got {text!r}")
    return values


def _kind_list(text: str) -> list[str]:
    chosen: list[str] = []
    for value in (v.strip() for v in text.split(",") if v.strip()):
        expanded = ALIASES.get(value, (value,))
        for kind in expanded:
            if kind not in KINDS:
                raise argparse.ArgumentTypeError(
                    f"unknown method {value!r}; choose from {', '.join(KINDS)} "
                    f"or {', '.join(ALIASES)}")
            if kind not in chosen:
                chosen.append(kind)
    if not chosen:
        raise argparse.ArgumentTypeError("no methods given")
    return sorted(chosen, key=KINDS.index)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the fused qmoe circuit operators against the PyTorch reference "
                    "(RX embedding + 3 StronglyEntanglingLayers + <Z> on every wire).")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and short timings, for a smoke test (~10-30 s)")
    parser.add_argument("--qubits", type=_int_list, default=None,
                        help="comma-separated qubit counts (default 2,4,8,12; quick: 2,4)")
    parser.add_argument("--batches", type=_int_list, default=None,
                        help="comma-separated batch sizes (default 1,1024,65536; quick: 1,256)")
    parser.add_argument("--dtypes", type=_dtype_list, default=None,
                        help="comma-separated: float32,float64 (default both)")
    parser.add_argument("--methods", type=_kind_list, default=None,
                        help=f"comma-separated among {', '.join(KINDS)}; aliases: "
                             f"{', '.join(ALIASES)} (default all)")
    parser.add_argument("--no-targets", action="store_true",
                        help="leave out the fixed targets section")
    parser.add_argument("--out", type=Path, default=None,
                        help="also write the Markdown report to this file")
    parser.add_argument("--max-run-seconds", type=float, default=20.0,
                        help="skip a cell whose single call is estimated to take longer "
                             "(default 20)")
    parser.add_argument("--mem-limit-gb", type=float, default=4.0,
                        help="skip a reference cell estimated to need more GiB (default 4)")
    parser.add_argument("--min-time", type=float, default=None,
                        help="seconds of timed calls per cell, at least (default 0.5; quick 0.05)")
    parser.add_argument("--min-repeats", type=int, default=None,
                        help="timed calls per cell, at least (default 5; quick 3)")
    parser.add_argument("--max-time", type=float, default=None,
                        help="a slow cell stops after this many seconds once it has 3 calls "
                             "(default 10; quick 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)

    quick = args.quick
    args.qubits = sorted(set(args.qubits or ([2, 4] if quick else [2, 4, 8, 12])))
    args.batches = sorted(set(args.batches or ([1, 256] if quick else [1, 1024, 65536])))
    args.dtypes = args.dtypes or ["float32", "float64"]
    args.methods = args.methods or list(KINDS)
    args.min_time = args.min_time if args.min_time is not None else (0.05 if quick else 0.5)
    args.min_repeats = args.min_repeats if args.min_repeats is not None else (3 if quick else 5)
    args.max_time = args.max_time if args.max_time is not None else (1.0 if quick else 10.0)
    # Targets: the paper router at 65,536 samples and 8 qubits at 4,096 (scaled down by --quick).
    args.router_batch = 4096 if quick else 65536
    args.wide_qubits, args.wide_batch = 8, (64 if quick else 4096)
    return args


def _warm_up() -> None:
    """First calls pay one-time costs (library load, thread pool start-up): pay them here."""
    circuit = router_circuit(2)
    for dtype in DTYPES.values():
        x = torch.rand(64, 2, dtype=dtype, requires_grad=True)
        w = torch.rand(circuit.n_weights, dtype=dtype, requires_grad=True)
        for method in ("adjoint", "parameter_shift"):
            out = ops.run(circuit, x, w, diff_method=method)
            out.backward(torch.ones_like(out))
        out = reference.expval(x, w, circuit.program, 2, circuit.z_masks)
        out.backward(torch.ones_like(out))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    policy = TimingPolicy(min_time=args.min_time, min_repeats=args.min_repeats,
                          max_time=args.max_time)
    bench = Bench(policy, args.max_run_seconds, args.mem_limit_gb * 2**30,
                  verbose=not args.quiet)
    _warm_up()

    lines = ["# qmoe circuit benchmark" + (" (--quick: smoke-test sizes)" if args.quick else ""),
             ""]
    lines += [f"- {label}: {value}" for label, value in
              machine_info(REPO, ops.active_isa(), ops.supported_isas())]
    lines += [
        f"- timing: `time.perf_counter`, warm-up then >= {policy.min_repeats} calls and "
        f">= {policy.min_time:g} s per cell (slow cells: >= {policy.slow_repeats} calls, "
        f"{policy.max_time:g} s); median and min per call",
        f"- skipped: calls estimated over {args.max_run_seconds:g} s, reference cells "
        f"estimated over {args.mem_limit_gb:g} GiB",
        f"- command: `python {' '.join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])}`"
        if argv is None else f"- arguments: `{' '.join(argv)}`",
        "",
    ]
    targets = (args.router_batch, args.wide_qubits, args.wide_batch, args.dtypes)
    if not args.no_targets:
        targets_section(bench, *targets)  # measure the headline cells first
    grid = grid_section(bench, args.qubits, args.batches, args.dtypes, args.methods)
    if not args.no_targets:
        lines += targets_section(bench, *targets) + [""]
    lines += grid
    report = "\n".join(lines) + "\n"
    print(report, end="")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
