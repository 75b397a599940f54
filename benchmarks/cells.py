"""The benchmark's cells: workloads, skip rules (time and memory estimates) and measurements.

A cell is ``(n_qubits, batch, dtype, kind)`` for the benchmark circuit: ``n`` qubits, RX
angle embedding of ``n`` input features, 3 StronglyEntanglingLayers, readout ``<Z_w>`` on
every wire (expval). At ``n = 2`` this is the paper's router. Kinds:

- ``forward``          the op's forward (``qmoe_torch.ops.expval``, no gradient tracking),
- ``adjoint``          op forward + ``out.backward(grad)`` with ``diff_method="adjoint"``,
- ``parameter_shift``  the same with ``diff_method="parameter_shift"``,
- ``ref_forward``      ``qmoe_torch.reference.expval`` under ``torch.no_grad()``,
- ``ref_backward``     the reference forward + ``out.backward(grad)`` by autograd.

Backward passes go through the public wrappers with inputs and weights requiring grad, so
autograd's own overhead is included. A cell whose single call is estimated (extrapolated
linearly in the batch from a smaller probe batch) to take longer than its kind's limit, or,
for the reference, to need more memory than the memory limit, is reported as skipped.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable

import torch
from flops import Flops, circuit_flops
from timing import Timing, TimingPolicy, format_seconds_ms, measure, time_once

from qmoe_torch import ops, reference
from qmoe_torch.circuits import AngleEmbedding, Circuit, StronglyEntanglingLayers

KINDS = ("forward", "adjoint", "parameter_shift", "ref_forward", "ref_backward")
LABELS = {
    "forward": "op forward",
    "adjoint": "op fwd+bwd adjoint",
    "parameter_shift": "op fwd+bwd param-shift",
    "ref_forward": "ref forward",
    "ref_backward": "ref fwd+bwd (autograd)",
}
BASELINE = {
    "forward": "ref_forward",
    "adjoint": "ref_backward",
    "parameter_shift": "ref_backward",
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


def kind_flops(flops: Flops, kind: str) -> int:
    """Flops per sample of one call of ``kind`` (docs/flops.md).

    Forward kinds count the forward; ``adjoint`` and the reference's autograd fwd+bwd count
    forward + adjoint backward (the same useful work, whatever the method);
    ``parameter_shift`` counts ``2 S + 1`` forward runs.
    """
    if kind in ("forward", "ref_forward"):
        return flops.forward
    if kind in ("adjoint", "ref_backward"):
        return flops.adjoint
    if kind == "parameter_shift":
        return flops.parameter_shift
    raise ValueError(f"unknown kind {kind!r}")


@dataclasses.dataclass(frozen=True)
class Limits:
    """Skip rules: seconds per call by kind, and bytes for one reference call."""

    op_seconds: float = 10.0
    shift_seconds: float = 4.0
    ref_seconds: float = 10.0
    ref_bytes: float = 4.0 * 2**30

    def seconds(self, kind: str) -> float:
        if kind == "parameter_shift":
            return self.shift_seconds
        return self.ref_seconds if kind.startswith("ref") else self.op_seconds


@dataclasses.dataclass(frozen=True)
class Result:
    timing: Timing | None = None
    skipped: str | None = None


class Bench:
    """Measures cells ``(n_qubits, batch, dtype, kind)`` once each and remembers them."""

    def __init__(self, policy: TimingPolicy, limits: Limits, verbose: bool = True) -> None:
        self.policy = policy
        self.limits = limits
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

    def flops(self, n_qubits: int, kind: str) -> int:
        """Flops per sample of one call of ``kind`` (docs/flops.md)."""
        return kind_flops(circuit_flops(self.circuit(n_qubits)), kind)

    def workload(
        self, n_qubits: int, batch: int, dtype_name: str, kind: str
    ) -> Callable[[], object]:
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
        state = batch * 2**n_qubits * complex_bytes
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

    def _predict(self, n_qubits: int, batch: int, dtype_name: str, kind: str) -> tuple[float, int]:
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

    def _confirm(self, n_qubits: int, batch: int, dtype_name: str, kind: str) -> tuple[float, int]:
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
            if result.timing is None:
                text = f"skipped ({result.skipped})"
            else:
                t = result.timing
                text = f"{format_seconds_ms(t.median)} ms ({t.repeats} reps)"
            print(
                f"  n={n_qubits:<2} batch={batch:<6} {dtype_name} {LABELS[kind]}: {text}",
                file=sys.stderr,
                flush=True,
            )
        return result

    def _measure_cell(self, n_qubits: int, batch: int, dtype_name: str, kind: str) -> Result:
        if kind.startswith("ref"):
            need = self.reference_bytes(n_qubits, batch, dtype_name, kind)
            if need > self.limits.ref_bytes:
                limit = self.limits.ref_bytes / 2**30
                return Result(skipped=f"~{need / 2**30:.1f} GiB est. > {limit:g} GiB")
        max_seconds = self.limits.seconds(kind)
        estimate, probe_batch = self._predict(n_qubits, batch, dtype_name, kind)
        if estimate > max_seconds:
            estimate, probe_batch = self._confirm(n_qubits, batch, dtype_name, kind)
        if estimate > max_seconds:
            return Result(
                skipped=f"~{estimate:.3g} s/call est. from batch {probe_batch:,} "
                f"> {max_seconds:g} s"
            )
        # A probe at the full batch has already warmed this shape up; a call of a second or
        # more amortises one-time costs, and the probes at smaller batches ran the same code.
        timing = measure(
            self.workload(n_qubits, batch, dtype_name, kind),
            self.policy,
            warm=probe_batch == batch or estimate >= 1.0,
        )
        key = (n_qubits, dtype_name, kind)
        if batch >= self._probes.get(key, (0, 0.0))[0]:
            self._probes[key] = (batch, timing.median)
            self._measured.add(key)
        return Result(timing=timing)

    # ------------------------------------------------------------------ derived figures
    def timing(self, n_qubits: int, batch: int, dtype_name: str, kind: str) -> Timing | None:
        """The cell's timing if it was measured (not skipped, not absent)."""
        result = self.results.get((n_qubits, batch, dtype_name, kind))
        return None if result is None else result.timing

    def gflops(self, n_qubits: int, batch: int, dtype_name: str, kind: str) -> float | None:
        """Achieved GFLOP/s of a measured cell (flop count of docs/flops.md / median)."""
        t = self.timing(n_qubits, batch, dtype_name, kind)
        if t is None:
            return None
        return self.flops(n_qubits, kind) * batch / t.median / 1e9

    def speedup(self, n_qubits: int, batch: int, dtype_name: str, kind: str) -> float | None:
        """Reference median / op median for the same cell, when both were measured."""
        if kind not in BASELINE:
            return None
        mine = self.timing(n_qubits, batch, dtype_name, kind)
        ref = self.timing(n_qubits, batch, dtype_name, BASELINE[kind])
        if mine is None or ref is None:
            return None
        return ref.median / mine.median
