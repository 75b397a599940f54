"""gradcheck and torch.library.opcheck on each operator, both gradient methods."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from random_circuits import random_angles, random_circuit, random_state

from qmoe_torch import ops, reference


def case(n_qubits: int, batch: int, seed: int):
    rng = np.random.default_rng(seed)
    circuit = random_circuit(n_qubits, 24, 2, 3, rng)
    inputs = random_angles(rng, (batch, 2)).requires_grad_()
    weights = random_angles(rng, (3,)).requires_grad_()
    state = random_state(rng, batch, n_qubits).requires_grad_()
    return circuit, inputs, weights, state


@pytest.mark.parametrize("diff_method", ["adjoint", "parameter_shift"])
@pytest.mark.parametrize("with_state", [False, True])
def test_gradcheck_expval(diff_method: str, with_state: bool) -> None:
    circuit, inputs, weights, state = case(3, 4, 1)

    def fn(x, w, *s):
        return ops.expval(
            x,
            w,
            circuit.program,
            3,
            [1, 2, 5, 7],
            constants=circuit.constants,
            initial_state=s[0] if s else None,
            diff_method=diff_method,
        )

    args = (inputs, weights, state) if with_state else (inputs, weights)
    assert torch.autograd.gradcheck(fn, args)


@pytest.mark.parametrize("diff_method", ["adjoint", "parameter_shift"])
def test_gradcheck_probs(diff_method: str) -> None:
    circuit, inputs, weights, state = case(2, 3, 2)

    def fn(x, w, s):
        return ops.probs(
            x,
            w,
            circuit.program,
            2,
            constants=circuit.constants,
            initial_state=s,
            diff_method=diff_method,
        )

    assert torch.autograd.gradcheck(fn, (inputs, weights, state))


def test_gradcheck_real_initial_state() -> None:
    circuit, inputs, weights, _ = case(2, 3, 3)
    state = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)

    def fn(x, w, s):
        return ops.expval(
            x, w, circuit.program, 2, [3, 1], constants=circuit.constants, initial_state=s
        )

    assert torch.autograd.gradcheck(fn, (inputs, weights, state))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("diff_method", ["adjoint", "parameter_shift"])
def test_opcheck(dtype: torch.dtype, diff_method: str) -> None:
    circuit, inputs, weights, state = case(3, 5, 4)
    inputs = inputs.detach().to(dtype).requires_grad_()
    weights = weights.detach().to(dtype).requires_grad_()
    state = state.detach().to(torch.complex64 if dtype == torch.float32 else torch.complex128)
    program, constants = circuit.program, circuit.constants
    torch.library.opcheck(
        torch.ops.qmoe.expval.default,
        (inputs, weights, None, program, constants, 3, [1, 6], diff_method),
    )
    torch.library.opcheck(
        torch.ops.qmoe.expval.default,
        (inputs, weights, state.requires_grad_(), program, constants, 3, [4], diff_method),
    )
    torch.library.opcheck(
        torch.ops.qmoe.probs.default, (inputs, weights, None, program, constants, 3, diff_method)
    )
    grad_out = torch.randn(5, 2, dtype=dtype)
    torch.library.opcheck(
        torch.ops.qmoe.circuit_backward.default,
        (
            grad_out,
            inputs.detach(),
            weights.detach(),
            None,
            program,
            constants,
            3,
            [1, 6],
            False,
            diff_method,
            [True, True, False],
        ),
    )


def test_only_requested_gradients_are_computed() -> None:
    circuit, inputs, weights, _ = case(2, 4, 5)
    frozen = weights.detach()
    out = ops.expval(inputs, frozen, circuit.program, 2, [1], constants=circuit.constants)
    (grad_inputs,) = torch.autograd.grad(out.sum(), [inputs])
    assert grad_inputs.shape == inputs.shape and frozen.grad is None


def test_second_call_reuses_nothing_stale() -> None:
    # the op holds no state between calls: new weights give new results
    circuit, inputs, weights, _ = case(2, 4, 6)
    first = ops.expval(inputs, weights, circuit.program, 2, [1], constants=circuit.constants)
    second = ops.expval(inputs, weights + 0.5, circuit.program, 2, [1], constants=circuit.constants)
    assert not torch.allclose(first, second)


@pytest.mark.parametrize("diff_method", ["adjoint", "parameter_shift"])
@pytest.mark.parametrize("with_state", [False, True])
def test_gradcheck_with_kept_final_state(diff_method: str, with_state: bool) -> None:
    # From 4 qubits the adjoint backward takes the forward's final states instead of
    # running the circuit again (circuit_forward with keep_state).
    circuit, inputs, weights, state = case(4, 3, 7)

    def fn(x, w, *s):
        return ops.expval(
            x,
            w,
            circuit.program,
            4,
            [1, 6, 15],
            constants=circuit.constants,
            initial_state=s[0] if s else None,
            diff_method=diff_method,
        )

    args = (inputs, weights, state) if with_state else (inputs, weights)
    assert torch.autograd.gradcheck(fn, args)


@pytest.mark.parametrize("probs", [False, True])
def test_kept_final_state_is_the_state(probs: bool) -> None:
    circuit, inputs, weights, _ = case(4, 6, 8)
    program, constants = circuit.program, circuit.constants
    masks = [] if probs else [3, 8]
    out, state = torch.ops.qmoe.circuit_forward(
        inputs.detach(),
        weights.detach(),
        None,
        program,
        constants,
        4,
        masks,
        probs,
        "adjoint",
        True,
    )
    expected = reference.state(inputs.detach(), weights.detach(), program, 4, constants=constants)
    torch.testing.assert_close(torch.view_as_complex(state), expected, atol=1e-12, rtol=0)
    plain, empty = torch.ops.qmoe.circuit_forward(
        inputs.detach(),
        weights.detach(),
        None,
        program,
        constants,
        4,
        masks,
        probs,
        "adjoint",
        False,
    )
    assert torch.equal(out, plain) and empty.numel() == 0
    grad_out = torch.randn_like(out)
    args = (
        grad_out,
        inputs.detach(),
        weights.detach(),
        None,
        program,
        constants,
        4,
        masks,
        probs,
        "adjoint",
        [True, True, False],
    )
    recomputed = torch.ops.qmoe.circuit_backward(*args)
    kept = torch.ops.qmoe.circuit_backward(*args, state)
    for a, b in zip(recomputed[:2], kept[:2], strict=True):
        assert torch.equal(a, b)


def test_kept_final_state_of_the_wrong_shape_is_rejected() -> None:
    circuit, inputs, weights, _ = case(4, 2, 9)
    grad_out = torch.randn(2, 1, dtype=torch.float64)
    with pytest.raises(ValueError, match="final_state must be"):
        torch.ops.qmoe.circuit_backward(
            grad_out,
            inputs.detach(),
            weights.detach(),
            None,
            circuit.program,
            circuit.constants,
            4,
            [1],
            False,
            "adjoint",
            [True, True, False],
            torch.zeros(2, 8, 2, dtype=torch.float64),
        )


@pytest.mark.parametrize("keep_state", [False, True])
def test_opcheck_forward_keeping_state(keep_state: bool) -> None:
    circuit, inputs, weights, _ = case(4, 5, 10)
    program, constants = circuit.program, circuit.constants
    args = (
        inputs.detach(),
        weights.detach(),
        None,
        program,
        constants,
        4,
        [1, 6],
        False,
        "adjoint",
    )
    torch.library.opcheck(torch.ops.qmoe.circuit_forward.default, (*args, keep_state))
    _, state = torch.ops.qmoe.circuit_forward(*args, True)
    grad_out = torch.randn(5, 2, dtype=torch.float64)
    torch.library.opcheck(
        torch.ops.qmoe.circuit_backward.default,
        (
            grad_out,
            *args[:2],
            None,
            program,
            constants,
            4,
            [1, 6],
            False,
            "adjoint",
            [True, True, False],
            state,
        ),
    )
