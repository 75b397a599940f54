"""What the operators do with unusual and bad input: clear errors, never a crash."""

from __future__ import annotations

import math

import pytest
import torch

from qmoe_torch import ops, reference
from qmoe_torch.circuits import AngleEmbedding, Circuit, StronglyEntanglingLayers


def router(n_qubits: int = 2) -> Circuit:
    circuit = Circuit(n_qubits)
    circuit.append(AngleEmbedding("X"))
    circuit.append(StronglyEntanglingLayers(3))
    circuit.measure_expval([f"Z{w}" for w in range(n_qubits)])
    return circuit


def tensors(circuit: Circuit, batch: int = 4, dtype: torch.dtype = torch.float64):
    generator = torch.Generator().manual_seed(0)
    inputs = torch.rand(batch, circuit.n_inputs, dtype=dtype, generator=generator) * math.pi
    weights = torch.rand(circuit.n_weights, dtype=dtype, generator=generator) * 2 * math.pi
    return inputs, weights


def call(circuit, inputs, weights, **kwargs):
    program = kwargs.pop("program", circuit.program)
    n_qubits = kwargs.pop("n_qubits", circuit.n_qubits)
    z_masks = kwargs.pop("z_masks", circuit.z_masks)
    return ops.expval(inputs, weights, program, n_qubits, z_masks, **kwargs)


def test_empty_batch_gives_empty_result_and_gradients() -> None:
    circuit = router()
    inputs, weights = tensors(circuit, batch=0)
    inputs.requires_grad_()
    weights.requires_grad_()
    out = call(circuit, inputs, weights)
    assert out.shape == (0, 2)
    out.sum().backward()
    assert inputs.grad.shape == (0, 2)
    assert torch.equal(weights.grad, torch.zeros_like(weights))
    assert ops.probs(inputs, weights, circuit.program, 2).shape == (0, 4)


def test_non_contiguous_tensors_are_accepted() -> None:
    circuit = router()
    inputs, weights = tensors(circuit, batch=6)
    wide = torch.zeros(6, 5, dtype=torch.float64)
    wide[:, 1:5:2] = inputs
    strided_inputs = wide[:, 1:5:2]
    strided_weights = torch.stack([weights, weights], dim=1)[:, 1]
    assert not strided_inputs.is_contiguous() and not strided_weights.is_contiguous()
    expected = call(circuit, inputs, weights)
    torch.testing.assert_close(
        call(circuit, strided_inputs, strided_weights), expected, atol=0, rtol=0
    )
    grad_out = torch.ones(2, 6, dtype=torch.float64).t()  # non-contiguous upstream gradient
    x = strided_inputs.clone().requires_grad_()
    call(circuit, x, weights).backward(grad_out)
    x_ref = inputs.clone().requires_grad_()
    reference.expval(x_ref, weights, circuit.program, 2, circuit.z_masks).backward(grad_out)
    torch.testing.assert_close(x.grad, x_ref.grad, atol=1e-12, rtol=0)


def test_nan_inputs_propagate_to_their_own_rows() -> None:
    circuit = router()
    inputs, weights = tensors(circuit, batch=20)
    inputs[3, 0] = float("nan")
    out = call(circuit, inputs, weights)
    assert torch.isnan(out[3]).all()
    assert torch.isfinite(out[torch.arange(20) != 3]).all()


def test_results_do_not_depend_on_thread_count() -> None:
    circuit = router(4)
    inputs, weights = tensors(circuit, batch=5000, dtype=torch.float32)
    results = []
    threads = torch.get_num_threads()
    try:
        for n_threads in (1, 2, 3):
            torch.set_num_threads(n_threads)
            for method in ("adjoint", "parameter_shift"):
                w = weights.clone().requires_grad_()
                x = inputs.clone().requires_grad_()
                out = call(circuit, x, w, diff_method=method)
                out.backward(torch.ones_like(out))
                results.append((method, out.detach(), x.grad, w.grad))
    finally:
        torch.set_num_threads(threads)
    for method, out, grad_x, grad_w in results:
        first = next(r for r in results if r[0] == method)
        assert torch.equal(out, first[1]) and torch.equal(grad_x, first[2])
        assert torch.equal(grad_w, first[3]), "weight gradients must be bitwise reproducible"


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (dict(inputs=torch.zeros(4)), ValueError, "inputs must be 2-D"),
        (dict(weights=torch.zeros(2, 3, dtype=torch.float64)), ValueError, "weights must be 1-D"),
        (
            dict(weights=torch.zeros(18, dtype=torch.float32)),
            TypeError,
            "weights must have the dtype",
        ),
        (dict(inputs=torch.zeros(4, 2, dtype=torch.int64)), TypeError, "float32 or float64"),
        (
            dict(inputs=torch.zeros(4, 1, dtype=torch.float64)),
            ValueError,
            "param_index=1 is out of range of inputs columns",
        ),
        (dict(weights=torch.zeros(5, dtype=torch.float64)), ValueError, "out of range of weights"),
        (dict(n_qubits=0), ValueError, "n_qubits=0 is out of range: expected 1..24"),
        (dict(n_qubits=40), ValueError, "n_qubits=40 is out of range: expected 1..24"),
        (dict(program=[99, 0, -1, 0, -1]), ValueError, "operation 0: unknown opcode 99"),
        (dict(program=[0, 7, -1, 0, -1]), ValueError, "operation 0 (H): wire0=7 is out of range"),
        (dict(program=[6, 1, 1, 0, -1]), ValueError, "wire0 and wire1 are both 1"),
        (dict(program=[9, 0, -1, 0, -1]), ValueError, "needs a parameter"),
        (dict(program=[9, 0, -1, 3, 0]), ValueError, "out of range of constants"),
        (dict(program=[9, 0, -1, 7, 0]), ValueError, "param_source=7 is unknown"),
        (dict(program=[0, 0, -1]), ValueError, "not a multiple of 5"),
        (dict(z_masks=[8]), ValueError, "z_masks[0]=8 names a wire outside 0..1"),
        (dict(diff_method="finite_diff"), ValueError, 'diff_method="finite_diff" is unknown'),
        (
            dict(initial_state=torch.zeros(4, 3, dtype=torch.complex128)),
            ValueError,
            "initial_state must have shape [batch, 2**n_qubits] = [4, 4]",
        ),
        (
            dict(initial_state=torch.zeros(4, 4, dtype=torch.complex64)),
            TypeError,
            "initial_state must be",
        ),
        (
            dict(weights=torch.zeros(18, dtype=torch.float64, device="meta")),
            ValueError,
            "weights must be on the device of inputs",
        ),
    ],
)
def test_bad_input_names_the_problem(change: dict, error: type, message: str) -> None:
    circuit = router()
    inputs, weights = tensors(circuit)
    kwargs = dict(change)
    inputs = kwargs.pop("inputs", inputs)
    weights = kwargs.pop("weights", weights)
    with pytest.raises(error, match=_literal(message)):
        call(circuit, inputs, weights, **kwargs)


def test_channels_given_to_the_statevector_reference_are_rejected() -> None:
    # The ops send a program with channels to the density-matrix engine (tested in
    # test_ops_density_matrix); the statevector oracle cannot apply them and says so.
    circuit = router()
    inputs, weights = tensors(circuit)
    noisy = [15, 0, -1, 3, 0, *circuit.program]
    assert call(circuit, inputs, weights, program=noisy, constants=[0.1]).shape == (4, 2)
    expected = "cannot apply channel DEPOLARIZING (operation 0); use the density-matrix engine"
    with pytest.raises(ValueError, match=_literal(expected)):
        reference.expval(inputs, weights, noisy, circuit.n_qubits, circuit.z_masks, constants=[0.1])


def _literal(text: str) -> str:
    import re

    return re.escape(text)


def test_bad_isa_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown"):
        ops.set_isa("sse9")
    assert ops.active_isa() in ops.supported_isas()
