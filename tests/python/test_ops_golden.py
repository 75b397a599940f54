"""The fused operators against PennyLane's own numbers (values, Jacobians, probabilities)."""

from __future__ import annotations

import json
import pathlib

import pytest
import torch

from qmoe_torch import ops
from qmoe_torch.circuits import (
    AngleEmbedding,
    BasicEntanglerLayers,
    Circuit,
    StronglyEntanglingLayers,
)

CASES = json.loads((pathlib.Path(__file__).parent / "data" / "pennylane_cases.json").read_text())[
    "cases"
]
TEMPLATES = {
    "StronglyEntanglingLayers": StronglyEntanglingLayers,
    "BasicEntanglerLayers": BasicEntanglerLayers,
}


def build(case: dict) -> tuple[Circuit, torch.Tensor, torch.Tensor]:
    circuit = Circuit(case["n_qubits"])
    circuit.append(AngleEmbedding(case["embedding_rotation"]))
    circuit.append(TEMPLATES[case["template"]](case["n_layers"]))
    circuit.measure_expval(case["readouts"])
    weights = torch.tensor(case["weights"], dtype=torch.float64)
    (name,) = circuit.weight_shapes
    return (
        circuit,
        torch.tensor(case["inputs"], dtype=torch.float64),
        circuit.pack_weights({name: weights}),
    )


@pytest.mark.parametrize("diff_method", ["adjoint", "parameter_shift"])
@pytest.mark.parametrize(
    "case",
    CASES,
    ids=lambda c: f"{c['template']}-n{c['n_qubits']}-l{c['n_layers']}-{c['embedding_rotation']}",
)
def test_matches_pennylane(isa: str, case: dict, diff_method: str) -> None:
    circuit, inputs, weights = build(case)
    n = case["n_qubits"]
    expvals = ops.run(circuit, inputs, weights, diff_method=diff_method)
    torch.testing.assert_close(
        expvals, torch.tensor(case["expvals"], dtype=torch.float64), atol=1e-10, rtol=0
    )
    probs = ops.probs(inputs, weights, circuit.program, n)
    torch.testing.assert_close(
        probs, torch.tensor(case["probs"], dtype=torch.float64), atol=1e-10, rtol=0
    )

    # Jacobians row by row: one vector-Jacobian product per (sample, readout).
    jac_inputs = torch.tensor(case["jac_inputs"], dtype=torch.float64)
    jac_weights = torch.tensor(case["jac_weights"], dtype=torch.float64)
    batch, n_readouts = expvals.shape
    for b in range(batch):
        for r in range(n_readouts):
            x = inputs.clone().requires_grad_()
            w = weights.clone().requires_grad_()
            out = ops.run(circuit, x, w, diff_method=diff_method)
            out[b, r].backward()
            torch.testing.assert_close(x.grad[b], jac_inputs[b, r], atol=1e-10, rtol=0)
            torch.testing.assert_close(w.grad, jac_weights[b, r].reshape(-1), atol=1e-10, rtol=0)
