"""torch.autocast: the circuit operators upcast to float32 (float64 stays float64), and a
QuantumGate, TopKRouter and MoE layer train under bfloat16 autocast on the CPU, close to
their float32 results (csrc/ops/autocast/circuit_autocast.cpp, gates.gate_output_dtype)."""

from __future__ import annotations

import pytest
import torch

from qmoe_torch import LinearGate, MoE, QuantumGate, TopKRouter, ops
from qmoe_torch.circuits import Circuit
from qmoe_torch.templates import AngleEmbedding, StronglyEntanglingLayers

BF16 = dict(device_type="cpu", dtype=torch.bfloat16)


def _circuit(n_qubits: int = 3) -> Circuit:
    circuit = Circuit(n_qubits)
    circuit.append(AngleEmbedding("X"))
    circuit.append(StronglyEntanglingLayers(2))
    return circuit


@pytest.mark.parametrize("readout", ["expval", "probs"])
def test_ops_under_autocast_run_in_float32(readout: str) -> None:
    circuit = _circuit()
    if readout == "expval":
        circuit.measure_expval([[0], [1, 2]])
    else:
        circuit.measure_probs()
    torch.manual_seed(0)
    inputs = torch.rand(5, 3, requires_grad=True)
    weights = torch.rand(circuit.n_weights, requires_grad=True)
    expected = ops.run(circuit, inputs, weights)
    low = inputs.detach().bfloat16().requires_grad_(True)
    with torch.autocast(**BF16):
        out = ops.run(circuit, low, weights)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ops.run(circuit, low.detach().float(), weights.detach()))
    torch.testing.assert_close(out, expected, atol=2e-2, rtol=0)
    out.sum().backward()
    assert low.grad.dtype == torch.bfloat16 and weights.grad.dtype == torch.float32
    # float64 stays float64: a bfloat16 argument next to it goes up to float64
    with torch.autocast(**BF16):
        wide = ops.run(circuit, inputs.detach().double(), weights.detach().bfloat16())
    assert wide.dtype == torch.float64


def _grads(module: torch.nn.Module) -> list[torch.Tensor]:
    return [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in module.parameters()]


def _assert_bf16_close(got: torch.Tensor, want: torch.Tensor) -> None:
    scale = float(want.detach().abs().max()) if want.numel() else 1.0
    torch.testing.assert_close(got.float(), want, atol=0.05 * scale + 1e-3, rtol=0.05)


def _compare(module: torch.nn.Module, call, hidden: torch.Tensor) -> None:
    """float32 eager against bfloat16 autocast: outputs and gradients."""
    module.zero_grad()
    want = call(hidden)
    want[0].square().sum().backward()
    want_grads = _grads(module)
    module.zero_grad()
    with torch.autocast(**BF16):
        got = call(hidden)
        got[0].float().square().sum().backward()
    for g, w in zip(got, want, strict=True):
        _assert_bf16_close(g, w)
    for g, w in zip(_grads(module), want_grads, strict=True):
        _assert_bf16_close(g, w)


@pytest.mark.parametrize("readout", ["expval", "probs", "parity"])
def test_quantum_gate_under_autocast(readout: str) -> None:
    torch.manual_seed(1)
    gate = QuantumGate(8, 4, readout=readout, layers=2)
    hidden = torch.randn(6, 8)
    with torch.autocast(**BF16):
        # the logits a Linear router would give: the autocast dtype
        assert gate(hidden).dtype == torch.bfloat16
        assert gate(hidden.double()).dtype == torch.float64
    assert gate(hidden).dtype == torch.float32
    _compare(gate, lambda x: (gate(x),), hidden)


def test_gates_match_linear_dtype_under_autocast() -> None:
    hidden = torch.randn(4, 8)
    with torch.autocast(**BF16):
        want = torch.nn.Linear(8, 3)(hidden).dtype
        assert LinearGate(8, 3)(hidden).dtype == want == torch.bfloat16
        assert QuantumGate(8, 3)(hidden).dtype == want


def test_router_under_autocast() -> None:
    torch.manual_seed(2)
    # k = n_experts: no top-k choice that bfloat16 rounding could flip
    router = TopKRouter(QuantumGate(8, 4, layers=2), k=4)
    hidden = torch.randn(10, 8)
    with torch.autocast(**BF16):
        out = router(hidden)
    assert out.logits.dtype == torch.bfloat16 and out.probs.dtype == torch.float32
    _compare(router, lambda x: (router(x).probs, router(x).aux_loss, router(x).z_loss), hidden)


@pytest.mark.parametrize("capacity_factor", [None, 1.0])
def test_moe_under_autocast(capacity_factor: float | None) -> None:
    torch.manual_seed(3)
    moe = MoE(8, 4, 16, k=4, gate=QuantumGate(8, 4, layers=2), capacity_factor=capacity_factor)
    hidden = torch.randn(2, 5, 8)
    with torch.autocast(**BF16):
        assert moe(hidden).output.dtype == torch.float32  # the dtype of hidden
    _compare(moe, lambda x: (moe(x).output,), hidden)
