#!/usr/bin/env python
"""qmoe against the other quantum simulators a PyTorch user would route with, on the same
cells, after checking that each computes what qmoe computes.

Systems (``peer_systems.py``): qmoe (adjoint and parameter shift), its plain-PyTorch
reference, PennyLane lightning.qubit (adjoint, through ``qml.qnn.TorchLayer``, the paper's
stack) and default.qubit (backprop, broadcasting; default.mixed for the noisy cell),
TorchQuantum, Qiskit Aer (batched parameter binds), TensorCircuit (JAX, vmap + jit) and
qulacs, each that imports here (``make bench-peers`` installs them into a virtual
environment of their own); one that does not is listed with the reason.

Cells: the paper's router (2 qubits, 3 StronglyEntanglingLayers, RX embedding, <Z> on both
wires) forward and forward + backward at 1, 1,024 and 65,536 tokens; 4, 8 and 12 qubits x 3
layers at 4,096 tokens, forward and forward + backward; one Phase-3A training epoch (700
Two Moons points, batches of 32, Adam); one Phase-3B epoch with depolarizing noise p = 0.05
on every wire after the embedding and after the ansatz. float64 throughout (TorchQuantum
computes in complex64, its only precision). fwd+bwd = forward with inputs and weights
requiring grad, then ``out.backward(grad)``.

Before a system's cell is timed, its outputs (and, for fwd+bwd, its gradients w.r.t. inputs
and weights) are compared with qmoe's adjoint on fresh random data (for an epoch: the loss
and every parameter after one epoch from the same start); a system more than --tolerance
away is reported as disagreeing and not timed. Each system has --budget seconds in all
(checks, warm-ups and compilation included): a cell whose one call is estimated (linearly in
the batch, from a timed call at --probe-batch) to take more than --max-call seconds, or
more than the budget left, is reported as "> budget" and not run.

    python benchmarks/bench_peers.py                     # every installed system, CPU
    python benchmarks/bench_peers.py --device cuda       # the systems with a CUDA path
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch
from peer_epoch import EpochData, epoch, first_step, model_for, steps
from peer_plot import plot_medians
from peer_systems import BASELINE, SYSTEMS, CircuitSpec, Forward, System, Unsupported
from timing import (
    Timing,
    TimingPolicy,
    format_seconds_ms,
    machine_info,
    markdown_table,
    measure,
    time_once,
)

import qmoe_torch as qm

REPO = Path(__file__).resolve().parent.parent
ROUTER = CircuitSpec(2)
PROBE_SECONDS = 0.05  # a probe call this long extrapolates to the full batch


# ---------------------------------------------------------------------- cells
@dataclasses.dataclass(frozen=True)
class Cell:
    """One workload: a circuit pass at ``batch`` tokens, or a training epoch."""

    key: str
    label: str
    spec: CircuitSpec
    batch: int  # tokens per call (an epoch: the training points)
    kind: str  # "forward", "fwd+bwd" or "epoch"


def tokens(count: int) -> str:
    return f"{count:,} token" + ("" if count == 1 else "s")


def build_cells(args: argparse.Namespace) -> list[Cell]:
    cells = []
    for kind in ("forward", "fwd+bwd"):
        for batch in args.router_batches:
            cells.append(
                Cell(
                    f"router-{kind}-{batch}",
                    f"router, {kind}, {tokens(batch)}",
                    ROUTER,
                    batch,
                    kind,
                )
            )
    for n in args.wide_qubits:
        for kind in ("forward", "fwd+bwd"):
            cells.append(
                Cell(
                    f"n{n}-{kind}-{args.wide_batch}",
                    f"{n} qubits, {kind}, {tokens(args.wide_batch)}",
                    CircuitSpec(n),
                    args.wide_batch,
                    kind,
                )
            )
    train_points = len(EpochData.build(args.epoch_points, args.seed, "cpu").x)
    cells.append(
        Cell("epoch-3a", f"Phase-3A epoch ({train_points} points)", ROUTER, train_points, "epoch")
    )
    cells.append(
        Cell(
            "epoch-3b",
            f"Phase-3B epoch, depolarizing p={args.p:g} ({train_points} points)",
            CircuitSpec(2, p=args.p),
            train_points,
            "epoch",
        )
    )
    return cells


def run_order(cells: list[Cell]) -> list[Cell]:
    """Cheap cells first, so a slow system spends its budget where it can still finish."""

    def cost(cell: Cell) -> float:
        if cell.kind == "epoch":
            return 2.0**10
        return cell.batch * 2.0**cell.spec.n_qubits * (3 if cell.kind == "fwd+bwd" else 1)

    return sorted(cells, key=cost)


@dataclasses.dataclass
class Outcome:
    """What happened to one (system, cell): ``status`` is "timed", "budget", "n/a",
    "disagrees" or "failed"; ``timing`` for "timed"; ``note`` the reason otherwise."""

    status: str
    timing: Timing | None = None
    note: str = ""
    estimate: float | None = None  # seconds per call, for "budget"


@dataclasses.dataclass
class Agreement:
    """Max |system - qmoe adjoint| on one check."""

    system: str
    cell: str
    diffs: dict[str, float]
    ok: bool


# ---------------------------------------------------------------------- data and calls
def random_data(spec: CircuitSpec, batch: int, seed: int, device: str):
    generator = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    x = torch.rand(batch, spec.n_qubits, generator=generator, dtype=f64) * (2 * math.pi)
    w = torch.rand(spec.n_weights, generator=generator, dtype=f64) * (2 * math.pi)
    grad = torch.randn(batch, spec.n_qubits, generator=generator, dtype=f64)
    return x.to(device), w.to(device), grad.to(device)


def circuit_call(forward: Forward, cell: Cell, batch: int, seed: int, device: str):
    """A zero-argument callable doing one call of the cell's pass on ``batch`` tokens."""
    x, w, grad = random_data(cell.spec, batch, seed, device)
    if cell.kind == "forward":

        def run() -> object:
            with torch.no_grad():
                return forward(x, w)

        return run
    x.requires_grad_(True)
    w.requires_grad_(True)

    def run_backward() -> object:
        x.grad = None
        w.grad = None
        out = forward(x, w)
        out.backward(grad)
        return out

    return run_backward


def synchronize(device: str) -> Callable[[Callable[[], object]], Callable[[], object]]:
    """Wraps a call so that it ends when the device's work has (CUDA runs asynchronously)."""

    def wrap(fn: Callable[[], object]) -> Callable[[], object]:
        if device != "cuda":
            return fn

        def synced() -> object:
            out = fn()
            torch.cuda.synchronize()
            return out

        return synced

    return wrap


# ---------------------------------------------------------------------- agreement
def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().double() - b.detach().double()).abs().max())


def outputs_and_grads(forward: Forward, x, w, grad, backward: bool):
    if not backward:
        with torch.no_grad():
            return (forward(x, w),)
    x = x.clone().requires_grad_(True)
    w = w.clone().requires_grad_(True)
    out = forward(x, w)
    dx, dw = torch.autograd.grad(out, (x, w), grad)
    return out, dx, dw


def check_circuit(
    system: System, forward: Forward, oracle: Forward, cell: Cell, args: argparse.Namespace
) -> Agreement:
    x, w, grad = random_data(
        cell.spec, min(args.check_batch, cell.batch), args.seed + 7, args.device
    )
    backward = cell.kind == "fwd+bwd"
    got = outputs_and_grads(forward, x, w, grad, backward)
    want = outputs_and_grads(oracle, x, w, grad, backward)
    names = ("outputs", "d/dinputs", "d/dweights")
    diffs = {name: max_abs(g, r) for name, g, r in zip(names, got, want, strict=False)}
    return Agreement(system.key, cell.key, diffs, max(diffs.values()) <= args.tolerance)


def check_epoch(
    system: System,
    forward: Forward,
    cell: Cell,
    data: EpochData,
    args: argparse.Namespace,
) -> tuple[Agreement, float]:
    """The first step's loss and parameter gradients of the system's model and of qmoe's
    (adjoint) from the same start; returns the agreement and the system's step time."""
    model = model_for(system.key, forward, cell.spec, args.seed, args.device)
    first_step(model, data)  # warm-up (first call of this shape)
    start = time.perf_counter()
    loss, grads = first_step(model, data)
    seconds = time.perf_counter() - start
    baseline = model_for(BASELINE, forward, cell.spec, args.seed, args.device)
    want_loss, want_grads = first_step(baseline, data)
    diffs = {"loss": max_abs(loss, want_loss), "d/dparameters": max_abs(grads, want_grads)}
    return Agreement(system.key, cell.key, diffs, max(diffs.values()) <= args.tolerance), seconds


# ---------------------------------------------------------------------- one system
class SystemRun:
    """Runs every cell of one system within its budget."""

    def __init__(self, system: System, args: argparse.Namespace, policy: TimingPolicy) -> None:
        self.system, self.args, self.policy = system, args, policy
        self.start = time.perf_counter()
        self.forwards: dict[CircuitSpec, Forward | Unsupported] = {}
        self.oracles: dict[CircuitSpec, Forward] = {}
        self.agreements: list[Agreement] = []

    def left(self) -> float:
        return self.args.budget - (time.perf_counter() - self.start)

    def forward(self, spec: CircuitSpec) -> Forward:
        if spec not in self.forwards:
            try:
                self.forwards[spec] = self.system.build(spec, self.args.device)
            except Unsupported as reason:
                self.forwards[spec] = reason
        built = self.forwards[spec]
        if isinstance(built, Unsupported):
            raise built
        return built

    def oracle(self, spec: CircuitSpec) -> Forward:
        if spec not in self.oracles:
            baseline = next(s for s in SYSTEMS if s.key == BASELINE)
            self.oracles[spec] = baseline.build(spec, self.args.device)
        return self.oracles[spec]

    def cell(self, cell: Cell, data: EpochData) -> Outcome:
        if self.left() <= self.args.budget * 0.01:
            return Outcome("budget", note="budget spent on earlier cells")
        try:
            forward = self.forward(cell.spec)
            if cell.kind == "epoch":
                return self._epoch(cell, forward, data)
            return self._circuit(cell, forward)
        except Unsupported as reason:
            return Outcome("n/a", note=str(reason))
        except Exception as error:  # a peer's failure is a result, not the run's end
            traceback.print_exc(file=sys.stderr)
            return Outcome("failed", note=f"{type(error).__name__}: {error}"[:200])

    def _agree(self, agreement: Agreement) -> Outcome | None:
        self.agreements.append(agreement)
        if agreement.ok:
            return None
        worst = max(agreement.diffs.values())
        return Outcome("disagrees", note=f"max |diff| {worst:.1e} > {self.args.tolerance:g}")

    def _circuit(self, cell: Cell, forward: Forward) -> Outcome:
        disagreement = self._agree(
            check_circuit(self.system, forward, self.oracle(cell.spec), cell, self.args)
        )
        if disagreement is not None:
            return disagreement
        sync = synchronize(self.args.device)
        # The probe grows (x16) until one call takes PROBE_SECONDS: a small batch's time is
        # mostly fixed per-call cost, which a linear extrapolation would multiply.
        probe_batch = min(self.args.probe_batch, cell.batch)
        while True:
            probe = sync(circuit_call(forward, cell, probe_batch, self.args.seed, self.args.device))
            probe()  # warm-up at this shape (JIT systems compile here)
            seconds = time_once(probe)
            if probe_batch == cell.batch or seconds >= PROBE_SECONDS:
                break
            probe_batch = min(cell.batch, probe_batch * 16)  # the next probe: < 16 x 0.05 s
        estimate = seconds * cell.batch / probe_batch
        limit = min(self.args.max_call, self.left() / 2)
        if estimate > limit:
            note = f"one call estimated at {estimate:.3g} s (from {probe_batch:,} tokens), "
            note += f"over {limit:.3g} s" if limit > 0 else "and the budget is spent"
            return Outcome("budget", note=note, estimate=estimate)
        if probe_batch == cell.batch:
            return Outcome("timed", measure(probe, self._policy(), warm=True))
        full = sync(circuit_call(forward, cell, cell.batch, self.args.seed, self.args.device))
        return Outcome("timed", measure(full, self._policy()))

    def _epoch(self, cell: Cell, forward: Forward, data: EpochData) -> Outcome:
        agreement, step_seconds = check_epoch(self.system, forward, cell, data, self.args)
        disagreement = self._agree(agreement)
        if disagreement is not None:
            return disagreement
        estimate = step_seconds * steps(data)
        limit = min(self.args.max_call, self.left() / 2)
        if estimate > limit:
            note = (
                f"one epoch estimated at {estimate:.3g} s ({steps(data)} steps), over {limit:.3g} s"
            )
            return Outcome("budget", note=note, estimate=estimate)
        model = model_for(self.system.key, forward, cell.spec, self.args.seed, self.args.device)
        sync = synchronize(self.args.device)
        return Outcome(
            "timed", measure(sync(lambda: epoch(model, data)), self._policy(), warm=True)
        )

    def _policy(self) -> TimingPolicy:
        """The run's policy, its slow-cell time cut to what the budget has left."""
        return dataclasses.replace(
            self.policy, max_time=max(0.0, min(self.policy.max_time, self.left() / 2))
        )


# ---------------------------------------------------------------------- report
def entry(outcome: Outcome | None, baseline: Outcome | None) -> str:
    if outcome is None:
        return ""
    if outcome.status == "timed":
        text = format_seconds_ms(outcome.timing.median)
        if baseline is not None and baseline.status == "timed":
            ratio = outcome.timing.median / baseline.timing.median
            text += f" ({ratio:.3g}×)" if ratio < 1000 else f" ({ratio:,.0f}×)"
        return text
    if outcome.status == "budget":
        return "> budget"
    return {"n/a": "n/a", "disagrees": "**disagrees**", "failed": "failed"}[outcome.status]


def report(
    args: argparse.Namespace,
    systems: list[System],
    versions: dict[str, str],
    missing: dict[str, str],
    cells: list[Cell],
    outcomes: dict[tuple[str, str], Outcome],
    agreements: list[Agreement],
    elapsed: float,
    load_end: str,
    plot_message: str,
) -> str:
    info = args.machine
    lines = [
        f"# qmoe and its peers on the same cells ({args.device})",
        "",
        *[f"- {label}: {value}" for label, value in info],
        f"- load average at the end: {load_end}",
        f"- threads per system: {args.threads_text}",
        "- the machine is shared with other work: medians move by 5-20% between runs, "
        "and more in a busy minute; compare within one run",
        f"- python: {sys.executable}",
        f"- command: `python benchmarks/bench_peers.py {' '.join(args.argv)}`",
        f"- run time: {elapsed:.0f} s",
        "",
        "## Systems",
        "",
    ]
    rows = []
    for system in SYSTEMS:
        if system.key in versions:
            rows.append([system.key, system.label, versions[system.key]])
        elif system.key in missing:
            rows.append([system.key, system.label, f"not run: {missing[system.key]}"])
    lines += markdown_table(["key", "system", "version"], rows, set())
    lines += [
        "",
        "Every system gets float64 angles as torch tensors and returns torch tensors "
        "(a router inside a PyTorch model: conversions are part of its cost). qmoe: "
        "`qmoe_torch.ops.expval` (epochs: the experiments' `QuantumGate` model). "
        "reference: `qmoe_torch.reference` / `density_reference` (plain PyTorch, autograd). "
        "Qiskit Aer and qulacs have no autograd: their backward is in the adapter "
        "(Aer: parameter shift as further binds of one run; qulacs: its `backprop`), "
        "wrapped in a `torch.autograd.Function`. TorchQuantum computes in complex64. "
        "Adapters: `benchmarks/peer_*.py`.",
        "",
        "## Agreement with qmoe (adjoint)",
        "",
        f"Max |system - qmoe| on {args.check_batch} fresh random tokens per circuit cell "
        "(outputs; fwd+bwd cells also d/dinputs and d/dweights of sum(out * grad)); for "
        "an epoch, the loss of its first minibatch and its gradient w.r.t. every parameter "
        "(circuit, adapter, experts) from the same start (Adam's first steps move each "
        "parameter by about lr * sign(grad), so comparing parameters after an epoch "
        "would measure rounding of gradients near 0, not agreement). "
        f"Tolerance {args.tolerance:g}; a system beyond it is not timed.",
        "",
    ]
    labels = {cell.key: cell.label for cell in cells}
    check_rows = [
        [
            a.system,
            labels[a.cell],
            ", ".join(f"{k} {v:.1e}" for k, v in a.diffs.items()),
            "yes" if a.ok else "**NO**",
        ]
        for a in agreements
    ]
    lines += markdown_table(["system", "cell", "max |diff|", "agrees"], check_rows, set())
    policy = timing_policy(args)
    lines += [
        "",
        "## Medians",
        "",
        "Median ms per call (ratio: this system's median over qmoe adjoint's in the same "
        f"cell, same run; > 1 is slower). Repeats: >= {policy.min_repeats} calls and >= "
        f"{policy.min_time:g} s, or >= {policy.slow_repeats} calls once {policy.max_time:g} "
        f"s are spent, after a warm-up call. Budget {args.budget:g} s per system, one call "
        f"at most {args.max_call:g} s (and at most half the system's budget left): "
        "`> budget` was not run (its estimate is below). "
        "`n/a`: the system cannot run the cell (reason below).",
        "",
    ]
    header = ["cell", *[s.key for s in systems]]
    table = []
    for cell in cells:
        base = outcomes.get((BASELINE, cell.key))
        table.append([cell.label, *[entry(outcomes.get((s.key, cell.key)), base) for s in systems]])
    lines += markdown_table(header, table, set(range(1, len(header))))
    notes = []
    for system in systems:
        for cell in cells:
            outcome = outcomes.get((system.key, cell.key))
            if outcome is not None and outcome.status != "timed" and outcome.note:
                notes.append(f"- {system.key}, {cell.label}: {outcome.status}: {outcome.note}")
    lines += ["", *(notes or ["Every cell of every system was timed."]), "", plot_message, ""]
    return "\n".join(lines)


def as_json(
    systems: list[System],
    versions: dict[str, str],
    missing: dict[str, str],
    cells: list[Cell],
    outcomes: dict[tuple[str, str], Outcome],
    agreements: list[Agreement],
) -> dict:
    return {
        "versions": versions,
        "missing": missing,
        "cells": [dataclasses.asdict(c) for c in cells],
        "outcomes": {
            f"{s}/{c}": {
                "status": o.status,
                "median": o.timing.median if o.timing else None,
                "min": o.timing.min if o.timing else None,
                "repeats": o.timing.repeats if o.timing else 0,
                "note": o.note,
            }
            for (s, c), o in outcomes.items()
        },
        "agreements": [dataclasses.asdict(a) for a in agreements],
    }


# ---------------------------------------------------------------------- main
def timing_policy(args: argparse.Namespace) -> TimingPolicy:
    return TimingPolicy(min_time=args.min_time, max_time=args.max_time)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f} (1, 5, 15 min)"


def counts(text: str) -> list[int]:
    return [int(v.replace("_", "")) for v in text.split(",") if v]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    keys = [s.key for s in SYSTEMS]
    parser.add_argument("--systems", default=",".join(keys), help=f"comma list of {keys}")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--router-batches", type=counts, default=[1, 1024, 65536])
    parser.add_argument("--wide-qubits", type=counts, default=[4, 8, 12])
    parser.add_argument("--wide-batch", type=int, default=4096)
    parser.add_argument(
        "--epoch-points", type=int, default=1000, help="Two Moons points (70%% train)"
    )
    parser.add_argument("--p", type=float, default=0.05, help="depolarizing p of the 3B epoch")
    parser.add_argument("--budget", type=float, default=150.0, help="seconds per system")
    parser.add_argument("--max-call", type=float, default=15.0, help="seconds one call may take")
    parser.add_argument("--probe-batch", type=int, default=64)
    parser.add_argument("--check-batch", type=int, default=8)
    parser.add_argument("--tolerance", type=float, default=1e-5)
    parser.add_argument("--min-time", type=float, default=0.5)
    parser.add_argument("--max-time", type=float, default=5.0)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads per system (torch, OpenMP, XLA); 0: each library's default",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--out", type=Path, help="markdown (default benchmarks/results/peers-DEVICE.md)"
    )
    parser.add_argument("--plot", type=Path, help="PNG (default: the markdown's name, .png)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    unknown = sorted(set(args.systems.split(",")) - set(keys))
    if unknown:
        parser.error(f"--systems: unknown {unknown}, expected some of {keys}")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device here")
    for name in ("wide_batch", "epoch_points", "probe_batch", "check_batch"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: expected a positive count")
    if not args.router_batches or min(args.router_batches) < 1:
        parser.error("--router-batches: expected positive token counts")
    if args.out is None:
        args.out = REPO / "benchmarks" / "results" / f"peers-{args.device}.md"
    if args.plot is None:
        args.plot = args.out.with_suffix(".png")
    return args


def limit_threads(threads: int) -> str:
    """Every system on ``threads`` threads (before any peer is imported: OpenMP and XLA
    read their settings when they start). One thread by default: on a shared machine a
    busy core stalls every multi-threaded region, and one core each is the same for all."""
    if threads == 0:
        return "each library's default"
    torch.set_num_threads(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "")
        + f" --xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'}"
        + f" intra_op_parallelism_threads={threads}"
    ).strip()
    return f"{threads} (torch.set_num_threads, OMP_NUM_THREADS, XLA_FLAGS)"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.threads_text = limit_threads(args.threads)
    args.machine = machine_info(REPO, qm.active_isa(), qm.supported_isas())  # load at start
    started = time.perf_counter()
    policy = timing_policy(args)
    chosen = set(args.systems.split(","))
    systems, versions, missing = [], {}, {}
    for system in SYSTEMS:
        if system.key not in chosen:
            continue
        try:
            versions[system.key] = system.version()
        except Exception as error:  # not installed, or installed but broken
            missing[system.key] = f"import failed ({type(error).__name__}: {error})"[:200]
            print(f"{system.key}: {missing[system.key]}", file=sys.stderr)
            continue
        if args.device not in system.devices:
            missing[system.key] = f"no {args.device} path in this adapter"
            continue
        systems.append(system)
    cells = build_cells(args)
    data = EpochData.build(args.epoch_points, args.seed, args.device)
    outcomes: dict[tuple[str, str], Outcome] = {}
    agreements: list[Agreement] = []
    for system in systems:
        run = SystemRun(system, args, policy)
        for cell in run_order(cells):
            outcome = run.cell(cell, data)
            outcomes[(system.key, cell.key)] = outcome
            shown = format_seconds_ms(outcome.timing.median) + " ms" if outcome.timing else ""
            print(
                f"{system.key:20} {cell.label:45} {outcome.status:9} {shown} {outcome.note}",
                file=sys.stderr,
            )
        agreements += run.agreements
    plot_message = plot_medians(systems, cells, outcomes, args.plot, BASELINE)
    text = report(
        args,
        systems,
        versions,
        missing,
        cells,
        outcomes,
        agreements,
        time.perf_counter() - started,
        load_average(),
        plot_message,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    if args.json is not None:
        args.json.write_text(
            json.dumps(as_json(systems, versions, missing, cells, outcomes, agreements), indent=1)
        )
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
