"""Noise models (channel placement), readout error, finite shots, and QuantumGate(noise=...)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

import qmoe_torch as qm
from qmoe_torch import density_reference, noise, ops
from qmoe_torch.circuits import AngleEmbedding, Circuit, StronglyEntanglingLayers
from qmoe_torch.opcodes import Opcode, is_channel
from qmoe_torch.shots import sample_counts


def router_circuit(n_qubits: int = 2, layers: int = 2) -> Circuit:
    circuit = Circuit(n_qubits)
    circuit.append(AngleEmbedding("X"))
    circuit.append(StronglyEntanglingLayers(layers))
    return circuit.measure_expval([[w] for w in range(n_qubits)] + [list(range(n_qubits))])


def channel_positions(circuit: Circuit) -> list[tuple[int, int]]:
    """(op index, wire) of every channel."""
    return [(i, op[1]) for i, op in enumerate(circuit.ops) if is_channel(op[0])]


def random_problem(circuit: Circuit, batch: int = 5, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.rand(batch, circuit.n_inputs, generator=generator, dtype=torch.float64) * 3
    weights = torch.rand(circuit.n_weights, generator=generator, dtype=torch.float64) * 6
    return inputs.requires_grad_(), weights.requires_grad_()


# ---------------------------------------------------------------- placement
def test_template_points_are_after_the_embedding_and_after_the_ansatz() -> None:
    circuit = router_circuit(3, layers=2)
    noisy = qm.NoiseModel.depolarizing(0.1, at="template").apply(circuit)
    # embedding: 3 RX; then 3 channels; ansatz: 2 layers x (9 rotations + 3 CNOTs); 3 channels
    assert channel_positions(noisy) == [(3, 0), (4, 1), (5, 2), (30, 0), (31, 1), (32, 2)]
    assert noisy.constants == [0.1] * 6
    assert [op for op in noisy.ops if not is_channel(op[0])] == circuit.ops
    assert noisy.n_weights == circuit.n_weights and noisy.z_masks == circuit.z_masks


def test_layer_points_follow_each_entangling_layer() -> None:
    circuit = router_circuit(2, layers=3)
    noisy = qm.NoiseModel(channels=(qm.Channel("bit_flip", 0.2),), at="layer").apply(circuit)
    ends = [position for name, position in circuit.marks if name == "layer"]
    assert len(ends) == 3
    assert len(channel_positions(noisy)) == 3 * 2


def test_gate_points_follow_every_gate_on_its_wires() -> None:
    circuit = Circuit(2).h(0).cnot(0, 1).rz(1, constant=0.3)
    model = qm.NoiseModel(
        channels=(qm.Channel("phase_damping", 0.1), qm.Channel("amplitude_damping", 0.2)), at="gate"
    )
    noisy = model.apply(circuit)
    opcodes = [Opcode(op[0]).name for op in noisy.ops]
    assert opcodes == [
        "H",
        "PHASE_DAMPING",
        "AMPLITUDE_DAMPING",
        "CNOT",
        "PHASE_DAMPING",
        "AMPLITUDE_DAMPING",
        "PHASE_DAMPING",
        "AMPLITUDE_DAMPING",
        "RZ",
        "PHASE_DAMPING",
        "AMPLITUDE_DAMPING",
    ]
    assert [op[1] for op in noisy.ops if is_channel(op[0])] == [0, 0, 0, 0, 1, 1, 1, 1]


def test_wires_restrict_the_channels_and_custom_marks_work() -> None:
    circuit = Circuit(3).h(0).mark("middle").h(1)
    noisy = qm.NoiseModel.depolarizing(0.3, at="middle", wires=(2,)).apply(circuit)
    assert channel_positions(noisy) == [(1, 2)]


def test_a_model_without_channels_leaves_the_circuit_alone() -> None:
    circuit = router_circuit()
    assert qm.NoiseModel(shots=10).apply(circuit) is circuit


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: qm.Channel("depolarising", 0.1), "name"),
        (lambda: qm.Channel("depolarizing", 1.5), r"\[0, 1\]"),
        (lambda: qm.Channel("bit_flip", float("nan")), r"\[0, 1\]"),
        (lambda: qm.ReadoutError(-0.1, 0.0), "p01"),
        (lambda: qm.NoiseModel(shots=0), "shots"),
        (lambda: qm.NoiseModel(at=()), "at"),
    ],
)
def test_bad_noise_arguments_are_named(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_unknown_points_and_wires_are_errors() -> None:
    with pytest.raises(ValueError, match="no point named"):
        qm.NoiseModel.depolarizing(0.1, at="nowhere").apply(router_circuit())
    with pytest.raises(ValueError, match="wire 5"):
        qm.NoiseModel.depolarizing(0.1, wires=(5,)).apply(router_circuit())


# ---------------------------------------------------------------- exact values
@pytest.mark.parametrize("at", ["template", "layer", "gate"])
def test_noisy_circuits_match_the_density_matrix_oracle(at: str) -> None:
    model = qm.NoiseModel(
        channels=(qm.Channel("depolarizing", 0.07), qm.Channel("amplitude_damping", 0.2)), at=at
    )
    noisy = model.apply(router_circuit(3))
    inputs, weights = random_problem(noisy)
    got = noise.measure(noisy, inputs, weights, noise=model)
    want = density_reference.expval(
        inputs, weights, noisy.program, 3, noisy.z_masks, constants=noisy.constants
    )
    torch.testing.assert_close(got, want, atol=1e-10, rtol=0)
    grads = torch.autograd.grad(got.sum(), (inputs, weights))
    expected = torch.autograd.grad(want.sum(), (inputs, weights))
    for a, b in zip(grads, expected, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)


def test_readout_error_is_an_independent_confusion_per_wire() -> None:
    error = qm.ReadoutError(0.03, 0.11)
    probs = torch.softmax(torch.randn(4, 8, dtype=torch.float64), dim=1)
    confusion = torch.tensor([[0.97, 0.11], [0.03, 0.89]], dtype=torch.float64)
    full = torch.kron(torch.kron(confusion, confusion), confusion)  # wire 0 most significant
    torch.testing.assert_close(error.apply(probs), probs @ full.T, atol=1e-15, rtol=0)


@pytest.mark.parametrize("p", [0.0, 0.05, 0.3])
def test_symmetric_readout_error_scales_each_z_by_one_minus_two_p(p: float) -> None:
    circuit = router_circuit(2)
    model = qm.NoiseModel(readout_error=qm.ReadoutError.symmetric(p))
    inputs, weights = random_problem(circuit)
    exact = ops.run(circuit, inputs, weights)
    got = noise.measure(circuit, inputs, weights, noise=model)
    scale = torch.tensor([1 - 2 * p, 1 - 2 * p, (1 - 2 * p) ** 2], dtype=torch.float64)
    torch.testing.assert_close(got, exact * scale, atol=1e-12, rtol=0)
    # differentiable: the gradient is the scaled exact one
    grad = torch.autograd.grad(got[:, 0].sum(), weights)[0]
    torch.testing.assert_close(
        grad, (1 - 2 * p) * torch.autograd.grad(exact[:, 0].sum(), weights)[0]
    )


# ---------------------------------------------------------------- shots
def test_sample_counts_are_whole_and_sum_to_the_shots() -> None:
    probs = torch.softmax(torch.randn(50, 8, dtype=torch.float64), dim=1)
    counts = sample_counts(probs, 123, torch.Generator().manual_seed(0))
    assert torch.equal(counts.sum(dim=1), torch.full((50,), 123.0, dtype=torch.float64))
    assert bool((counts >= 0).all()) and torch.equal(counts, counts.round())
    with pytest.raises(ValueError, match="shots"):
        sample_counts(probs, 0)


def test_sample_counts_follow_the_distribution() -> None:
    probs = torch.tensor([[0.5, 0.2, 0.0, 0.3]], dtype=torch.float64).expand(4000, 4)
    counts = sample_counts(probs, 10, torch.Generator().manual_seed(1))
    frequencies = counts.sum(dim=0) / 40000
    standard_error = (probs[0] * (1 - probs[0]) / 40000).sqrt()
    assert bool(((frequencies - probs[0]).abs() <= 4 * standard_error + 1e-12).all())
    assert counts[:, 2].sum() == 0


def shot_model(shots: int, **kwargs) -> qm.NoiseModel:
    return qm.NoiseModel(channels=(qm.Channel("depolarizing", 0.05),), shots=shots, **kwargs)


def test_shot_estimates_converge_to_the_exact_value_within_four_standard_errors() -> None:
    model = shot_model(200, readout_error=qm.ReadoutError(0.02, 0.05))
    noisy = model.apply(router_circuit(2))
    inputs, weights = random_problem(noisy, batch=3)
    exact = noise.measure(
        noisy, inputs, weights, noise=qm.NoiseModel(readout_error=model.readout_error)
    ).detach()
    seeds = 300
    estimates = torch.stack(
        [
            noise.measure(
                noisy, inputs, weights, noise=model, generator=torch.Generator().manual_seed(seed)
            ).detach()
            for seed in range(seeds)
        ]
    )
    mean, standard_error = estimates.mean(0), estimates.std(0) / math.sqrt(seeds)
    assert bool(((mean - exact).abs() <= 4 * standard_error + 1e-12).all())
    assert bool((standard_error > 0).all())


def test_shot_gradients_converge_to_the_exact_gradient() -> None:
    model = shot_model(100)
    noisy = model.apply(router_circuit(2, layers=1))
    inputs, weights = random_problem(noisy, batch=2)
    exact = torch.autograd.grad(noise.measure(noisy, inputs, weights).sum(), (inputs, weights))
    seeds = 150
    samples = [
        torch.autograd.grad(
            noise.measure(
                noisy, inputs, weights, noise=model, generator=torch.Generator().manual_seed(seed)
            ).sum(),
            (inputs, weights),
        )
        for seed in range(seeds)
    ]
    for which in range(2):
        stacked = torch.stack([sample[which] for sample in samples])
        mean, standard_error = stacked.mean(0), stacked.std(0) / math.sqrt(seeds)
        assert bool(((mean - exact[which]).abs() <= 4 * standard_error + 1e-9).all())


def test_the_same_seed_gives_the_same_numbers() -> None:
    model = shot_model(50)
    noisy = model.apply(router_circuit(2))
    inputs, weights = random_problem(noisy)

    def run(seed: int):
        value = noise.measure(
            noisy, inputs, weights, noise=model, generator=torch.Generator().manual_seed(seed)
        )
        return value, torch.autograd.grad(value.sum(), (inputs, weights))

    first, second, other = run(7), run(7), run(8)
    assert torch.equal(first[0], second[0])
    assert all(torch.equal(a, b) for a, b in zip(first[1], second[1], strict=True))
    assert not torch.equal(first[0], other[0])


def test_shot_probs_readout_and_weight_sharing() -> None:
    circuit = Circuit(2).rx(0, weight=0).ry(1, weight=0).cnot(0, 1).rx(1, input=0)
    circuit.measure_probs()
    model = qm.NoiseModel(shots=400)
    inputs = torch.tensor([[0.4], [1.3]], dtype=torch.float64, requires_grad=True)
    weights = torch.tensor([0.9], dtype=torch.float64, requires_grad=True)
    exact = ops.run(circuit, inputs, weights)
    grad_exact = torch.autograd.grad((exact * torch.arange(4.0)).sum(), weights)[0]
    estimates, grads = [], []
    for seed in range(200):
        value = noise.measure(
            circuit, inputs, weights, noise=model, generator=torch.Generator().manual_seed(seed)
        )
        assert torch.allclose(value.sum(1), torch.ones(2, dtype=torch.float64))
        estimates.append(value.detach())
        grads.append(torch.autograd.grad((value * torch.arange(4.0)).sum(), weights)[0])
    estimates, grads = torch.stack(estimates), torch.stack(grads)
    assert bool(
        (
            (estimates.mean(0) - exact.detach()).abs()
            <= 4 * estimates.std(0) / math.sqrt(200) + 1e-12
        ).all()
    )
    # the weight drives two rotations: both shift terms are in the estimate
    assert abs(grads.mean() - grad_exact) <= 4 * grads.std() / math.sqrt(200)


def test_shots_reject_trainable_channel_probabilities_and_state_gradients() -> None:
    circuit = Circuit(1).rx(0, input=0).depolarizing(0, weight=0).measure_expval(["Z0"])
    inputs, weights = torch.rand(2, 1, dtype=torch.float64), torch.rand(1, dtype=torch.float64)
    with pytest.raises(ValueError, match="constants"):
        noise.measure(circuit, inputs, weights, noise=qm.NoiseModel(shots=10))
    plain = Circuit(1).rx(0, input=0).measure_expval(["Z0"])
    state = torch.tensor([[1.0, 0.0]] * 2, dtype=torch.float64, requires_grad=True)
    with pytest.raises(ValueError, match="initial state"):
        noise.measure(plain, inputs, weights, noise=qm.NoiseModel(shots=10), initial_state=state)


# ---------------------------------------------------------------- QuantumGate(noise=...)
def test_quantum_gate_noise_of_zero_changes_nothing() -> None:
    torch.manual_seed(0)
    clean = qm.QuantumGate(2, 2, projection=False, dtype=torch.float64)
    noisy = qm.QuantumGate(
        2, 2, projection=False, dtype=torch.float64, noise=qm.NoiseModel.depolarizing(0.0)
    )
    noisy.load_state_dict(clean.state_dict())
    hidden = torch.rand(16, 2, dtype=torch.float64) * math.pi
    torch.testing.assert_close(noisy(hidden), clean(hidden), atol=1e-12, rtol=0)
    assert len(noisy.circuit) == len(clean.circuit) + 4


@pytest.mark.parametrize("readout", ["expval", "probs", "parity"])
def test_noisy_quantum_gates_train(readout: str) -> None:
    model = qm.NoiseModel.depolarizing(0.1, readout_error=qm.ReadoutError(0.01, 0.02))
    gate = qm.QuantumGate(6, 3, readout=readout, noise=model)
    hidden = torch.randn(2, 5, 6)
    logits = gate(hidden)
    assert logits.shape == (2, 5, 3) and bool(torch.isfinite(logits).all())
    logits.square().sum().backward()
    assert all(p.grad is not None and bool(torch.isfinite(p.grad).all()) for p in gate.parameters())


def test_quantum_gate_shots_are_reproducible_with_a_seed() -> None:
    def logits(seed: int) -> torch.Tensor:
        torch.manual_seed(0)
        gate = qm.QuantumGate(4, 2, noise=qm.NoiseModel.depolarizing(0.05, shots=64, seed=seed))
        return gate(torch.ones(3, 4))

    assert torch.equal(logits(1), logits(1))
    assert not torch.equal(logits(1), logits(2))


def test_quantum_gate_rejects_what_is_not_a_noise_model() -> None:
    with pytest.raises(TypeError, match="NoiseModel"):
        qm.QuantumGate(4, 2, noise=0.1)


@pytest.mark.parametrize("p01, p10", itertools.product([0.0, 0.2], [0.0, 0.1]))
def test_readout_error_keeps_a_distribution(p01: float, p10: float) -> None:
    probs = torch.softmax(torch.randn(3, 4, dtype=torch.float64), dim=1)
    out = qm.ReadoutError(p01, p10).apply(probs)
    torch.testing.assert_close(out.sum(1), torch.ones(3, dtype=torch.float64))
    assert bool((out >= 0).all())
