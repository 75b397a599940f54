"""The reference against PennyLane's values (tests/python/data/pennylane_cases.json)."""

from __future__ import annotations

import json
import pathlib

import pytest
import torch

from qmoe_torch import reference
from qmoe_torch.circuits import (
    AngleEmbedding,
    BasicEntanglerLayers,
    Circuit,
    StronglyEntanglingLayers,
)

DATA = pathlib.Path(__file__).parent / "data" / "pennylane_cases.json"
CASES = json.loads(DATA.read_text())["cases"]
TOLERANCE = 1e-10
TEMPLATES = {
    "StronglyEntanglingLayers": StronglyEntanglingLayers,
    "BasicEntanglerLayers": BasicEntanglerLayers,
}


def _case_id(case: dict) -> str:
    return (
        f"{case['template']}-n{case['n_qubits']}-l{case['n_layers']}-{case['embedding_rotation']}"
    )


def _as64(values: list) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def _build(case: dict) -> Circuit:
    circuit = Circuit(case["n_qubits"])
    circuit.append(AngleEmbedding(case["embedding_rotation"]))
    circuit.append(TEMPLATES[case["template"]](case["n_layers"]))
    circuit.measure_expval(case["readouts"])
    return circuit


def test_cases_cover_every_template_and_rotation() -> None:
    assert {c["template"] for c in CASES} == set(TEMPLATES)
    assert {c["embedding_rotation"] for c in CASES} == {"X", "Y", "Z"}


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_matches_pennylane(case: dict) -> None:
    circuit = _build(case)
    n_qubits = case["n_qubits"]
    inputs = _as64(case["inputs"])
    weight_block = _as64(case["weights"])
    (name,) = circuit.weight_shapes
    assert circuit.weight_shapes[name] == tuple(weight_block.shape)
    weights = circuit.pack_weights({name: weight_block})

    def run_expval(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return reference.expval(
            x, w, circuit.program, n_qubits, circuit.z_masks, constants=circuit.constants
        )

    expvals = run_expval(inputs, weights)
    torch.testing.assert_close(expvals, _as64(case["expvals"]), atol=TOLERANCE, rtol=0)

    probs = reference.probs(inputs, weights, circuit.program, n_qubits, constants=circuit.constants)
    torch.testing.assert_close(probs, _as64(case["probs"]), atol=TOLERANCE, rtol=0)

    jac_inputs, jac_weights = torch.autograd.functional.jacobian(run_expval, (inputs, weights))
    # Samples are independent: keep d expval[b] / d inputs[b] (the diagonal over b).
    per_sample = torch.einsum("bmbf->bmf", jac_inputs)
    torch.testing.assert_close(per_sample, _as64(case["jac_inputs"]), atol=TOLERANCE, rtol=0)
    expected_weights = _as64(case["jac_weights"])
    torch.testing.assert_close(
        jac_weights.reshape(expected_weights.shape), expected_weights, atol=TOLERANCE, rtol=0
    )
