"""QuantumGate, LinearGate and MLPGate: the nn.Linear router contract."""

from __future__ import annotations

import io
import math

import pytest
import torch

from qmoe_torch import LinearGate, MLPGate, QuantumGate, reference

READOUTS = ["expval", "probs", "parity"]


def naive_logits(gate: QuantumGate, hidden: torch.Tensor) -> torch.Tensor:
    """The gate's definition, token by token, with the float64 reference simulator."""
    rows = []
    for token in hidden.reshape(-1, gate.d_model):
        angles = gate.angle_range * torch.sigmoid(gate.projection(token[None]).double())
        weights = gate.circuit_weights.double()
        program, n = gate.circuit.program, gate.n_qubits
        if gate.readout == "probs":
            p = reference.probs(angles, weights, program, n, constants=gate.circuit.constants)
            rows.append(torch.log(p[0, : gate.n_experts] + 1e-12))
        else:
            values = reference.expval(
                angles, weights, program, n, gate.circuit.z_masks, constants=gate.circuit.constants
            )[0]
            if gate.readout == "expval":
                rows.append(values @ gate.adapter.weight.double().T + gate.adapter.bias.double())
            else:
                rows.append(gate.scale.double() * values)
    return torch.stack(rows).reshape(*hidden.shape[:-1], gate.n_experts)


@pytest.mark.parametrize("readout", READOUTS)
@pytest.mark.parametrize("shape", [(7, 12), (2, 5, 12)])
def test_quantum_gate_matches_a_token_by_token_loop(readout: str, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    gate = QuantumGate(12, 3, readout=readout, layers=2, dtype=torch.float64)
    hidden = torch.randn(*shape, dtype=torch.float64)
    logits = gate(hidden)
    assert logits.shape == (*shape[:-1], 3) and logits.dtype == torch.float64
    torch.testing.assert_close(logits, naive_logits(gate, hidden), atol=1e-10, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_logits_come_back_in_the_dtype_of_hidden(dtype: torch.dtype) -> None:
    gate = QuantumGate(8, 4)
    logits = gate(torch.randn(3, 8, dtype=dtype))
    assert logits.dtype == dtype and logits.shape == (3, 4)


@pytest.mark.parametrize("diff_method", ["adjoint", "parameter_shift"])
def test_gradients_reach_every_parameter(diff_method: str) -> None:
    torch.manual_seed(1)
    gate = QuantumGate(6, 2, diff_method=diff_method, dtype=torch.float64)
    hidden = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    gate(hidden).square().sum().backward()
    for name, parameter in gate.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert hidden.grad is not None and hidden.grad.abs().sum() > 0


def test_gradcheck_through_projection_and_circuit() -> None:
    torch.manual_seed(2)
    gate = QuantumGate(4, 3, readout="parity", layers=1, dtype=torch.float64)
    hidden = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(gate, (hidden,))


def test_the_paper_router_has_its_parameter_counts() -> None:
    # 2 features, 2 qubits, 3 strongly entangling layers: 18 circuit angles (the paper's
    # "24 parameters" add the Linear(2, 2) adapter's 6); the projection is ours.
    gate = QuantumGate(2, 2, n_qubits=2, layers=3)
    counts = gate.parameter_counts()
    assert counts == {"classical": 6 + 6, "quantum": 18, "total": 30}
    assert counts["total"] == sum(p.numel() for p in gate.parameters())


def test_state_dict_round_trips_exactly() -> None:
    torch.manual_seed(3)
    gate = QuantumGate(10, 4, readout="parity", reuploads=2, layers=1)
    buffer = io.BytesIO()
    torch.save(gate.state_dict(), buffer)
    buffer.seek(0)
    clone = QuantumGate(10, 4, readout="parity", reuploads=2, layers=1)
    clone.load_state_dict(torch.load(buffer))
    hidden = torch.randn(6, 10)
    assert torch.equal(gate(hidden), clone(hidden))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: QuantumGate(8, 5, n_qubits=2, readout="probs"), "fewer than n_experts=5"),
        (lambda: QuantumGate(8, 4, n_qubits=2, readout="parity"), "fewer than n_experts=4"),
        (lambda: QuantumGate(8, 2, readout="softmax"), "readout='softmax'"),
        (lambda: QuantumGate(8, 2, entangler="ring"), "entangler='ring'"),
        (lambda: QuantumGate(8, 2, diff_method="backprop"), "diff_method='backprop'"),
        (lambda: QuantumGate(0, 2), "d_model and n_experts"),
        (lambda: MLPGate(8, 2), "exactly one of hidden and parameter_budget"),
        (lambda: MLPGate(8, 2, parameter_budget=5), "parameter_budget=5"),
        (lambda: MLPGate(8, 2, 4, activation="swish"), "activation='swish' is unknown"),
    ],
)
def test_bad_arguments_are_rejected(make, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("gate", [QuantumGate(8, 2), LinearGate(8, 2), MLPGate(8, 2, 4)])
def test_hidden_size_mismatch_is_rejected(gate: torch.nn.Module) -> None:
    with pytest.raises(ValueError, match="d_model=8"):
        gate(torch.randn(3, 9))


def test_probs_logits_are_the_born_distribution() -> None:
    gate = QuantumGate(5, 4, n_qubits=2, readout="probs", dtype=torch.float64)
    hidden = torch.randn(4, 5, dtype=torch.float64)
    distribution = torch.softmax(gate(hidden), dim=-1)
    torch.testing.assert_close(distribution.sum(-1), torch.ones(4, dtype=torch.float64))
    assert (distribution >= 0).all()


def test_mlp_gate_sizes_match_the_paper() -> None:
    # the paper's MLP routers for 2 features and 2 experts
    for hidden, expected in [(2, 12), (4, 22), (8, 42), (16, 82), (32, 162), (64, 322)]:
        assert MLPGate(2, 2, hidden).parameter_counts()["total"] == expected
        assert MLPGate(2, 2, parameter_budget=expected).hidden == hidden


@pytest.mark.parametrize(
    ("activation", "function"),
    [("tanh", torch.tanh), ("relu", torch.relu), ("gelu", torch.nn.functional.gelu)],
)
def test_mlp_gate_applies_its_activation(activation: str, function) -> None:
    gate = MLPGate(3, 2, 5, activation=activation, dtype=torch.float64)
    first, second = gate.layers[0], gate.layers[2]
    hidden = torch.randn(7, 3, dtype=torch.float64)
    expected = function(hidden @ first.weight.T + first.bias) @ second.weight.T + second.bias
    torch.testing.assert_close(gate(hidden), expected)


def test_linear_gate_with_a_bias() -> None:
    gate = LinearGate(6, 3, bias=True)
    hidden = torch.randn(5, 6)
    torch.testing.assert_close(gate(hidden), hidden @ gate.linear.weight.T + gate.linear.bias)
    assert gate.parameter_counts() == {"classical": 21, "quantum": 0, "total": 21}


def test_linear_gate_is_a_bias_free_linear() -> None:
    gate = LinearGate(6, 3)
    hidden = torch.randn(2, 4, 6)
    torch.testing.assert_close(gate(hidden), hidden @ gate.linear.weight.T)
    assert gate.parameter_counts() == {"classical": 18, "quantum": 0, "total": 18}


def test_angles_stay_in_the_documented_range() -> None:
    gate = QuantumGate(3, 2)
    angles = gate.angles(torch.randn(100, 3) * 100)
    assert angles.min() >= 0 and angles.max() <= math.pi
