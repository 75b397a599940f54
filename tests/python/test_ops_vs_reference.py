"""The fused operators against the plain-PyTorch reference on fresh random circuits."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from random_circuits import random_angles, random_circuit, random_state

from qmoe_torch import ops, reference

# The tolerances of DESIGN.md: 1e-10 in float64, 1e-5 relative in float32.
TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}


def assert_close(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype) -> None:
    actual, expected = actual.detach(), expected.detach()
    assert actual.shape == expected.shape
    if not actual.numel():
        return
    scale = max(1.0, float(expected.abs().max()))
    error = float((actual.to(expected.dtype) - expected).abs().max())
    assert error <= TOLERANCE[dtype] * scale, f"max error {error:.3e} (scale {scale:.2f})"


def make_case(seed: int, n_qubits: int, batch: int, dtype: torch.dtype, state: str | None):
    rng = np.random.default_rng(seed)
    n_inputs, n_weights = 3, 5
    circuit = random_circuit(n_qubits, 6 * n_qubits + 16, n_inputs, n_weights, rng)
    inputs = random_angles(rng, (batch, n_inputs), dtype)
    weights = random_angles(rng, (n_weights,), dtype)
    complex_dtype = torch.complex64 if dtype == torch.float32 else torch.complex128
    initial = None
    if state == "complex":
        initial = random_state(rng, batch, n_qubits, complex_dtype)
    elif state == "real":
        initial = random_state(rng, batch, n_qubits, dtype)
    masks = [int(m) for m in rng.integers(0, 2**n_qubits, size=4)] + [1 << (n_qubits - 1)]
    return circuit, inputs, weights, initial, masks


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("n_qubits", range(1, 11))
def test_forward_matches_reference(isa: str, n_qubits: int, dtype: torch.dtype) -> None:
    for seed, state in enumerate([None, "complex", "real"]):
        circuit, inputs, weights, initial, masks = make_case(
            1000 * n_qubits + seed, n_qubits, 19, dtype, state
        )
        expected = reference.expval(
            inputs.double(),
            weights.double(),
            circuit.program,
            n_qubits,
            masks,
            None
            if initial is None
            else initial.to(torch.complex128 if initial.is_complex() else torch.float64),
            circuit.constants,
        )
        actual = ops.expval(
            inputs,
            weights,
            circuit.program,
            n_qubits,
            masks,
            initial_state=initial,
            constants=circuit.constants,
        )
        assert actual.dtype == dtype
        assert_close(actual, expected, dtype)
        expected_probs = reference.probs(
            inputs, weights, circuit.program, n_qubits, initial, circuit.constants
        )
        actual_probs = ops.probs(
            inputs,
            weights,
            circuit.program,
            n_qubits,
            initial_state=initial,
            constants=circuit.constants,
        )
        assert_close(actual_probs, expected_probs, dtype)


def gradients(fn, inputs, weights, initial, grad_out):
    leaves = [t.detach().clone().requires_grad_() for t in (inputs, weights)]
    if initial is not None:
        leaves.append(initial.detach().clone().requires_grad_())
    out = fn(*leaves)
    grads = torch.autograd.grad(out, leaves, grad_out)
    return out.detach(), grads


def run_reference(readout, circuit, masks, x, w, s=None):
    if readout == "probs":
        return reference.probs(x, w, circuit.program, circuit.n_qubits, s, circuit.constants)
    return reference.expval(x, w, circuit.program, circuit.n_qubits, masks, s, circuit.constants)


def run_op(readout, diff_method, circuit, masks, x, w, s=None):
    if readout == "probs":
        return ops.probs(
            x,
            w,
            circuit.program,
            circuit.n_qubits,
            initial_state=s,
            constants=circuit.constants,
            diff_method=diff_method,
        )
    return ops.expval(
        x,
        w,
        circuit.program,
        circuit.n_qubits,
        masks,
        initial_state=s,
        constants=circuit.constants,
        diff_method=diff_method,
    )


@pytest.mark.parametrize("diff_method", ["adjoint", "parameter_shift"])
@pytest.mark.parametrize("readout", ["expval", "probs"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("n_qubits", [1, 2, 3, 5, 8])
def test_gradients_match_reference_autograd(
    isa: str, n_qubits: int, dtype: torch.dtype, readout: str, diff_method: str
) -> None:
    for seed, state in enumerate([None, "complex", "real"]):
        circuit, inputs, weights, initial, masks = make_case(
            77 + 100 * n_qubits + seed, n_qubits, 21, dtype, state
        )
        width = 2**n_qubits if readout == "probs" else len(masks)
        grad_out = torch.randn(
            inputs.shape[0], width, dtype=dtype, generator=torch.Generator().manual_seed(seed)
        )
        _, expected = gradients(
            functools.partial(run_reference, readout, circuit, masks),
            inputs,
            weights,
            initial,
            grad_out,
        )
        _, actual = gradients(
            functools.partial(run_op, readout, diff_method, circuit, masks),
            inputs,
            weights,
            initial,
            grad_out,
        )
        assert len(actual) == len(expected) == (2 if initial is None else 3)
        for name, a, e in zip(
            ["inputs", "weights", "initial_state"], actual, expected, strict=False
        ):
            assert a.dtype == e.dtype, name
            assert_close(a, e, dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_batch_spanning_many_chunks(isa: str, dtype: torch.dtype) -> None:
    # n=8 puts a few blocks in a chunk: 1,000 samples cross chunks and end in a partial block.
    circuit, inputs, weights, initial, masks = make_case(5, 8, 1000, dtype, None)
    x = inputs.clone().requires_grad_()
    w = weights.clone().requires_grad_()
    out = ops.expval(x, w, circuit.program, 8, masks, constants=circuit.constants)
    out.sum().backward()
    xr = inputs.double().requires_grad_()
    wr = weights.double().requires_grad_()
    expected = reference.expval(xr, wr, circuit.program, 8, masks, constants=circuit.constants)
    expected.sum().backward()
    assert_close(out, expected, dtype)
    assert_close(x.grad, xr.grad, dtype)
    # the weight gradient sums 1,000 samples: float32 rounding grows with that sum
    assert_close(
        w.grad / 10 if dtype == torch.float32 else w.grad,
        wr.grad / 10 if dtype == torch.float32 else wr.grad,
        dtype,
    )
