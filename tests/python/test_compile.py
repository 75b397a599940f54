"""torch.compile(fullgraph=True) of a QuantumGate gives the eager outputs and gradients."""

from __future__ import annotations

import pytest
import torch

from qmoe_torch import QuantumGate


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("n_qubits", [2, 4])
def test_compiled_gate_matches_eager(n_qubits: int, dynamic: bool) -> None:
    # 2 qubits: the state-free product path; 4: the statevector path, which keeps its final
    # states for the backward when the batch is static
    torch.manual_seed(n_qubits)
    gate = QuantumGate(16, 4, n_qubits=n_qubits, layers=2, dtype=torch.float64)
    compiled = torch.compile(gate, fullgraph=True, dynamic=dynamic)
    for batch in (8, 13):
        hidden = torch.randn(batch, 16, dtype=torch.float64, requires_grad=True)
        expected = gate(hidden)
        expected.square().sum().backward()
        expected_grads = [p.grad.clone() for p in gate.parameters()] + [hidden.grad.clone()]
        gate.zero_grad()
        hidden.grad = None
        actual = compiled(hidden)
        actual.square().sum().backward()
        torch.testing.assert_close(actual, expected, atol=1e-12, rtol=1e-12)
        for want, got in zip(
            expected_grads, [p.grad for p in gate.parameters()] + [hidden.grad], strict=True
        ):
            torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-12)
        gate.zero_grad()
        hidden.grad = None
