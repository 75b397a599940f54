"""The density-matrix oracle: closed forms, physicality, and the statevector oracle."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from random_circuits import random_angles, random_circuit

from qmoe_torch import density_reference, reference
from qmoe_torch.circuits import Circuit

CHANNELS = ["depolarizing", "amplitude_damping", "phase_damping", "bit_flip"]


def noisy(circuit: Circuit, rng: np.random.Generator, count: int) -> Circuit:
    """``circuit`` with ``count`` random channels of random probability on random wires."""
    for _ in range(count):
        channel = getattr(circuit, CHANNELS[int(rng.integers(len(CHANNELS)))])
        channel(int(rng.integers(circuit.n_qubits)), constant=float(rng.uniform(0, 1)))
    return circuit


@pytest.mark.parametrize("n_qubits", [1, 2, 3])
def test_noiseless_programs_give_the_pure_state(n_qubits: int) -> None:
    rng = np.random.default_rng(n_qubits)
    circuit = random_circuit(n_qubits, 12, 2, 3, rng)
    inputs, weights = random_angles(rng, (4, 2)), random_angles(rng, (3,))
    psi = reference.state(inputs, weights, circuit.program, n_qubits, constants=circuit.constants)
    rho = density_reference.density_matrix(
        inputs, weights, circuit.program, n_qubits, constants=circuit.constants
    )
    torch.testing.assert_close(rho, psi[:, :, None] * psi.conj()[:, None, :], atol=1e-12, rtol=0)


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.75, 1.0])
def test_depolarizing_scales_z_by_one_minus_four_thirds_p(p: float) -> None:
    circuit = Circuit(1).rx(0, input=0).depolarizing(0, constant=p)
    angles = torch.tensor([[0.3], [1.7], [2.9]], dtype=torch.float64)
    noiseless = torch.cos(angles)
    value = density_reference.expval(
        angles,
        torch.zeros(0, dtype=torch.float64),
        circuit.program,
        1,
        [1],
        constants=circuit.constants,
    )
    torch.testing.assert_close(value, (1 - 4 * p / 3) * noiseless, atol=1e-12, rtol=0)


@pytest.mark.parametrize("gamma", [0.0, 0.2, 0.6, 1.0])
def test_amplitude_damping_of_one(gamma: float) -> None:
    circuit = Circuit(1).x(0).amplitude_damping(0, constant=gamma)
    value = density_reference.expval(
        torch.zeros(1, 0, dtype=torch.float64),
        torch.zeros(0, dtype=torch.float64),
        circuit.program,
        1,
        [1],
        constants=circuit.constants,
    )
    torch.testing.assert_close(value, torch.tensor([[2 * gamma - 1]], dtype=torch.float64))


def test_phase_damping_and_bit_flip_closed_forms() -> None:
    # |+> under phase damping g: off-diagonal 1/2 -> sqrt(1-g)/2; bit flip p on |0>: <Z> = 1-2p
    damped = Circuit(1).h(0).phase_damping(0, constant=0.36)
    rho = density_reference.density_matrix(
        torch.zeros(1, 0, dtype=torch.float64),
        torch.zeros(0, dtype=torch.float64),
        damped.program,
        1,
        constants=damped.constants,
    )
    torch.testing.assert_close(rho[0, 0, 1].real, torch.tensor(0.4, dtype=torch.float64))
    flipped = Circuit(1).bit_flip(0, constant=0.3)
    value = density_reference.expval(
        torch.zeros(1, 0, dtype=torch.float64),
        torch.zeros(0, dtype=torch.float64),
        flipped.program,
        1,
        [1],
        constants=flipped.constants,
    )
    torch.testing.assert_close(value, torch.tensor([[0.4]], dtype=torch.float64))


@pytest.mark.parametrize("seed", range(6))
def test_random_noisy_circuits_stay_physical(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n_qubits = 1 + seed % 3
    circuit = noisy(random_circuit(n_qubits, 10, 2, 3, rng), rng, 6)
    inputs, weights = random_angles(rng, (3, 2)), random_angles(rng, (3,))
    rho = density_reference.density_matrix(
        inputs, weights, circuit.program, n_qubits, constants=circuit.constants
    )
    trace = torch.diagonal(rho, dim1=-2, dim2=-1).sum(-1)
    torch.testing.assert_close(trace, torch.ones_like(trace), atol=1e-12, rtol=0)
    torch.testing.assert_close(rho, rho.conj().transpose(-1, -2), atol=1e-12, rtol=0)
    assert torch.linalg.eigvalsh(rho).min() >= -1e-12


def test_gradients_flow_through_channels() -> None:
    circuit = Circuit(2).rx(0, input=0).ry(1, weight=0).cnot(0, 1).depolarizing(1, constant=0.2)
    circuit.amplitude_damping(0, weight=1)
    inputs = torch.tensor([[0.4], [1.3]], dtype=torch.float64, requires_grad=True)
    weights = torch.tensor([0.7, 0.25], dtype=torch.float64, requires_grad=True)

    def fn(x, w):
        return density_reference.expval(
            x, w, circuit.program, 2, [1, 2, 3], constants=circuit.constants
        )

    assert torch.autograd.gradcheck(fn, (inputs, weights))


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_probabilities_outside_zero_one_are_rejected(p: float) -> None:
    # from a weight: the circuit builder already refuses non-finite constants
    circuit = Circuit(1).depolarizing(0, weight=0)
    with pytest.raises(ValueError, match="probability must be in"):
        density_reference.density_matrix(
            torch.zeros(1, 0, dtype=torch.float64),
            torch.tensor([p], dtype=torch.float64),
            circuit.program,
            1,
        )
