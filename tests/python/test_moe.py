"""The MoE layer against a token-by-token loop, capacity accounting, and Two Moons."""

from __future__ import annotations

import io
import math

import pytest
import torch
from torch import nn

from qmoe_torch import LinearGate, MLPExpert, MoE, QuantumExpert, QuantumGate


def naive_moe(moe: MoE, hidden: torch.Tensor, capacity: int | None = None) -> torch.Tensor:
    """Token by token: each token's k experts, weighted; with a capacity, an expert takes
    the first `capacity` (token, choice) slots in token order."""
    routing = moe.router(hidden)
    tokens = hidden.reshape(-1, moe.d_model)
    taken = [0] * moe.n_experts
    rows = []
    for t, token in enumerate(tokens):
        row = torch.zeros(moe.d_out, dtype=hidden.dtype)
        for choice in range(moe.k):
            expert = int(routing.indices[t, choice])
            taken[expert] += 1
            if capacity is not None and taken[expert] > capacity:
                continue
            row = row + routing.weights[t, choice] * moe.experts[expert](token[None])[0]
        rows.append(row)
    return torch.stack(rows).reshape(*hidden.shape[:-1], moe.d_out)


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("expert", ["swiglu", "mlp"])
@pytest.mark.parametrize("quantum", [False, True])
@pytest.mark.parametrize("shape", [(9, 8), (2, 6, 8)])
def test_moe_matches_a_token_by_token_loop(
    k: int, expert: str, quantum: bool, shape: tuple[int, ...]
) -> None:
    torch.manual_seed(k)
    gate = (
        QuantumGate(8, 4, dtype=torch.float64) if quantum else LinearGate(8, 4, dtype=torch.float64)
    )
    moe = MoE(8, 4, 16, k=k, gate=gate, expert=expert).double()
    hidden = torch.randn(*shape, dtype=torch.float64)
    out = moe(hidden)
    assert out.output.shape == shape and out.dropped == 0
    torch.testing.assert_close(out.output, naive_moe(moe, hidden), atol=1e-12, rtol=1e-12)


def test_capacity_drops_are_counted_and_left_out() -> None:
    torch.manual_seed(3)
    moe = MoE(6, 3, 8, k=2, capacity_factor=0.5).double()
    hidden = torch.randn(30, 6, dtype=torch.float64)
    out = moe(hidden)
    capacity = math.ceil(0.5 * 30 * 2 / 3)
    load = torch.bincount(out.routing.indices.reshape(-1), minlength=3)
    assert out.dropped == int((load - capacity).clamp(min=0).sum()) > 0
    assert out.dropped_fraction == out.dropped / 60
    torch.testing.assert_close(out.output, naive_moe(moe, hidden, capacity))


def test_gradients_reach_experts_and_gate() -> None:
    torch.manual_seed(4)
    moe = MoE(8, 4, 16, k=2, gate=QuantumGate(8, 4))
    out = moe(torch.randn(32, 8))
    (out.output.square().mean() + 0.01 * out.routing.aux_loss).backward()
    assert moe.gate.circuit_weights.grad.abs().sum() > 0
    assert moe.gate.projection.weight.grad.abs().sum() > 0
    used = set(out.routing.indices.reshape(-1).tolist())
    for index, expert in enumerate(moe.experts):
        grads = [p.grad for p in expert.parameters()]
        assert all(g is not None and g.abs().sum() > 0 for g in grads) == (index in used)


@pytest.mark.parametrize("embedding", ["amplitude", "angle"])
def test_quantum_experts(embedding: str) -> None:
    torch.manual_seed(5)
    experts = [QuantumExpert(4, 2, 3, embedding=embedding).double() for _ in range(2)]
    moe = MoE(4, 2, 0, k=1, experts=experts, d_out=3, renormalize=False).double()
    hidden = torch.randn(7, 4, dtype=torch.float64)
    torch.testing.assert_close(moe(hidden).output, naive_moe(moe, hidden))


def test_state_dict_round_trips_exactly() -> None:
    torch.manual_seed(6)
    moe = MoE(8, 4, 16, k=2, gate=QuantumGate(8, 4, readout="parity"))
    buffer = io.BytesIO()
    torch.save(moe.state_dict(), buffer)
    buffer.seek(0)
    clone = MoE(8, 4, 16, k=2, gate=QuantumGate(8, 4, readout="parity"))
    clone.load_state_dict(torch.load(buffer))
    hidden = torch.randn(10, 8)
    assert torch.equal(moe(hidden).output, clone(hidden).output)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: MoE(8, 4, 16, gate=LinearGate(8, 3)), "routes to 3 experts"),
        (lambda: MoE(8, 4, 16, experts=[nn.Linear(8, 8)]), "1 experts given"),
        (lambda: MoE(8, 4, 16, capacity_factor=0.0), "capacity_factor"),
        (lambda: MoE(8, 4, 16, k=5), "k=5"),
        (lambda: MoE(8, 4, 16, expert="moe"), "expert='moe'"),
    ],
)
def test_bad_arguments(make, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_hidden_size_mismatch() -> None:
    with pytest.raises(ValueError, match="d_model=8"):
        MoE(8, 2, 4)(torch.randn(3, 7))


def test_two_moons_with_a_quantum_router_and_top_1() -> None:
    # The paper's toy: 2-D points, two experts, the quantum router choosing one expert
    # per point (its probability as the combine weight, so the router learns).
    datasets = pytest.importorskip("sklearn.datasets")
    torch.manual_seed(0)
    points, labels = datasets.make_moons(1500, noise=0.1, random_state=0)
    points = torch.tensor(points, dtype=torch.float32)
    labels = torch.tensor(labels)
    gate = QuantumGate(2, 2, n_qubits=2, layers=3)
    moe = MoE(
        2,
        2,
        0,
        k=1,
        gate=gate,
        experts=[MLPExpert(2, 8, 2) for _ in range(2)],
        d_out=2,
        renormalize=False,
    )
    optimizer = torch.optim.Adam(moe.parameters(), lr=0.05)
    for _ in range(600):
        out = moe(points[:1000])
        loss = nn.functional.cross_entropy(out.output, labels[:1000]) + 0.01 * out.routing.aux_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    moe.eval()
    with torch.no_grad():
        accuracy = (moe(points[1000:]).output.argmax(-1) == labels[1000:]).float().mean()
    assert accuracy >= 0.95
