"""The reference simulator: closed forms, an independent dense simulator, and its contract."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from dense_simulator import dense_state, embed, expm_hermitian
from random_circuits import random_angles, random_circuit, random_state

from qmoe_torch import reference
from qmoe_torch.circuits import Circuit
from qmoe_torch.opcodes import Opcode, ParamSource

F64 = torch.float64
NO_INPUTS = torch.zeros(1, 0, dtype=F64)
NO_WEIGHTS = torch.zeros(0, dtype=F64)


def _state(
    circuit: Circuit, inputs: torch.Tensor = NO_INPUTS, weights: torch.Tensor = NO_WEIGHTS, **kwargs
) -> torch.Tensor:
    return reference.state(
        inputs, weights, circuit.program, circuit.n_qubits, constants=circuit.constants, **kwargs
    )


def _probs(
    circuit: Circuit, inputs: torch.Tensor = NO_INPUTS, weights: torch.Tensor = NO_WEIGHTS, **kwargs
) -> torch.Tensor:
    return reference.probs(
        inputs, weights, circuit.program, circuit.n_qubits, constants=circuit.constants, **kwargs
    )


def _expval(
    circuit: Circuit, inputs: torch.Tensor = NO_INPUTS, weights: torch.Tensor = NO_WEIGHTS, **kwargs
) -> torch.Tensor:
    return reference.expval(
        inputs,
        weights,
        circuit.program,
        circuit.n_qubits,
        circuit.z_masks,
        constants=circuit.constants,
        **kwargs,
    )


def _random_setup(seed: int, n_qubits: int, n_ops: int = 40, batch: int = 3):
    rng = np.random.default_rng(seed)
    circuit = random_circuit(n_qubits, n_ops, n_inputs=3, n_weights=4, rng=rng)
    inputs = random_angles(rng, (batch, 3))
    weights = random_angles(rng, (4,))
    return rng, circuit, inputs, weights


# --------------------------------------------------------------------- closed forms
def test_bell_state() -> None:
    psi = _state(Circuit(2).h(0).cnot(0, 1))
    expected = torch.tensor([[1, 0, 0, 1]], dtype=torch.complex128) / math.sqrt(2)
    torch.testing.assert_close(psi, expected, atol=1e-15, rtol=0)


@pytest.mark.parametrize("n_qubits", [3, 5])
def test_ghz_state(n_qubits: int) -> None:
    circuit = Circuit(n_qubits).h(0)
    for wire in range(1, n_qubits):
        circuit.cnot(wire - 1, wire)
    probs = _probs(circuit)[0]
    assert probs[0].item() == pytest.approx(0.5, abs=1e-15)
    assert probs[-1].item() == pytest.approx(0.5, abs=1e-15)
    assert probs[1:-1].abs().max().item() < 1e-15
    circuit.measure_expval(["Z0Z1", [0, n_qubits - 1], "Z0"])
    torch.testing.assert_close(
        _expval(circuit)[0], torch.tensor([1, 1, 0], dtype=F64), atol=1e-15, rtol=0
    )


@pytest.mark.parametrize("axis", ["x", "y"])
def test_rx_ry_expval_is_cos(axis: str) -> None:
    angles = torch.linspace(-7, 7, 29, dtype=F64)[:, None]
    circuit = getattr(Circuit(1), f"r{axis}")(0, input=0).measure_expval(["Z0"])
    torch.testing.assert_close(
        _expval(circuit, angles)[:, 0], torch.cos(angles[:, 0]), atol=1e-14, rtol=0
    )


def test_rz_on_plus_state_rotates_phase() -> None:
    angles = torch.linspace(-7, 7, 29, dtype=F64)[:, None]
    circuit = Circuit(1).h(0).rz(0, input=0).h(0).measure_expval(["Z0"])
    torch.testing.assert_close(
        _expval(circuit, angles)[:, 0], torch.cos(angles[:, 0]), atol=1e-14, rtol=0
    )
    psi = _state(Circuit(1).rz(0, constant=0.7))
    expected = torch.tensor([[complex(math.cos(0.35), -math.sin(0.35)), 0]], dtype=torch.complex128)
    torch.testing.assert_close(psi, expected, atol=1e-15, rtol=0)


def test_hadamard_probs() -> None:
    torch.testing.assert_close(
        _probs(Circuit(1).h(0)), torch.tensor([[0.5, 0.5]], dtype=F64), atol=1e-15, rtol=0
    )


@pytest.mark.parametrize(
    ("gate", "phase"),
    [("s", 1j), ("t", complex(math.cos(math.pi / 4), math.sin(math.pi / 4))), ("z", -1)],
)
def test_phase_gates_between_hadamards(gate: str, phase: complex) -> None:
    circuit = Circuit(1).h(0)
    getattr(circuit, gate)(0)
    circuit.h(0)
    expected = torch.tensor([[(1 + phase) / 2, (1 - phase) / 2]], dtype=torch.complex128)
    torch.testing.assert_close(_state(circuit), expected, atol=1e-15, rtol=0)


def test_pauli_y_and_x() -> None:
    torch.testing.assert_close(
        _state(Circuit(1).y(0)), torch.tensor([[0, 1j]], dtype=torch.complex128)
    )
    torch.testing.assert_close(
        _state(Circuit(1).x(0)), torch.tensor([[0, 1]], dtype=torch.complex128)
    )


def test_basis_order_wire0_is_most_significant() -> None:
    assert _probs(Circuit(2).x(0))[0].argmax().item() == 2
    assert _probs(Circuit(2).x(1))[0].argmax().item() == 1
    assert _probs(Circuit(3).x(0).x(2))[0].argmax().item() == 0b101
    circuit = Circuit(2).x(0).measure_expval(["Z0", "Z1", "Z0Z1", "I"])
    torch.testing.assert_close(_expval(circuit)[0], torch.tensor([-1, 1, -1, 1], dtype=F64))


def test_cnot_direction_and_cz_swap() -> None:
    assert _probs(Circuit(2).x(0).cnot(0, 1))[0].argmax().item() == 3
    assert _probs(Circuit(2).x(0).cnot(1, 0))[0].argmax().item() == 2
    assert _probs(Circuit(2).x(1).cnot(1, 0))[0].argmax().item() == 3
    assert _probs(Circuit(3).x(0).swap(0, 2))[0].argmax().item() == 1
    psi = _state(Circuit(2).h(0).h(1).cz(1, 0))
    torch.testing.assert_close(psi, torch.tensor([[1, 1, 1, -1]], dtype=torch.complex128) / 2)


@pytest.mark.parametrize("opcode", [Opcode.ISING_XX, Opcode.ISING_YY, Opcode.ISING_ZZ])
@pytest.mark.parametrize("wires", [(0, 1), (1, 0), (0, 2), (2, 0), (1, 2)])
def test_ising_gates_match_explicit_kron(opcode: Opcode, wires: tuple[int, int]) -> None:
    pauli = {
        Opcode.ISING_XX: [[0, 1], [1, 0]],
        Opcode.ISING_YY: [[0, -1j], [1j, 0]],
        Opcode.ISING_ZZ: [[1, 0], [0, -1]],
    }[opcode]
    pauli_pair = torch.kron(
        torch.tensor(pauli, dtype=torch.complex128), torch.tensor(pauli, dtype=torch.complex128)
    )
    angle = 0.917
    gate = torch.linalg.matrix_exp(-0.5j * angle * pauli_pair)
    # Build the 3-qubit operator by kron with an identity, then permute axes onto `wires`.
    others = [w for w in range(3) if w not in wires]
    full = torch.kron(gate, torch.eye(2, dtype=torch.complex128)).reshape([2] * 6)
    order = list(wires) + others
    inverse = [order.index(w) for w in range(3)]
    full = full.permute(inverse + [3 + i for i in inverse]).reshape(8, 8)

    rng = np.random.default_rng(7)
    initial = random_state(rng, 2, 3)
    circuit = Circuit(3)
    getattr(circuit, opcode.name.lower())(*wires, constant=angle)
    psi = _state(circuit, NO_INPUTS.expand(2, 0), initial_state=initial)
    torch.testing.assert_close(psi, initial @ full.T, atol=1e-14, rtol=0)


# --------------------------------------------------------------------- independent simulator
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n_qubits", [1, 2, 3, 4])
def test_random_circuits_match_dense_simulator(seed: int, n_qubits: int) -> None:
    rng, circuit, inputs, weights = _random_setup(seed, n_qubits)
    initial = random_state(rng, inputs.shape[0], n_qubits) if seed % 2 else None
    psi = _state(circuit, inputs, weights, initial_state=initial)
    for b in range(inputs.shape[0]):
        expected = dense_state(
            circuit.ops,
            n_qubits,
            inputs[b].numpy(),
            weights.numpy(),
            circuit.constants,
            None if initial is None else initial[b].numpy(),
        )
        np.testing.assert_allclose(psi[b].numpy(), expected, atol=1e-12, rtol=0)


def test_dense_helpers_agree_with_closed_forms() -> None:
    # The cross-check is only as good as its helpers: RX(pi) = -iX, embed(X on wire 0) of 2.
    np.testing.assert_allclose(
        expm_hermitian(np.array([[0, 1], [1, 0]]), math.pi), [[0, -1j], [-1j, 0]], atol=1e-15
    )
    np.testing.assert_allclose(
        embed(np.array([[0, 1], [1, 0]]), [0], 2) @ np.eye(4)[0], np.eye(4)[2]
    )


@pytest.mark.parametrize("seed", range(4))
def test_norm_is_preserved(seed: int) -> None:
    _, circuit, inputs, weights = _random_setup(seed, 4, n_ops=80, batch=5)
    norms = _probs(circuit, inputs, weights).sum(dim=1)
    torch.testing.assert_close(norms, torch.ones(5, dtype=F64), atol=1e-13, rtol=0)


def test_expval_agrees_with_probs() -> None:
    _, circuit, inputs, weights = _random_setup(11, 3)
    circuit.measure_expval(["Z0", "Z2", "Z0Z1Z2", "I"])
    probs = _probs(circuit, inputs, weights)
    basis = torch.arange(8)
    wire_bit = [(basis >> (2 - w)) & 1 for w in range(3)]
    z0, z1, z2 = (1 - 2 * bit.to(F64) for bit in wire_bit)
    expected = torch.stack([probs @ z0, probs @ z2, probs @ (z0 * z1 * z2), probs.sum(1)], 1)
    torch.testing.assert_close(_expval(circuit, inputs, weights), expected, atol=1e-14, rtol=0)


def test_batch_rows_are_independent() -> None:
    _, circuit, inputs, weights = _random_setup(3, 3, batch=4)
    batched = _state(circuit, inputs, weights)
    for b in range(4):
        torch.testing.assert_close(
            batched[b : b + 1], _state(circuit, inputs[b : b + 1], weights), atol=1e-15, rtol=0
        )


# --------------------------------------------------------------------- initial state
def test_complex_initial_state() -> None:
    rng = np.random.default_rng(5)
    initial = random_state(rng, 3, 2)
    torch.testing.assert_close(
        _state(Circuit(2).z(1), NO_INPUTS.expand(3, 0), initial_state=initial),
        initial * torch.tensor([1, -1, 1, -1]),
        atol=0,
        rtol=0,
    )


def test_real_initial_state_is_used_unnormalised() -> None:
    initial = torch.tensor([[3.0, 0.0, 0.0, 4.0]], dtype=F64)
    circuit = Circuit(2).measure_expval(["I", "Z0", "Z1"])
    torch.testing.assert_close(
        _expval(circuit, initial_state=initial), torch.tensor([[25.0, -7.0, -7.0]], dtype=F64)
    )


def test_initial_state_gradient_flows() -> None:
    initial = torch.tensor([[0.6, 0.8]], dtype=F64, requires_grad=True)
    circuit = Circuit(1).measure_expval(["Z0"])
    _expval(circuit, initial_state=initial).sum().backward()
    torch.testing.assert_close(initial.grad, torch.tensor([[1.2, -1.6]], dtype=F64))


def test_initial_state_validation() -> None:
    circuit = Circuit(2)
    with pytest.raises(ValueError, match="shape"):
        _state(circuit, initial_state=torch.zeros(1, 3, dtype=F64))
    with pytest.raises(ValueError, match="dtype"):
        _state(circuit, initial_state=torch.zeros(1, 4, dtype=torch.complex64))


# --------------------------------------------------------------------- precision, gradients
def test_float32_matches_float64() -> None:
    _, circuit, inputs, weights = _random_setup(2, 3)
    circuit.measure_expval(["Z0", "Z1Z2"])
    out32 = _expval(circuit, inputs.float(), weights.float())
    assert out32.dtype == torch.float32
    assert _state(circuit, inputs.float(), weights.float()).dtype == torch.complex64
    torch.testing.assert_close(out32.double(), _expval(circuit, inputs, weights), atol=1e-5, rtol=0)


def test_gradcheck_random_circuit() -> None:
    _, circuit, inputs, weights = _random_setup(4, 3, n_ops=25, batch=2)
    circuit.measure_expval(["Z0", "Z0Z2"])
    inputs.requires_grad_(True)
    weights.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, w: _expval(circuit, x, w), (inputs, weights))
    assert torch.autograd.gradcheck(lambda x, w: _probs(circuit, x, w), (inputs, weights))


def test_parameter_shift_rule_matches_autograd() -> None:
    _, circuit, inputs, weights = _random_setup(9, 3, n_ops=30, batch=1)
    circuit.measure_expval(["Z1"])
    weights.requires_grad_(True)
    _expval(circuit, inputs, weights).sum().backward()
    values = weights.detach()
    assert any(op[3] == ParamSource.WEIGHT for op in circuit.ops)
    # A weight used several times: its derivative is the sum of the two-term rule over its uses,
    # each use shifted alone (rewired to read a shifted constant).
    for index in range(values.shape[0]):
        derivative = 0.0
        for position, op in enumerate(circuit.ops):
            if op[3] != ParamSource.WEIGHT or op[4] != index:
                continue
            for sign in (1, -1):
                constants = [*circuit.constants, values[index].item() + sign * math.pi / 2]
                program = list(circuit.program)
                program[5 * position + 3 : 5 * position + 5] = [
                    ParamSource.CONSTANT,
                    len(constants) - 1,
                ]
                value = reference.expval(
                    inputs, values, program, 3, circuit.z_masks, constants=constants
                )
                derivative += sign * value.item() / 2
        assert derivative == pytest.approx(weights.grad[index].item(), abs=1e-12)


# --------------------------------------------------------------------- contract
def test_empty_batch() -> None:
    _, circuit, inputs, weights = _random_setup(1, 3)
    circuit.measure_expval(["Z0", "Z1"])
    assert _expval(circuit, inputs[:0], weights).shape == (0, 2)
    assert _probs(circuit, inputs[:0], weights).shape == (0, 8)


def test_empty_program_and_no_masks() -> None:
    torch.testing.assert_close(_probs(Circuit(2)), torch.tensor([[1.0, 0, 0, 0]], dtype=F64))
    assert reference.expval(NO_INPUTS, NO_WEIGHTS, [], 2, []).shape == (1, 0)


def test_channels_are_refused() -> None:
    circuit = Circuit(1).h(0).depolarizing(0, constant=0.1)
    with pytest.raises(ValueError, match="statevector reference cannot apply channel"):
        _state(circuit)


def test_invalid_programs_are_refused() -> None:
    with pytest.raises(ValueError, match="wire0=2 is out of range"):
        reference.state(NO_INPUTS, NO_WEIGHTS, [0, 2, -1, 0, -1], 2)
    with pytest.raises(ValueError, match="inputs columns"):
        reference.state(NO_INPUTS, NO_WEIGHTS, [9, 0, -1, 1, 0], 2)
    with pytest.raises(ValueError, match="weights"):
        reference.state(NO_INPUTS, NO_WEIGHTS, [9, 0, -1, 2, 0], 2)
    with pytest.raises(ValueError, match="multiple of 5"):
        reference.state(NO_INPUTS, NO_WEIGHTS, [0, 0, -1, 0], 2)
    with pytest.raises(ValueError, match="z_masks"):
        reference.expval(NO_INPUTS, NO_WEIGHTS, [], 2, [4])
    with pytest.raises(ValueError, match="differs"):
        reference.state(NO_INPUTS, NO_WEIGHTS.float(), [], 2)
