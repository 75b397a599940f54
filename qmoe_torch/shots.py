"""Finite-shot estimates of a circuit's readout and their shot-based parameter-shift gradient.

Sampling draws the counts of ``shots`` measurements per sample from its (readout-error
applied) distribution by a chain of binomials, which is exact multinomial sampling in
O(batch x 2**n) memory, driven by a ``torch.Generator``. The gradient of an estimate is
the parameter-shift rule applied to estimates: every trainable angle occurrence is moved
by +-pi/2 and the shifted circuits are estimated with fresh shots, so it is an unbiased
estimate of the exact gradient (what hardware would give), not the derivative of the
sampled numbers.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from . import ops
from .opcodes import ParamSource, is_channel, takes_parameter

if TYPE_CHECKING:
    from .circuits import Circuit
    from .readout import ReadoutError


def sample_counts(
    probs: torch.Tensor, shots: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Counts ``[B, D]`` of ``shots`` draws from each row of ``probs [B, D]`` (float dtype).

    Rows are clamped at 0 and renormalised first, which absorbs rounding of the exact
    probabilities (a row summing to 0 is a ValueError).
    """
    if shots < 1:
        raise ValueError(f"shots={shots} must be a positive integer")
    probs = probs.detach().clamp_min(0)
    totals = probs.sum(dim=1, keepdim=True)
    if bool((totals <= 0).any()):
        raise ValueError("sample_counts: a row of probabilities sums to 0")
    probs = (probs / totals).to(torch.float64)
    remaining = torch.full(
        (probs.shape[0],), float(shots), dtype=torch.float64, device=probs.device
    )
    left = torch.ones_like(remaining)
    counts = torch.zeros_like(probs)
    for k in range(probs.shape[1] - 1):
        # P(outcome k | not one of 0..k-1)
        conditional = (probs[:, k] / left.clamp_min(1e-300)).clamp(0, 1)
        drawn = torch.binomial(remaining, conditional, generator=generator)
        counts[:, k] = drawn
        remaining = remaining - drawn
        left = left - probs[:, k]
    counts[:, -1] = remaining
    return counts


def _estimate(
    probs: torch.Tensor,
    shots: int,
    readout_error: ReadoutError | None,
    signs: torch.Tensor | None,
    generator: torch.Generator | None,
) -> torch.Tensor:
    if readout_error is not None:
        probs = readout_error.apply(probs)
    frequencies = (sample_counts(probs, shots, generator) / shots).to(probs.dtype)
    return frequencies if signs is None else frequencies @ signs


class _ShotEstimate(torch.autograd.Function):
    """Estimates from per-occurrence angles ``[B, J]``; backward shifts each column."""

    @staticmethod
    def forward(ctx, angles, run, shots, readout_error, signs, generator):
        ctx.save_for_backward(angles)
        ctx.run, ctx.shots, ctx.readout_error = run, shots, readout_error
        ctx.signs, ctx.generator = signs, generator
        return _estimate(run(angles), shots, readout_error, signs, generator)

    @staticmethod
    def backward(ctx, grad_out):
        (angles,) = ctx.saved_tensors
        batch, n_angles = angles.shape
        if n_angles == 0:
            return angles.new_zeros(angles.shape), None, None, None, None, None
        shift = (math.pi / 2) * torch.eye(n_angles, dtype=angles.dtype, device=angles.device)
        shifted = torch.cat([angles[None] + shift[:, None, :], angles[None] - shift[:, None, :]])
        estimates = _estimate(
            ctx.run(shifted.reshape(-1, n_angles), repeats=2 * n_angles),
            ctx.shots,
            ctx.readout_error,
            ctx.signs,
            ctx.generator,
        )
        estimates = estimates.reshape(2, n_angles, batch, -1)
        difference = (estimates[0] - estimates[1]) / 2  # [J, B, M]
        grad_angles = torch.einsum("jbm,bm->bj", difference, grad_out.to(difference.dtype))
        return grad_angles.to(angles.dtype), None, None, None, None, None


def estimate_with_shots(
    circuit: Circuit,
    inputs: torch.Tensor,
    weights: torch.Tensor,
    *,
    shots: int,
    readout_error: ReadoutError | None = None,
    signs: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    initial_state: torch.Tensor | None = None,
) -> torch.Tensor:
    """Shot estimates of probabilities (``signs`` None) or of Z strings (``probs @ signs``).

    Every rotation that reads an input column or a weight becomes its own angle column, so
    the shift rule moves one occurrence at a time (a weight used twice gets both terms);
    autograd carries the columns' gradients back to ``inputs`` and ``weights``. Channel
    probabilities must be constants here, and the initial state is not differentiated.
    """
    if initial_state is not None and initial_state.requires_grad:
        raise ValueError("shots: the gradient of an initial state is not estimated; detach it")
    program, columns = [], []
    n_inputs = inputs.shape[1]
    for opcode, wire0, wire1, source, index in circuit.ops:
        if is_channel(opcode) and source != ParamSource.CONSTANT:
            raise ValueError(
                "shots: channel probabilities must be constants (a shot-based "
                "gradient exists for rotation angles only)"
            )
        if takes_parameter(opcode) and source in (ParamSource.INPUT, ParamSource.WEIGHT):
            columns.append(index if source == ParamSource.INPUT else n_inputs + index)
            source, index = ParamSource.INPUT, len(columns) - 1
        program += [opcode, wire0, wire1, int(source), index]
    batch = inputs.shape[0]
    table = torch.cat([inputs, weights.to(inputs.dtype)[None].expand(batch, -1)], dim=1)
    angles = table[:, columns]
    no_weights = inputs.new_zeros(0)

    def run(angle_rows: torch.Tensor, repeats: int = 1) -> torch.Tensor:
        state = None if initial_state is None else initial_state.detach().repeat(repeats, 1)
        with torch.no_grad():
            return ops.probs(
                angle_rows,
                no_weights,
                program,
                circuit.n_qubits,
                initial_state=state,
                constants=circuit.constants,
            )

    return _ShotEstimate.apply(angles, run, shots, readout_error, signs, generator)
