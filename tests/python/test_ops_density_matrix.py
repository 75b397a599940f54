"""The density-matrix engine through the operators against the plain-PyTorch density oracle.

Programs with noise channels run on the C++ density-matrix engine; ``density_reference`` is the
float64 oracle (tested on its own in test_density_reference.py). Gradients of the oracle come
from autograd, so they check the engine's adjoint sweep and parameter-shift rule independently.
"""

from __future__ import annotations

import functools
import itertools
import math
import time

import numpy as np
import pytest
import torch
from random_circuits import random_angles, random_circuit, random_state

from qmoe_torch import density_reference, ops, reference
from qmoe_torch.circuits import Circuit
from qmoe_torch.opcodes import Opcode, ParamSource

CHANNELS = ["depolarizing", "amplitude_damping", "phase_damping", "bit_flip"]
CHANNEL_OPCODES = {
    Opcode.DEPOLARIZING,
    Opcode.AMPLITUDE_DAMPING,
    Opcode.PHASE_DAMPING,
    Opcode.BIT_FLIP,
}
TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}
GRADIENT_TOLERANCE = 1e-9

# Every random case reads angles from input columns 0..1 and weights 0..2; a channel whose
# probability is per sample reads column 2, a shared one weight 3 (both kept inside (0, 1)).
N_ANGLE_INPUTS, N_ANGLE_WEIGHTS = 2, 3
PROBABILITY_COLUMN, PROBABILITY_WEIGHT = N_ANGLE_INPUTS, N_ANGLE_WEIGHTS
ALL_SOURCES = ("constant", "weight", "input")


def assert_close(actual: torch.Tensor, expected: torch.Tensor, tolerance: float) -> None:
    """Max-abs error within ``tolerance`` times the size of the expected values (at least 1)."""
    actual, expected = actual.detach(), expected.detach()
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    if not expected.numel():
        return
    scale = max(1.0, float(expected.abs().max()))
    error = float((actual.to(expected.dtype) - expected).abs().max())
    assert error <= tolerance * scale, f"max error {error:.3e} (scale {scale:.2f})"


def add_channel(circuit: Circuit, rng: np.random.Generator, source: str) -> None:
    """One channel of a random kind on a random wire, its probability from ``source``."""
    channel = getattr(circuit, CHANNELS[int(rng.integers(len(CHANNELS)))])
    wire = int(rng.integers(circuit.n_qubits))
    if source == "weight":
        channel(wire, weight=PROBABILITY_WEIGHT)
    elif source == "input":
        channel(wire, input=PROBABILITY_COLUMN)
    else:
        # the ends of [0, 1] now and then: complete damping, complete flips
        p = float(rng.choice([0.0, 1.0])) if rng.random() < 0.15 else float(rng.uniform(0, 1))
        channel(wire, constant=p)


def noisy_circuit(
    n_qubits: int,
    rng: np.random.Generator,
    n_ops: int = 12,
    n_channels: int = 6,
    sources: tuple[str, ...] = ALL_SOURCES,
) -> Circuit:
    """``random_circuit`` with ``n_channels`` random channels: one before the unitary part,
    one after it, the rest at random positions in between; their probabilities come from each
    of ``sources`` in turn (in a random order)."""
    channel_sources = [sources[i % len(sources)] for i in range(n_channels)]
    channel_sources = [channel_sources[i] for i in rng.permutation(n_channels)]
    unitary = random_circuit(n_qubits, n_ops, N_ANGLE_INPUTS, N_ANGLE_WEIGHTS, rng)
    positions = [0, len(unitary)] + [
        int(p) for p in rng.integers(0, len(unitary) + 1, size=n_channels - 2)
    ]
    circuit = Circuit(n_qubits)
    circuit.new_weights((N_ANGLE_WEIGHTS + 1,))
    ops_list = unitary.ops
    for position in range(len(ops_list) + 1):
        for _ in range(positions.count(position)):
            add_channel(circuit, rng, channel_sources.pop())
        if position == len(ops_list):
            break
        opcode, wire0, wire1, source, index = ops_list[position]
        if source == ParamSource.CONSTANT:
            index = circuit.add_constant(unitary.constants[index])
        circuit.add(opcode, [wire0] if wire1 < 0 else [wire0, wire1], source, index)
    return circuit


def random_masks(rng: np.random.Generator, n_qubits: int) -> list[int]:
    """The identity, Z on the first wire, Z on every wire and a few random strings."""
    masks = [0, 1, (1 << n_qubits) - 1]
    return masks + [int(m) for m in rng.integers(0, 2**n_qubits, size=3)]


def make_case(
    seed: int,
    n_qubits: int,
    batch: int,
    dtype: torch.dtype = torch.float64,
    state: str | None = None,
    sources: tuple[str, ...] = ALL_SOURCES,
    n_channels: int = 6,
):
    rng = np.random.default_rng(seed)
    circuit = noisy_circuit(n_qubits, rng, 4 * n_qubits + 10, n_channels, sources)
    angles = random_angles(rng, (batch, N_ANGLE_INPUTS), torch.float64)
    probabilities = torch.tensor(rng.uniform(0.05, 0.9, size=(batch, 1)), dtype=torch.float64)
    inputs = torch.cat([angles, probabilities], 1).to(dtype)
    weights = torch.cat(
        [
            random_angles(rng, (N_ANGLE_WEIGHTS,)),
            torch.tensor([rng.uniform(0.05, 0.9)], dtype=torch.float64),
        ]
    ).to(dtype)
    complex_dtype = torch.complex64 if dtype == torch.float32 else torch.complex128
    initial = None
    if state == "complex":
        initial = random_state(rng, batch, n_qubits, complex_dtype)
    elif state == "real":
        initial = random_state(rng, batch, n_qubits, dtype)
    return circuit, inputs, weights, initial, random_masks(rng, n_qubits)


def to_double(tensor: torch.Tensor | None) -> torch.Tensor | None:
    if tensor is None:
        return None
    return tensor.to(torch.complex128 if tensor.is_complex() else torch.float64)


def run_reference(readout: str, circuit: Circuit, masks, x, w, s=None) -> torch.Tensor:
    if readout == "probs":
        return density_reference.probs(
            x, w, circuit.program, circuit.n_qubits, s, circuit.constants
        )
    return density_reference.expval(
        x, w, circuit.program, circuit.n_qubits, masks, s, circuit.constants
    )


def run_op(readout: str, diff_method: str, circuit: Circuit, masks, x, w, s=None) -> torch.Tensor:
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


def gradients(fn, tensors, wanted, grad_out):
    """Output and gradients of ``fn(*leaves)`` for the leaves whose ``wanted`` flag is set."""
    leaves = [
        None if t is None else t.detach().clone().requires_grad_(bool(want))
        for t, want in zip(tensors, wanted, strict=True)
    ]
    out = fn(*leaves)
    grads = torch.autograd.grad(
        out, [t for t in leaves if t is not None and t.requires_grad], grad_out
    )
    return out.detach(), grads


# ---------------------------------------------------------------------------- values


def test_random_cases_use_every_channel_and_source() -> None:
    # Guards the coverage of the comparisons below.
    opcodes, sources = set(), set()
    for seed in range(8):
        circuit = make_case(seed, 1 + seed % 4, 2)[0]
        opcodes |= {op[0] for op in circuit.ops if op[0] in CHANNEL_OPCODES}
        sources |= {op[3] for op in circuit.ops if op[0] in CHANNEL_OPCODES}
        ops_list = circuit.ops
        assert ops_list[0][0] in CHANNEL_OPCODES and ops_list[-1][0] in CHANNEL_OPCODES
    assert opcodes == CHANNEL_OPCODES
    assert sources == {ParamSource.INPUT, ParamSource.WEIGHT, ParamSource.CONSTANT}


@pytest.mark.parametrize("state", [None, "complex", "real"])
@pytest.mark.parametrize("n_qubits", [1, 2, 3, 4])
def test_forward_matches_reference(n_qubits: int, state: str | None, isa: str) -> None:
    for seed in range(2):
        circuit, inputs, weights, initial, masks = make_case(
            100 * n_qubits + 10 * seed + len(state or ""), n_qubits, 7, state=state
        )
        expected = density_reference.probs(
            inputs, weights, circuit.program, n_qubits, initial, circuit.constants
        )
        actual = ops.probs(
            inputs,
            weights,
            circuit.program,
            n_qubits,
            initial_state=initial,
            constants=circuit.constants,
        )
        assert actual.dtype == torch.float64
        assert_close(actual, expected, TOLERANCE[torch.float64])
        expected = density_reference.expval(
            inputs, weights, circuit.program, n_qubits, masks, initial, circuit.constants
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
        assert_close(actual, expected, TOLERANCE[torch.float64])
        # mask 0 is the identity: the trace, 1 up to rounding (states are normalised)
        assert_close(actual[:, 0], torch.ones(7, dtype=torch.float64), 1e-12)


@pytest.mark.parametrize("state", [None, "complex", "real"])
@pytest.mark.parametrize("n_qubits", [1, 3, 4])
def test_float32_matches_float64_reference(n_qubits: int, state: str | None) -> None:
    circuit, inputs, weights, initial, masks = make_case(
        300 + n_qubits + len(state or ""), n_qubits, 6, torch.float32, state
    )
    args = (inputs.double(), weights.double(), circuit.program, n_qubits)
    expected = density_reference.expval(*args, masks, to_double(initial), circuit.constants)
    actual = ops.expval(
        inputs,
        weights,
        circuit.program,
        n_qubits,
        masks,
        initial_state=initial,
        constants=circuit.constants,
    )
    assert actual.dtype == torch.float32
    assert_close(actual, expected, TOLERANCE[torch.float32])
    expected = density_reference.probs(*args, to_double(initial), circuit.constants)
    actual = ops.probs(
        inputs,
        weights,
        circuit.program,
        n_qubits,
        initial_state=initial,
        constants=circuit.constants,
    )
    assert_close(actual, expected, TOLERANCE[torch.float32])


def test_ten_qubits_match_reference() -> None:
    # Few ops and two samples: the oracle takes about a second per op at this size.
    n = 10
    circuit = Circuit(n).rx(0, input=0).cnot(0, 9).depolarizing(9, weight=0)
    circuit.ising_yy(3, 6, input=1).amplitude_damping(3, input=2).ry(6, weight=1)
    circuit.phase_damping(6, constant=0.35).bit_flip(0, constant=0.2)
    inputs = torch.tensor([[0.7, -1.9, 0.3], [2.4, 0.8, 0.9]], dtype=torch.float64)
    weights = torch.tensor([0.15, 1.1], dtype=torch.float64)
    masks = [0, 1, 1 << 9, (1 << 3) | (1 << 6), (1 << n) - 1]
    expected = density_reference.probs(
        inputs, weights, circuit.program, n, constants=circuit.constants
    )
    actual = ops.probs(inputs, weights, circuit.program, n, constants=circuit.constants)
    assert_close(actual, expected, TOLERANCE[torch.float64])
    signs = reference.z_string_signs(masks, n, dtype=torch.float64)
    actual = ops.expval(inputs, weights, circuit.program, n, masks, constants=circuit.constants)
    assert_close(actual, expected @ signs.T, TOLERANCE[torch.float64])


# ---------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("readout", ["expval", "probs"])
@pytest.mark.parametrize("state", [None, "complex", "real"])
@pytest.mark.parametrize("n_qubits", [1, 2, 3, 4])
def test_adjoint_gradients_match_reference(
    n_qubits: int, state: str | None, readout: str, isa: str
) -> None:
    # Channels read constants, a weight and an input column: the adjoint differentiates all.
    circuit, inputs, weights, initial, masks = make_case(
        500 + 10 * n_qubits + len(state or ""), n_qubits, 5, state=state
    )
    tensors = (inputs, weights, initial)
    wanted = (True, True, initial is not None)
    width = 2**n_qubits if readout == "probs" else len(masks)
    grad_out = torch.randn(
        5, width, dtype=torch.float64, generator=torch.Generator().manual_seed(n_qubits)
    )
    expected_out, expected = gradients(
        lambda x, w, s: run_reference(readout, circuit, masks, x, w, s), tensors, wanted, grad_out
    )
    actual_out, actual = gradients(
        lambda x, w, s: run_op(readout, "adjoint", circuit, masks, x, w, s),
        tensors,
        wanted,
        grad_out,
    )
    assert_close(actual_out, expected_out, TOLERANCE[torch.float64])
    # not vacuous: the shared and the per-sample channel probability both matter
    assert float(expected[0][:, PROBABILITY_COLUMN].abs().max()) > 1e-3
    assert abs(float(expected[1][PROBABILITY_WEIGHT])) > 1e-3
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        assert_close(a, e, GRADIENT_TOLERANCE)


@pytest.mark.parametrize("readout", ["expval", "probs"])
@pytest.mark.parametrize("state", [None, "complex", "real"])
@pytest.mark.parametrize("n_qubits", [1, 2, 3, 4])
def test_parameter_shift_gradients_match_reference(
    n_qubits: int, state: str | None, readout: str, isa: str
) -> None:
    # Parameter shift differentiates angles only: every channel probability is a constant
    # (the initial-state gradient still comes from an adjoint sweep).
    circuit, inputs, weights, initial, masks = make_case(
        700 + 10 * n_qubits + len(state or ""), n_qubits, 4, state=state, sources=("constant",)
    )
    tensors = (inputs, weights, initial)
    wanted = (True, True, initial is not None)
    width = 2**n_qubits if readout == "probs" else len(masks)
    grad_out = torch.randn(
        4, width, dtype=torch.float64, generator=torch.Generator().manual_seed(10 + n_qubits)
    )
    _, expected = gradients(
        lambda x, w, s: run_reference(readout, circuit, masks, x, w, s), tensors, wanted, grad_out
    )
    _, actual = gradients(
        lambda x, w, s: run_op(readout, "parameter_shift", circuit, masks, x, w, s),
        tensors,
        wanted,
        grad_out,
    )
    for a, e in zip(actual, expected, strict=True):
        assert_close(a, e, GRADIENT_TOLERANCE)


@pytest.mark.parametrize("diff_method", ["adjoint", "parameter_shift"])
@pytest.mark.parametrize("n_qubits", [1, 3])
def test_float32_gradients_match_float64_reference(n_qubits: int, diff_method: str) -> None:
    sources = ALL_SOURCES if diff_method == "adjoint" else ("constant",)
    circuit, inputs, weights, initial, masks = make_case(
        800 + n_qubits, n_qubits, 4, torch.float32, "complex", sources
    )
    tensors, wanted = (inputs, weights, initial), (True, True, True)
    grad_out = torch.randn(4, len(masks), generator=torch.Generator().manual_seed(n_qubits))
    _, expected = gradients(
        lambda x, w, s: run_reference("expval", circuit, masks, x, w, s),
        [inputs.double(), weights.double(), to_double(initial)],
        wanted,
        grad_out.double(),
    )
    _, actual = gradients(
        lambda x, w, s: run_op("expval", diff_method, circuit, masks, x, w, s),
        tensors,
        wanted,
        grad_out,
    )
    for a, e in zip(actual, expected, strict=True):
        assert a.dtype in (torch.float32, torch.complex64)
        assert_close(a, e, 1e-4)


def test_shared_weight_as_angle_and_probability() -> None:
    # weights[0] is both a rotation angle and a channel probability; the adjoint adds both terms
    circuit = Circuit(2).ry(0, weight=0).cnot(0, 1).amplitude_damping(1, weight=0)
    circuit.rx(1, input=0).depolarizing(0, input=0).ising_zz(0, 1, weight=0)
    inputs = torch.tensor([[0.3], [0.8], [0.55]], dtype=torch.float64)
    weights = torch.tensor([0.4], dtype=torch.float64)
    masks = [1, 2, 3]
    tensors, wanted = (inputs, weights, None), (True, True, False)
    grad_out = torch.tensor(
        [[1.0, -0.5, 0.25], [0.3, 0.7, -1.1], [0.9, 0.1, 0.4]], dtype=torch.float64
    )
    _, expected = gradients(
        lambda x, w, s: run_reference("expval", circuit, masks, x, w), tensors, wanted, grad_out
    )
    _, actual = gradients(
        lambda x, w, s: run_op("expval", "adjoint", circuit, masks, x, w), tensors, wanted, grad_out
    )
    for a, e in zip(actual, expected, strict=True):
        assert_close(a, e, GRADIENT_TOLERANCE)


@pytest.mark.parametrize("source", ["weight", "input"])
def test_parameter_shift_refuses_channel_probability_gradients(source: str) -> None:
    circuit, inputs, weights, _, masks = make_case(900, 2, 3, sources=(source,))
    inputs.requires_grad_(source == "input")
    weights.requires_grad_(source == "weight")
    with pytest.raises(
        ValueError,
        match=r"operation \d+ \((DEPOLARIZING|AMPLITUDE_DAMPING|"
        r"PHASE_DAMPING|BIT_FLIP)\).*parameter_shift",
    ):
        out = ops.expval(
            inputs,
            weights,
            circuit.program,
            2,
            masks,
            constants=circuit.constants,
            diff_method="parameter_shift",
        )
        out.sum().backward()


@pytest.mark.parametrize("source", ["weight", "input"])
def test_parameter_shift_allows_the_other_gradients(source: str) -> None:
    # Only the tensor the channel reads is out of reach of the shift rule: with that one
    # frozen, the rest of the gradient is exact.
    circuit, inputs, weights, initial, masks = make_case(
        910, 3, 3, state="complex", sources=(source,)
    )
    wanted = (source != "input", source != "weight", True)
    tensors = (inputs, weights, initial)
    grad_out = torch.randn(
        3, len(masks), dtype=torch.float64, generator=torch.Generator().manual_seed(5)
    )
    _, expected = gradients(
        lambda x, w, s: run_reference("expval", circuit, masks, x, w, s), tensors, wanted, grad_out
    )
    _, actual = gradients(
        lambda x, w, s: run_op("expval", "parameter_shift", circuit, masks, x, w, s),
        tensors,
        wanted,
        grad_out,
    )
    assert len(actual) == 2
    for a, e in zip(actual, expected, strict=True):
        assert_close(a, e, GRADIENT_TOLERANCE)


def small_noisy_circuit(probability_source: str) -> Circuit:
    circuit = Circuit(2).rx(0, input=0).ry(1, weight=0).depolarizing(0, constant=0.15)
    circuit.cnot(0, 1).ising_xx(0, 1, weight=1).phase_damping(1, constant=0.3)
    if probability_source == "constant":
        return circuit.amplitude_damping(0, constant=0.4).rz(0, input=1).bit_flip(1, constant=0.1)
    return circuit.amplitude_damping(0, weight=2).rz(0, input=1).bit_flip(1, input=2)


def small_tensors(batch: int = 3):
    rng = np.random.default_rng(77)
    inputs = torch.cat(
        [random_angles(rng, (batch, 2)), torch.tensor(rng.uniform(0.1, 0.9, size=(batch, 1)))], 1
    )
    weights = torch.cat([random_angles(rng, (2,)), torch.tensor([0.35], dtype=torch.float64)])
    return inputs, weights, random_state(rng, batch, 2)


@pytest.mark.parametrize("readout", ["expval", "probs"])
@pytest.mark.parametrize("diff_method", ["adjoint", "parameter_shift"])
def test_gradcheck(diff_method: str, readout: str) -> None:
    circuit = small_noisy_circuit("input" if diff_method == "adjoint" else "constant")
    inputs, weights, state = (t.requires_grad_() for t in small_tensors())

    def fn(x, w, s):
        return run_op(readout, diff_method, circuit, [1, 2, 3, 0], x, w, s)

    assert torch.autograd.gradcheck(fn, (inputs, weights, state))


@pytest.mark.parametrize("diff_method", ["adjoint", "parameter_shift"])
def test_opcheck(diff_method: str) -> None:
    circuit = small_noisy_circuit("input" if diff_method == "adjoint" else "constant")
    inputs, weights, state = (t.requires_grad_() for t in small_tensors(4))
    program, constants = circuit.program, circuit.constants
    torch.library.opcheck(
        torch.ops.qmoe.expval.default,
        (inputs, weights, None, program, constants, 2, [1, 3], diff_method),
    )
    torch.library.opcheck(
        torch.ops.qmoe.expval.default,
        (inputs, weights, state, program, constants, 2, [2], diff_method),
    )
    torch.library.opcheck(
        torch.ops.qmoe.probs.default, (inputs, weights, state, program, constants, 2, diff_method)
    )
    args = (
        inputs.detach(),
        weights.detach(),
        None,
        program,
        constants,
        2,
        [1, 3],
        False,
        diff_method,
    )
    torch.library.opcheck(torch.ops.qmoe.circuit_forward.default, (*args, False))
    grad_out = torch.randn(4, 2, dtype=torch.float64)
    torch.library.opcheck(
        torch.ops.qmoe.circuit_backward.default,
        (
            grad_out,
            inputs.detach(),
            weights.detach(),
            state.detach(),
            program,
            constants,
            2,
            [1, 3],
            False,
            diff_method,
            [True, True, True],
        ),
    )


# ---------------------------------------------------------------------------- closed forms

NO_WEIGHTS = torch.zeros(0, dtype=torch.float64)
ANGLES = torch.tensor([[0.3], [1.7], [2.9], [-2.2]], dtype=torch.float64)


def one_qubit_z(circuit: Circuit, inputs: torch.Tensor) -> torch.Tensor:
    return ops.expval(inputs, NO_WEIGHTS, circuit.program, 1, [1], constants=circuit.constants)


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.75, 1.0])
def test_depolarizing_scales_z_by_one_minus_four_thirds_p(p: float) -> None:
    circuit = Circuit(1).rx(0, input=0).depolarizing(0, constant=p)
    assert_close(one_qubit_z(circuit, ANGLES), (1 - 4 * p / 3) * torch.cos(ANGLES), 1e-12)


@pytest.mark.parametrize("gamma", [0.0, 0.2, 0.6, 1.0])
def test_amplitude_damping_of_one(gamma: float) -> None:
    circuit = Circuit(1).x(0).amplitude_damping(0, constant=gamma)
    value = one_qubit_z(circuit, torch.zeros(1, 0, dtype=torch.float64))
    assert_close(value, torch.tensor([[2 * gamma - 1]], dtype=torch.float64), 1e-12)


@pytest.mark.parametrize("gamma", [0.0, 0.36, 0.9, 1.0])
def test_amplitude_damping_relaxes_towards_zero(gamma: float) -> None:
    # RY(t)|0> has P(1) = sin^2(t/2); damping moves gamma of it to |0>
    circuit = Circuit(1).ry(0, input=0).amplitude_damping(0, constant=gamma)
    p1 = torch.sin(ANGLES / 2) ** 2
    assert_close(one_qubit_z(circuit, ANGLES), 1 - 2 * (1 - gamma) * p1, 1e-12)


@pytest.mark.parametrize("gamma", [0.0, 0.36, 0.75, 1.0])
def test_phase_damping_shrinks_coherence_by_sqrt_one_minus_gamma(gamma: float) -> None:
    # RY(t)|0> has <X> = sin t; after the channel a Hadamard turns <X> into <Z>
    circuit = Circuit(1).ry(0, input=0).phase_damping(0, constant=gamma).h(0)
    assert_close(one_qubit_z(circuit, ANGLES), math.sqrt(1 - gamma) * torch.sin(ANGLES), 1e-12)
    # and leaves the populations alone
    circuit = Circuit(1).ry(0, input=0).phase_damping(0, constant=gamma)
    assert_close(one_qubit_z(circuit, ANGLES), torch.cos(ANGLES), 1e-12)


@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 1.0])
def test_bit_flip_scales_z_by_one_minus_two_p(p: float) -> None:
    circuit = Circuit(1).rx(0, input=0).bit_flip(0, constant=p)
    assert_close(one_qubit_z(circuit, ANGLES), (1 - 2 * p) * torch.cos(ANGLES), 1e-12)


@pytest.mark.parametrize("n_qubits", [1, 2, 3])
def test_zero_probability_channels_equal_the_statevector_engine(n_qubits: int) -> None:
    rng = np.random.default_rng(1200 + n_qubits)
    unitary = random_circuit(n_qubits, 20, 2, 3, rng)
    noisy = Circuit(n_qubits)
    for opcode, wire0, wire1, source, index in unitary.ops:
        if source == ParamSource.CONSTANT:
            index = noisy.add_constant(unitary.constants[index])
        noisy.add(opcode, [wire0] if wire1 < 0 else [wire0, wire1], source, index)
        getattr(noisy, CHANNELS[int(rng.integers(4))])(int(rng.integers(n_qubits)), constant=0.0)
    inputs, weights = random_angles(rng, (5, 2)), random_angles(rng, (3,))
    initial = random_state(rng, 5, n_qubits)
    masks = random_masks(rng, n_qubits)
    grad_out = torch.randn(
        5, len(masks), dtype=torch.float64, generator=torch.Generator().manual_seed(n_qubits)
    )
    tensors, wanted = (inputs, weights, initial), (True, True, True)
    out_sv, grads_sv = gradients(
        lambda x, w, s: run_op("expval", "adjoint", unitary, masks, x, w, s),
        tensors,
        wanted,
        grad_out,
    )
    out_dm, grads_dm = gradients(
        lambda x, w, s: run_op("expval", "adjoint", noisy, masks, x, w, s),
        tensors,
        wanted,
        grad_out,
    )
    assert_close(out_dm, out_sv, 1e-12)
    for a, e in zip(grads_dm, grads_sv, strict=True):
        assert_close(a, e, 1e-11)
    assert_close(
        ops.probs(inputs, weights, noisy.program, n_qubits, constants=noisy.constants),
        ops.probs(inputs, weights, unitary.program, n_qubits, constants=unitary.constants),
        1e-12,
    )


# ---------------------------------------------------------------------------- physicality


@pytest.mark.parametrize("n_qubits", [1, 2, 3, 4])
def test_probabilities_are_a_distribution(n_qubits: int) -> None:
    for seed, state in enumerate([None, "complex", "real"]):
        circuit, inputs, weights, initial, _ = make_case(
            1300 + 10 * n_qubits + seed, n_qubits, 9, state=state, n_channels=10
        )
        p = ops.probs(
            inputs,
            weights,
            circuit.program,
            n_qubits,
            initial_state=initial,
            constants=circuit.constants,
        )
        torch.testing.assert_close(p.sum(1), torch.ones(9, dtype=torch.float64), atol=1e-12, rtol=0)
        assert float(p.min()) >= -1e-12 and float(p.max()) <= 1 + 1e-12


PAULI_MATRICES = {
    "I": torch.eye(2, dtype=torch.complex128),
    "X": torch.tensor([[0, 1], [1, 0]], dtype=torch.complex128),
    "Y": torch.tensor([[0, -1j], [1j, 0]], dtype=torch.complex128),
    "Z": torch.tensor([[1, 0], [0, -1]], dtype=torch.complex128),
}


def engine_density_matrix(circuit: Circuit, inputs, weights, initial) -> torch.Tensor:
    """The engine's final rho, rebuilt by tomography: every Pauli string's expectation, read
    as a Z string after rotating its wires into the Z basis (H for X; RX(pi/2) for Y, since
    RX(pi/2)^dagger Z RX(pi/2) = Y), then rho = sum_P <P> P / 2**n."""
    n = circuit.n_qubits
    rho = torch.zeros(len(inputs), 2**n, 2**n, dtype=torch.complex128)
    constants = [*circuit.constants, math.pi / 2]
    quarter_turn = len(constants) - 1
    for string in itertools.product("IXYZ", repeat=n):
        program = list(circuit.program)
        for wire, pauli in enumerate(string):
            if pauli == "X":
                program += [Opcode.H, wire, -1, ParamSource.NONE, -1]
            elif pauli == "Y":
                program += [Opcode.RX, wire, -1, ParamSource.CONSTANT, quarter_turn]
        mask = sum(1 << wire for wire, pauli in enumerate(string) if pauli != "I")
        value = ops.expval(
            inputs, weights, program, n, [mask], initial_state=initial, constants=constants
        )[:, 0]
        operator = functools.reduce(torch.kron, [PAULI_MATRICES[p] for p in string])
        rho += value[:, None, None].to(torch.complex128) * operator / 2**n
    return rho


@pytest.mark.parametrize("n_qubits", [1, 2, 3])
def test_final_density_matrices_are_physical_and_match_the_reference(n_qubits: int) -> None:
    for seed, state in enumerate([None, "complex"]):
        circuit, inputs, weights, initial, _ = make_case(
            1400 + 10 * n_qubits + seed, n_qubits, 5, state=state, n_channels=8
        )
        rho = engine_density_matrix(circuit, inputs, weights, initial)
        expected = density_reference.density_matrix(
            inputs, weights, circuit.program, n_qubits, initial, circuit.constants
        )
        assert_close(rho, expected, 1e-10)
        trace = torch.diagonal(rho, dim1=-2, dim2=-1).sum(-1)
        torch.testing.assert_close(trace, torch.ones_like(trace), atol=1e-12, rtol=0)
        assert float(torch.linalg.eigvalsh(rho).min()) >= -1e-12
        # mixed, not pure: the channels did something
        purity = torch.einsum("bij,bji->b", rho, rho).real
        assert float(purity.min()) < 1 - 1e-3


# ---------------------------------------------------------------------------- bad input

OPERATION_NAME = r"operation 1 \(DEPOLARIZING\)"


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_constant_probability_outside_zero_one_is_rejected(p: float) -> None:
    # a raw program: the circuit builder already refuses non-finite constants
    program = [Opcode.H, 0, -1, 0, -1, Opcode.DEPOLARIZING, 0, -1, ParamSource.CONSTANT, 0]
    with pytest.raises(ValueError, match=OPERATION_NAME + ".*outside"):
        ops.expval(
            torch.zeros(2, 0, dtype=torch.float64), NO_WEIGHTS, program, 1, [1], constants=[p]
        )


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_weight_probability_outside_zero_one_is_rejected(p: float) -> None:
    circuit = Circuit(1).h(0).depolarizing(0, weight=1).rx(0, weight=0)
    weights = torch.tensor([0.3, p], dtype=torch.float64)
    with pytest.raises(ValueError, match=OPERATION_NAME + r".*weights\[1\].*outside"):
        ops.expval(torch.zeros(2, 0, dtype=torch.float64), weights, circuit.program, 1, [1])
    with pytest.raises(ValueError, match=OPERATION_NAME):
        ops.probs(torch.zeros(2, 0, dtype=torch.float64), weights, circuit.program, 1)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_input_probability_outside_zero_one_is_rejected(p: float, dtype: torch.dtype) -> None:
    circuit = Circuit(1).rx(0, input=0).depolarizing(0, input=1)
    inputs = torch.tensor([[0.1, 0.2], [0.3, p], [0.5, 0.6]], dtype=dtype)
    weights = torch.zeros(0, dtype=dtype)
    with pytest.raises(ValueError, match=OPERATION_NAME + r".*inputs\[1, 1\].*outside"):
        ops.expval(inputs, weights, circuit.program, 1, [1])
    with pytest.raises(ValueError, match=OPERATION_NAME):
        ops.probs(inputs, weights, circuit.program, 1)


def test_sixteen_qubit_density_matrix_is_refused_before_allocating() -> None:
    circuit = Circuit(16).h(0).depolarizing(3, constant=0.1)
    start = time.perf_counter()
    with pytest.raises(ValueError, match="memory"):
        ops.expval(
            torch.zeros(1, 0, dtype=torch.float64),
            NO_WEIGHTS,
            circuit.program,
            16,
            [1],
            constants=circuit.constants,
        )
    assert time.perf_counter() - start < 1.0


def test_keep_state_is_refused_for_noisy_programs() -> None:
    circuit = small_noisy_circuit("input")
    inputs, weights, _ = small_tensors()
    with pytest.raises(ValueError, match="keep_state"):
        torch.ops.qmoe.circuit_forward(
            inputs,
            weights,
            None,
            circuit.program,
            circuit.constants,
            2,
            [1],
            False,
            "adjoint",
            True,
        )


# ---------------------------------------------------------------------------- determinism


def forward_and_gradients(circuit, inputs, weights, initial, masks, diff_method):
    tensors, wanted = (inputs, weights, initial), (True, True, True)
    grad_out = torch.linspace(-1, 1, inputs.shape[0] * len(masks), dtype=torch.float64).reshape(
        -1, len(masks)
    )
    out, grads = gradients(
        lambda x, w, s: run_op("expval", diff_method, circuit, masks, x, w, s),
        tensors,
        wanted,
        grad_out,
    )
    return [out, *grads]


@pytest.mark.parametrize("diff_method", ["adjoint", "parameter_shift"])
def test_repeated_calls_and_thread_counts_agree_bitwise(diff_method: str) -> None:
    # 3 qubits: 64 samples a chunk, so 200 samples are 4 chunks shared out to the threads
    sources = ALL_SOURCES if diff_method == "adjoint" else ("constant",)
    case = make_case(1400, 3, 200, state="complex", sources=sources)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        first = forward_and_gradients(*case, diff_method)
        second = forward_and_gradients(*case, diff_method)
        torch.set_num_threads(1)
        single = forward_and_gradients(*case, diff_method)
    finally:
        torch.set_num_threads(threads)
    for a, b, c in zip(first, second, single, strict=True):
        assert torch.equal(a, b) and torch.equal(a, c)


@pytest.mark.parametrize("n_qubits", [2, 6, 7])
@pytest.mark.parametrize("diff_method", ["adjoint", "parameter_shift"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_sample_gives_the_same_bits_alone_or_in_a_block(
    n_qubits: int, diff_method: str, dtype: torch.dtype, isa: str
) -> None:
    # Up to 6 qubits samples share blocks (one per SIMD lane, the last block padded); from 7
    # they run one at a time. A sample's values and input and state gradients must not
    # depend on its neighbours, its lane or the padding.
    sources = ALL_SOURCES if diff_method == "adjoint" else ("constant",)
    circuit, inputs, weights, initial, masks = make_case(
        1500 + n_qubits, n_qubits, 19, dtype, state="complex", sources=sources
    )
    grad_out = torch.randn(
        19, len(masks), dtype=dtype, generator=torch.Generator().manual_seed(n_qubits)
    )

    def values_and_gradients(rows: slice):
        x = inputs[rows].clone().requires_grad_()
        s = initial[rows].clone().requires_grad_()
        out = run_op("expval", diff_method, circuit, masks, x, weights, s)
        out.backward(grad_out[rows])
        return out.detach(), x.grad, s.grad

    together = values_and_gradients(slice(0, 19))
    for row in (0, 7, 16, 18):
        alone = values_and_gradients(slice(row, row + 1))
        for batched, single in zip(together, alone, strict=True):
            assert torch.equal(batched[row : row + 1], single)


def test_weight_gradient_over_many_chunks_is_the_sum_over_samples() -> None:
    # 2 qubits: 256 samples a chunk, so 700 samples span 3 chunks (and partial sums)
    circuit, inputs, weights, _, masks = make_case(1500, 2, 700)
    grad_out = torch.randn(
        700, len(masks), dtype=torch.float64, generator=torch.Generator().manual_seed(3)
    )
    tensors, wanted = (inputs, weights, None), (True, True, False)
    _, (grad_inputs, grad_weights) = gradients(
        lambda x, w, s: run_op("expval", "adjoint", circuit, masks, x, w), tensors, wanted, grad_out
    )
    per_sample = torch.zeros_like(weights)
    w = weights.clone().requires_grad_()
    for b in range(700):
        out = ops.expval(
            inputs[b : b + 1], w, circuit.program, 2, masks, constants=circuit.constants
        )
        per_sample += torch.autograd.grad(out, [w], grad_out[b : b + 1])[0]
    assert_close(grad_weights, per_sample, 1e-12)
    _, (expected_inputs, expected_weights) = gradients(
        lambda x, w, s: run_reference("expval", circuit, masks, x, w), tensors, wanted, grad_out
    )
    assert_close(grad_inputs, expected_inputs, GRADIENT_TOLERANCE)
    assert_close(grad_weights, expected_weights, GRADIENT_TOLERANCE)
