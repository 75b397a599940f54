"""TopKRouter: selection, combine weights and auxiliary losses against their formulas."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from qmoe_torch import LinearGate, QuantumGate, TopKRouter
from qmoe_torch.routing import load_balancing_loss, router_z_loss


class FixedGate(nn.Module):
    """A gate that returns given logits, whatever the hidden state."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.n_experts = logits.shape[-1]
        self.logits = logits

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(*hidden.shape[:-1], self.n_experts)


def test_losses_on_a_hand_computed_case() -> None:
    # 2 tokens, 2 experts, k = 1: token 0 prefers expert 0 (p = 0.75), token 1 expert 1
    # (p = 0.6). load = (1/2, 1/2), mean probs = ((0.75 + 0.4) / 2, (0.25 + 0.6) / 2), so
    # aux = 2 * (0.5 * 0.575 + 0.5 * 0.425) = 1.
    logits = torch.log(torch.tensor([[0.75, 0.25], [0.4, 0.6]], dtype=torch.float64))
    router = TopKRouter(FixedGate(logits), k=1)
    out = router(torch.zeros(2, 3))
    assert out.indices.tolist() == [[0], [1]]
    torch.testing.assert_close(out.load, torch.tensor([0.5, 0.5]))
    torch.testing.assert_close(out.aux_loss, torch.tensor(1.0, dtype=torch.float64))
    # z-loss: logsumexp of log-probabilities is 0 for each token
    torch.testing.assert_close(out.z_loss, torch.tensor(0.0, dtype=torch.float64))


def test_unbalanced_routing_costs_more() -> None:
    # both tokens to expert 0 with p = 0.9: aux = 2 * (1 * 0.9 + 0 * 0.1) = 1.8
    logits = torch.log(torch.tensor([[0.9, 0.1], [0.9, 0.1]], dtype=torch.float64))
    out = TopKRouter(FixedGate(logits), k=1)(torch.zeros(2, 1))
    torch.testing.assert_close(out.aux_loss, torch.tensor(1.8, dtype=torch.float64))
    torch.testing.assert_close(out.load, torch.tensor([1.0, 0.0]))


def test_z_loss_formula() -> None:
    logits = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    expected = (math.log(math.e + math.e**2 + math.e**3) ** 2 + math.log(3.0) ** 2) / 2
    torch.testing.assert_close(router_z_loss(logits), torch.tensor(expected, dtype=torch.float64))


@pytest.mark.parametrize("softmax", ["before", "after"])
@pytest.mark.parametrize("renormalize", [True, False])
def test_top_k_matches_a_token_by_token_loop(softmax: str, renormalize: bool) -> None:
    torch.manual_seed(0)
    gate = LinearGate(6, 5, dtype=torch.float64)
    router = TopKRouter(gate, k=2, softmax=softmax, renormalize=renormalize).eval()
    hidden = torch.randn(3, 4, 6, dtype=torch.float64)
    out = router(hidden)
    for t, token in enumerate(hidden.reshape(-1, 6)):
        logits = gate(token).detach()
        order = sorted(range(5), key=lambda e: -float(logits[e]))[:2]
        assert out.indices[t].tolist() == order
        probs = torch.softmax(logits, -1)
        if softmax == "before":
            expected = probs[order] / (probs[order].sum() if renormalize else 1)
        else:
            expected = torch.softmax(logits[order], -1)
        torch.testing.assert_close(out.weights[t], expected)
    assert out.weights.shape == (12, 2) and out.probs.shape == (12, 5)
    torch.testing.assert_close(out.load.sum(), torch.tensor(1.0))


def test_loss_gradients_reach_a_quantum_gate() -> None:
    torch.manual_seed(1)
    router = TopKRouter(QuantumGate(8, 4, dtype=torch.float64), k=2)
    out = router(torch.randn(16, 8, dtype=torch.float64))
    (out.weights.sum() + out.aux_loss + out.z_loss).backward()
    assert router.gate.circuit_weights.grad.abs().sum() > 0


def test_noise_and_jitter_act_only_in_training() -> None:
    torch.manual_seed(2)
    router = TopKRouter(LinearGate(4, 3), k=1, noise_std=1.0, jitter=0.1)
    hidden = torch.randn(64, 4)
    router.eval()
    assert torch.equal(router(hidden).logits, router(hidden).logits)
    router.train()
    assert not torch.equal(router(hidden).logits, router(hidden).logits)


def test_bf16_logits_route_in_float32() -> None:
    router = TopKRouter(LinearGate(4, 3, dtype=torch.bfloat16), k=2)
    out = router(torch.randn(5, 4, dtype=torch.bfloat16))
    assert out.probs.dtype == torch.float32 and out.weights.dtype == torch.float32


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(k=4), "k=4 must be between 1 and n_experts=3"),
        (dict(k=0), "k=0"),
        (dict(softmax="later"), "softmax='later'"),
        (dict(noise_std=-1.0), "noise_std"),
        (dict(jitter=1.5), "jitter"),
    ],
)
def test_bad_router_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TopKRouter(LinearGate(4, 3), **kwargs)


def test_gate_without_n_experts_is_rejected() -> None:
    with pytest.raises(TypeError, match="n_experts"):
        TopKRouter(nn.Linear(4, 3))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_logits_are_rejected_when_checked(bad: float) -> None:
    logits = torch.tensor([[0.0, bad]])
    with pytest.raises(ValueError, match="NaN or infinity"):
        TopKRouter(FixedGate(logits), k=1, check_finite=True)(torch.zeros(1, 2))
    # unchecked by default: no host-device sync, no data-dependent branch
    out = TopKRouter(FixedGate(logits), k=1)(torch.zeros(1, 2))
    assert out.indices.shape == (1, 1)


def test_load_balancing_loss_of_uniform_routing_is_one() -> None:
    probs = torch.full((8, 4), 0.25)
    indices = torch.arange(8).remainder(4)[:, None]
    torch.testing.assert_close(load_balancing_loss(probs, indices), torch.tensor(1.0))


def test_losses_are_computed_when_read_in_the_grad_mode_of_the_read() -> None:
    # a decoding step reads no loss, so none is computed in forward; a read under no_grad
    # (logging) must not leave a loss without gradient for a later read in training
    torch.manual_seed(5)
    router = TopKRouter(LinearGate(6, 4, dtype=torch.float64), k=2)
    hidden = torch.randn(9, 6, dtype=torch.float64)
    out = router(hidden)
    with torch.no_grad():
        logged = out.aux_loss
    assert not logged.requires_grad
    loss = out.aux_loss + out.z_loss
    assert loss.requires_grad
    torch.testing.assert_close(out.aux_loss, load_balancing_loss(out.probs, out.indices))
    torch.testing.assert_close(out.z_loss, router_z_loss(out.logits))
    (grad,) = torch.autograd.grad(loss, router.gate.linear.weight)
    assert grad.abs().sum() > 0
