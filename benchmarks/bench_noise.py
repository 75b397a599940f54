#!/usr/bin/env python
"""What noise costs: the density-matrix engine on the paper's noisy router.

Circuit, per sample: RX angle embedding of n features, a depolarizing channel (probability
--p, default 0.05) on every wire, 3 StronglyEntanglingLayers, a depolarizing channel on every
wire again, <Z> on every wire. A program holding channels runs on qmoe's density-matrix engine
through the same op as a pure one (``qmoe_torch.ops.expval``). Cells, for each n (default 2
and 6) at batch 4096:

- qmoe, density matrix, float32 and float64: forward (no gradient tracking), and forward +
  backward with diff_method adjoint and parameter_shift. Backward is ``out.backward(grad)``:
  the gradients w.r.t. inputs and weights of sum(out * grad), grad a fixed random tensor;
- qmoe, statevector: the same circuit without the channels, the same cells (what noise costs);
- the reference ``qmoe_torch.density_reference.expval`` (plain PyTorch, float64): forward
  under no_grad, and forward + backward by autograd;
- PennyLane ``default.mixed`` (torch interface, backprop, broadcasting over the batch,
  float64) when ``import pennylane`` works; otherwise skipped with a note in the report.

Times are medians (and minima) of repeated calls of the whole cell; the ratio is the
reference's time over the cell's time for the same n and pass, measured in the same run. A
cell whose single call at the full batch is estimated (linearly, from a timed call at
--reduced-batch) to take over --max-call-seconds is run at --reduced-batch instead; its times
are then the time per sample at that batch times the full batch, marked as extrapolated, with
the batch actually run. Before any timing, the outputs and both gradients of every engine are
compared with the reference (float64 oracle) on the benchmark circuit; the run stops when
they disagree. About 3 minutes on a quiet 2-core machine.

    python benchmarks/bench_noise.py --out benchmarks/results/cpu_noise.md
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from collections.abc import Callable
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

import qmoe_torch as qm
from qmoe_torch import density_reference, ops
from qmoe_torch.circuits import AngleEmbedding, Circuit, StronglyEntanglingLayers

REPO = Path(__file__).resolve().parent.parent
N_LAYERS = 3
DTYPE_NAMES = {torch.float32: "float32", torch.float64: "float64"}
# Largest |qmoe - reference| accepted by the correctness check (outputs and gradients).
TOLERANCE = {torch.float64: 1e-9, torch.float32: 1e-3}
Forward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------------- the circuits
def router_circuit(n_qubits: int, p: float | None) -> Circuit:
    """RX embedding, [depolarizing(p) on every wire], 3 SEL, [depolarizing again], <Z_w>.

    ``p=None``: the same circuit without the channels (the statevector engine runs it).
    """
    circuit = Circuit(n_qubits)
    circuit.append(AngleEmbedding("X"))
    if p is not None:
        for wire in range(n_qubits):
            circuit.depolarizing(wire, constant=p)
    circuit.append(StronglyEntanglingLayers(N_LAYERS))
    if p is not None:
        for wire in range(n_qubits):
            circuit.depolarizing(wire, constant=p)
    circuit.measure_expval([f"Z{w}" for w in range(n_qubits)])
    return circuit


def qmoe_forward(circuit: Circuit, diff_method: str) -> Forward:
    program, masks, constants = circuit.program, circuit.z_masks, circuit.constants
    n = circuit.n_qubits

    def forward(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return ops.expval(x, w, program, n, masks, constants=constants, diff_method=diff_method)

    return forward


def reference_forward(circuit: Circuit) -> Forward:
    program, masks, constants = circuit.program, circuit.z_masks, circuit.constants
    n = circuit.n_qubits

    def forward(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return density_reference.expval(x, w, program, n, masks, constants=constants)

    return forward


def pennylane_version() -> str | None:
    """PennyLane's version, or None when it cannot be imported."""
    try:
        import pennylane as qml
    except Exception:  # any import failure (missing or broken install): skip PennyLane
        return None
    return str(qml.__version__)


def pennylane_forward(n_qubits: int, p: float) -> Forward:
    """The noisy router on PennyLane's default.mixed, broadcasting over the batch.

    Same conventions as qmoe: wire 0 is the most significant bit, StronglyEntanglingLayers'
    weights ``(layers, wires, 3)`` are qmoe's flat weight block reshaped, Rot(phi, theta,
    omega) = RZ(omega) RY(theta) RZ(phi), PennyLane's default CNOT ranges.
    """
    import pennylane as qml

    device = qml.device("default.mixed", wires=n_qubits)
    wires = list(range(n_qubits))

    @qml.qnode(device, interface="torch", diff_method="backprop")
    def circuit(features: torch.Tensor, weights: torch.Tensor):
        qml.AngleEmbedding(features, wires=wires, rotation="X")
        for wire in wires:
            qml.DepolarizingChannel(p, wires=wire)
        qml.StronglyEntanglingLayers(weights, wires=wires)
        for wire in wires:
            qml.DepolarizingChannel(p, wires=wire)
        return [qml.expval(qml.PauliZ(wire)) for wire in wires]

    def forward(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        values = circuit(x, w.reshape(N_LAYERS, n_qubits, 3))
        return torch.stack([torch.as_tensor(v) for v in values], dim=-1).reshape(
            x.shape[0], n_qubits
        )

    return forward


# ---------------------------------------------------------------------- cells
@dataclasses.dataclass(frozen=True)
class Cell:
    """One timed workload: an engine, a dtype, a pass and a gradient method."""

    engine: str  # "reference", "density", "statevector", "pennylane"
    dtype: torch.dtype
    backward: bool
    method: str  # "adjoint" / "parameter_shift" for qmoe, "autograd", "backprop"

    @property
    def label(self) -> str:
        dtype = DTYPE_NAMES[self.dtype]
        what = f"fwd+bwd {self.method}" if self.backward else "forward"
        if self.engine == "reference":
            return f"reference density_reference {dtype}, {what}"
        if self.engine == "pennylane":
            return f"PennyLane default.mixed {dtype}, {what}"
        engine = "density matrix" if self.engine == "density" else "statevector, no channels"
        return f"qmoe {engine} {dtype}, {what}"


@dataclasses.dataclass(frozen=True)
class Result:
    """A measured cell: timings of calls at ``batch_run`` samples."""

    cell: Cell
    batch_run: int
    full_batch: int
    timing: Timing

    @property
    def extrapolated(self) -> bool:
        return self.batch_run != self.full_batch

    @property
    def per_sample(self) -> float:
        """Median seconds per sample."""
        return self.timing.median / self.batch_run

    @property
    def median(self) -> float:
        """Median seconds per call at the full batch (extrapolated when run smaller)."""
        return self.per_sample * self.full_batch

    @property
    def min(self) -> float:
        return self.timing.min / self.batch_run * self.full_batch


@dataclasses.dataclass
class Workload:
    """The circuits and fixed random data of one qubit count (float64 masters)."""

    n_qubits: int
    noisy: Circuit
    clean: Circuit
    inputs: torch.Tensor
    weights: torch.Tensor
    grad: torch.Tensor
    _pennylane: Forward | None = None

    @classmethod
    def build(cls, n_qubits: int, batch: int, p: float) -> Workload:
        noisy, clean = router_circuit(n_qubits, p), router_circuit(n_qubits, None)
        gen = torch.Generator().manual_seed(1234 + n_qubits)
        f64 = torch.float64
        inputs = torch.rand(batch, noisy.n_inputs, generator=gen, dtype=f64) * (2 * math.pi)
        weights = torch.rand(noisy.n_weights, generator=gen, dtype=f64) * (2 * math.pi)
        grad = torch.randn(batch, len(noisy.z_masks), generator=gen, dtype=f64)
        return cls(n_qubits, noisy, clean, inputs, weights, grad)

    def forward(self, cell: Cell, p: float) -> Forward:
        if cell.engine == "reference":
            return reference_forward(self.noisy)
        if cell.engine == "pennylane":
            if self._pennylane is None:
                self._pennylane = pennylane_forward(self.n_qubits, p)
            return self._pennylane
        circuit = self.noisy if cell.engine == "density" else self.clean
        return qmoe_forward(circuit, cell.method if cell.backward else "adjoint")

    def call(self, cell: Cell, batch: int, p: float) -> Callable[[], object]:
        """A zero-argument callable doing one call of ``cell`` on the first ``batch`` rows."""
        forward = self.forward(cell, p)
        inputs = self.inputs[:batch].to(cell.dtype)
        weights = self.weights.to(cell.dtype)
        grad = self.grad[:batch].to(cell.dtype)
        if not cell.backward:

            def run() -> object:
                with torch.no_grad():
                    return forward(inputs, weights)

            return run
        x = inputs.clone().requires_grad_(True)
        w = weights.clone().requires_grad_(True)

        def run_backward() -> object:
            x.grad = None
            w.grad = None
            out = forward(x, w)
            out.backward(grad)
            return out

        return run_backward


def cells(with_pennylane: bool) -> list[Cell]:
    f32, f64 = torch.float32, torch.float64
    chosen = [Cell("reference", f64, False, "-"), Cell("reference", f64, True, "autograd")]
    for engine in ("density", "statevector"):
        chosen += [Cell(engine, dtype, False, "-") for dtype in (f32, f64)]
        chosen += [
            Cell(engine, dtype, True, method)
            for method in ("adjoint", "parameter_shift")
            for dtype in (f32, f64)
        ]
    if with_pennylane:
        chosen += [Cell("pennylane", f64, False, "-"), Cell("pennylane", f64, True, "backprop")]
    return chosen


def run_cell(
    workload: Workload, cell: Cell, args: argparse.Namespace, policy: TimingPolicy
) -> Result:
    """Probe at the reduced batch; time at the full batch unless that is estimated too slow."""
    small = min(args.reduced_batch, args.batch)
    probe = workload.call(cell, small, args.p)
    probe()  # warm-up (first call of this shape)
    estimate = time_once(probe) * args.batch / small
    if small == args.batch:
        return Result(cell, small, args.batch, measure(probe, policy, warm=True))
    if estimate <= args.max_call_seconds:
        full = workload.call(cell, args.batch, args.p)
        return Result(cell, args.batch, args.batch, measure(full, policy))
    return Result(cell, small, args.batch, measure(probe, policy, warm=True))


# ---------------------------------------------------------------------- correctness
def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max())


def outputs_and_grads(
    forward: Forward, inputs: torch.Tensor, weights: torch.Tensor, grad: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    x = inputs.clone().requires_grad_(True)
    w = weights.clone().requires_grad_(True)
    out = forward(x, w)
    dx, dw = torch.autograd.grad(out, (x, w), grad.to(out.dtype))
    return out.detach(), dx, dw


def check(
    workloads: list[Workload], args: argparse.Namespace, with_pennylane: bool
) -> tuple[list[list[str]], bool]:
    """Rows of the agreement table and whether every row is within its tolerance."""
    rows, ok = [], True
    for workload in workloads:
        batch = min(args.check_batch, args.batch)
        inputs, weights = workload.inputs[:batch], workload.weights
        grad = workload.grad[:batch]
        oracle = {
            "density": outputs_and_grads(reference_forward(workload.noisy), inputs, weights, grad),
            "statevector": outputs_and_grads(
                reference_forward(workload.clean), inputs, weights, grad
            ),
        }
        candidates: list[tuple[str, str, torch.dtype, Forward]] = []
        for engine in ("density", "statevector"):
            circuit = workload.noisy if engine == "density" else workload.clean
            for dtype in (torch.float64, torch.float32):
                for method in ("adjoint", "parameter_shift"):
                    candidates.append((engine, method, dtype, qmoe_forward(circuit, method)))
        if with_pennylane:
            forward = workload.forward(Cell("pennylane", torch.float64, True, "backprop"), args.p)
            candidates.append(("pennylane", "backprop", torch.float64, forward))
        for engine, method, dtype, forward in candidates:
            got = outputs_and_grads(forward, inputs.to(dtype), weights.to(dtype), grad.to(dtype))
            want = oracle["statevector" if engine == "statevector" else "density"]
            diffs = [max_abs(g, r) for g, r in zip(got, want, strict=True)]
            within = max(diffs) <= TOLERANCE[dtype]
            ok = ok and within
            name = {
                "density": "qmoe density matrix",
                "statevector": "qmoe statevector",
                "pennylane": "PennyLane default.mixed",
            }[engine]
            rows.append(
                [
                    str(workload.n_qubits),
                    name,
                    DTYPE_NAMES[dtype],
                    method,
                    *(f"{d:.1e}" for d in diffs),
                    f"{TOLERANCE[dtype]:.0e}",
                    "yes" if within else "**NO**",
                ]
            )
            print(
                f"check n={workload.n_qubits} {name} {DTYPE_NAMES[dtype]} {method}: "
                f"max |diff| out {diffs[0]:.2e}, d/dinputs {diffs[1]:.2e}, "
                f"d/dweights {diffs[2]:.2e}",
                file=sys.stderr,
            )
    return rows, ok


# ---------------------------------------------------------------------- report
def result_rows(results: list[Result]) -> list[list[str]]:
    def find(engine: str, dtype: torch.dtype, backward: bool, method: str) -> Result | None:
        for r in results:
            c = r.cell
            if (c.engine, c.dtype, c.backward, c.method) == (engine, dtype, backward, method):
                return r
        return None

    rows = []
    for r in results:
        cell = r.cell
        ref = find("reference", torch.float64, cell.backward, "autograd" if cell.backward else "-")
        mark = " *" if r.extrapolated else ""
        ratio = "-"
        if ref is not None:
            ratio = f"{ref.per_sample / r.per_sample:,.1f}" + (
                " *" if r.extrapolated or ref.extrapolated else ""
            )
        noise = "-"
        if cell.engine == "density":
            clean = find("statevector", cell.dtype, cell.backward, cell.method)
            if clean is not None:
                noise = f"{r.per_sample / clean.per_sample:,.0f}"
        batch = f"{r.batch_run:,}" + (" (extrapolated)" if r.extrapolated else "")
        rows.append(
            [
                cell.label,
                batch,
                format_seconds_ms(r.median) + mark,
                format_seconds_ms(r.min) + mark,
                format_rate(1.0 / r.per_sample),
                ratio,
                noise,
            ]
        )
    return rows


def report(
    args: argparse.Namespace,
    argv: list[str] | None,
    check_rows: list[list[str]],
    results: dict[int, list[Result]],
    pennylane: str | None,
    elapsed: float,
    policy: TimingPolicy,
) -> str:
    lines = ["# Noisy router: the density-matrix engine against the reference", ""]
    lines += [
        f"- {label}: {value}"
        for label, value in machine_info(REPO, qm.active_isa(), qm.supported_isas())
    ]
    lines.append(f"- PennyLane: {pennylane if pennylane else 'not installed (import failed)'}")
    command = " ".join(["python benchmarks/bench_noise.py", *(argv or sys.argv[1:])])
    lines += [f"- command: `{command}`", f"- run time: {elapsed:.0f} s", ""]
    lines += [
        f"Circuit, per sample: RX angle embedding of n features, depolarizing(p={args.p}) on "
        f"every wire, {N_LAYERS} StronglyEntanglingLayers, depolarizing(p={args.p}) on every "
        "wire again, <Z> on every wire. Forward: under `torch.no_grad()`. fwd+bwd: forward "
        "with inputs and weights requiring grad, then `out.backward(grad)` (gradients w.r.t. "
        "inputs and weights of sum(out * grad), grad fixed random). The statevector rows run "
        "the same circuit without the channels. Data: inputs and weights uniform in [0, 2 pi).",
        "",
        "## Agreement with the reference",
        "",
        f"Max |qmoe - reference| on {min(args.check_batch, args.batch)} samples of the "
        "benchmark data; the reference is `density_reference.expval` (float64, autograd) on "
        "the noisy circuit, and on the channel-free circuit for the statevector rows. The "
        "timings below are only taken when every row is within its tolerance.",
        "",
    ]
    lines += markdown_table(
        ["n", "engine", "dtype", "method", "outputs", "d/dinputs", "d/dweights", "tolerance", "ok"],
        check_rows,
        {0, 4, 5, 6, 7},
    )
    lines += [
        "",
        "## Timings",
        "",
        f"Batch {args.batch:,}. Median and min of repeated calls (>= {policy.min_repeats} "
        f"calls and >= {policy.min_time:g} s, or >= {policy.slow_repeats} calls once "
        f"{policy.max_time:g} s are spent), after a warm-up call. `ref / this`: the reference's "
        "time for the same pass (forward or fwd+bwd) over this row's time, same run. "
        "`x noiseless`: this density-matrix row's time over the statevector row of the same "
        "dtype, pass and method (what the channels cost).",
        "",
        f"`*` extrapolated: one call at the full batch was estimated (from a timed call at "
        f"{min(args.reduced_batch, args.batch):,} samples) to take over "
        f"{args.max_call_seconds:g} s, so the cell was timed at the batch shown and its times "
        f"are the time per sample there x {args.batch:,} (linear in the batch; a ratio with "
        "`*` involves at least one such time).",
    ]
    for n_qubits, rows in results.items():
        lines += ["", f"### {n_qubits} qubits", ""]
        lines += markdown_table(
            [
                "cell",
                "batch run",
                f"median ms (batch {args.batch:,})",
                "min ms",
                "samples/s",
                "ref / this",
                "x noiseless",
            ],
            result_rows(rows),
            {1, 2, 3, 4, 5, 6},
        )
    lines.append("")
    if pennylane is None:
        lines.append(
            "PennyLane default.mixed (the issue's peer) was not timed: `import "
            "pennylane` failed on this machine. With PennyLane installed the same "
            "script adds its forward and fwd+bwd (torch interface, backprop, "
            "broadcasting over the batch, float64) rows and its agreement check."
        )
    else:
        lines.append(
            f"PennyLane {pennylane} default.mixed: torch interface, "
            'diff_method="backprop", one QNode call per batch (broadcasting), '
            "float64."
        )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- main
def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers: {text!r}") from exc
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers: {text!r}")
    return values


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--qubits", type=_int_list, default=[2, 6], help="qubit counts (default: 2,6)")
    add("--batch", type=int, default=4096, help="samples per call (default: 4096)")
    add("--p", type=float, default=0.05, help="depolarizing probability (default: 0.05)")
    add(
        "--max-call-seconds",
        type=float,
        default=15.0,
        help="a cell whose single full-batch call is estimated longer runs at --reduced-batch "
        "and is extrapolated (default: 15)",
    )
    add(
        "--reduced-batch",
        type=int,
        default=64,
        help="batch of the probe call and of extrapolated cells (default: 64)",
    )
    add("--check-batch", type=int, default=64, help="samples of the agreement check (default: 64)")
    add(
        "--min-time",
        type=float,
        default=1.0,
        help="seconds of timed calls per cell, at least (default: 1)",
    )
    add("--out", type=Path, help="write the markdown report here too")
    args = parser.parse_args(argv)
    if not 0 <= args.p <= 1:
        parser.error(f"--p must lie in [0, 1], got {args.p}")
    for name in ("batch", "reduced_batch", "check_batch"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    pennylane = pennylane_version()
    if pennylane is None:
        print("PennyLane not importable: its cells are skipped", file=sys.stderr)
    workloads = [Workload.build(n, args.batch, args.p) for n in args.qubits]

    check_rows, ok = check(workloads, args, pennylane is not None)
    if not ok:
        print(
            "qmoe disagrees with the reference beyond tolerance: no timings taken", file=sys.stderr
        )
        print(
            "\n".join(
                markdown_table(
                    [
                        "n",
                        "engine",
                        "dtype",
                        "method",
                        "outputs",
                        "d/dinputs",
                        "d/dweights",
                        "tolerance",
                        "ok",
                    ],
                    check_rows,
                    {0, 4, 5, 6, 7},
                )
            )
        )
        return 1

    policy = TimingPolicy(
        min_time=args.min_time, min_repeats=5, max_time=6.0, slow_repeats=3, warmup_time=0.05
    )
    results: dict[int, list[Result]] = {}
    for workload in workloads:
        results[workload.n_qubits] = []
        for cell in cells(pennylane is not None):
            result = run_cell(workload, cell, args, policy)
            results[workload.n_qubits].append(result)
            print(
                f"n={workload.n_qubits} {cell.label}: batch {result.batch_run}, median "
                f"{result.timing.median * 1e3:.2f} ms per call ({result.timing.repeats} "
                f"calls), {result.median * 1e3:.1f} ms at batch {args.batch}"
                + (" (extrapolated)" if result.extrapolated else ""),
                file=sys.stderr,
            )

    text = report(args, argv, check_rows, results, pennylane, time.perf_counter() - start, policy)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
