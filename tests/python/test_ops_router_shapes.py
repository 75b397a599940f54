"""Router-shaped circuits (embedding, then shared layers) on every kernel path.

These shapes take the fast paths of the CPU engine (product-state forms for
small routers, dense fusion, the gate-by-gate sweep for larger ones), so each
is checked against the reference here, forward and both gradient methods.
"""

from __future__ import annotations

import math

import pytest
import torch

from qmoe_torch import ops, reference
from qmoe_torch.circuits import (
    AngleEmbedding,
    BasicEntanglerLayers,
    Circuit,
    DataReuploading,
    StronglyEntanglingLayers,
)

TOLERANCE = {torch.float64: 1e-10, torch.float32: 2e-5}


def router(n_qubits: int, rotation: str, layers: str) -> Circuit:
    circuit = Circuit(n_qubits)
    embedding = AngleEmbedding(rotation)
    if layers == "reuploading":
        circuit.append(DataReuploading(embedding, StronglyEntanglingLayers(1), 2))
    else:
        circuit.append(embedding)
        template = StronglyEntanglingLayers(3) if layers == "strong" else BasicEntanglerLayers(2)
        circuit.append(template)
    return circuit


@pytest.mark.parametrize("readout", ["expval", "probs"])
@pytest.mark.parametrize("layers", ["strong", "basic", "reuploading"])
@pytest.mark.parametrize("rotation", ["X", "Y", "Z"])
@pytest.mark.parametrize("n_qubits", [1, 2, 3, 4, 6])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_router_matches_reference(
    isa: str, dtype: torch.dtype, n_qubits: int, rotation: str, layers: str, readout: str
) -> None:
    circuit = router(n_qubits, rotation, layers)
    generator = torch.Generator().manual_seed(n_qubits)
    batch = 37
    inputs = torch.rand(batch, n_qubits, dtype=torch.float64, generator=generator) * math.pi
    weights = torch.rand(circuit.n_weights, dtype=torch.float64, generator=generator) * 2 * math.pi
    masks = [1 << w for w in range(n_qubits)] + [(1 << n_qubits) - 1]
    width = 2**n_qubits if readout == "probs" else len(masks)
    grad_out = torch.randn(batch, width, dtype=torch.float64, generator=generator)

    def reference_run(x, w):
        if readout == "probs":
            return reference.probs(x, w, circuit.program, n_qubits)
        return reference.expval(x, w, circuit.program, n_qubits, masks)

    x = inputs.clone().requires_grad_()
    w = weights.clone().requires_grad_()
    expected = reference_run(x, w)
    expected.backward(grad_out)
    for diff_method in ("adjoint", "parameter_shift"):
        xo = inputs.to(dtype).clone().requires_grad_()
        wo = weights.to(dtype).clone().requires_grad_()
        if readout == "probs":
            actual = ops.probs(xo, wo, circuit.program, n_qubits, diff_method=diff_method)
        else:
            actual = ops.expval(xo, wo, circuit.program, n_qubits, masks, diff_method=diff_method)
        actual.backward(grad_out.to(dtype))
        tolerance = TOLERANCE[dtype]
        for name, a, e in (
            ("output", actual, expected),
            ("inputs", xo.grad, x.grad),
            ("weights", wo.grad, w.grad),
        ):
            scale = max(1.0, float(e.abs().max()))
            error = float((a.detach().double() - e.detach()).abs().max())
            assert error <= tolerance * scale, f"{diff_method} {name}: {error:.2e}"


@pytest.mark.parametrize("readout", ["expval", "probs"])
@pytest.mark.parametrize("rotation", ["X", "Y", "Z"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_large_batch_three_qubit_router_matches_reference(
    isa: str, dtype: torch.dtype, rotation: str, readout: str
) -> None:
    # At 3 qubits the product-state path runs only for batches that amortise its plan
    # (>= 8192 samples); 8,203 samples also end on a partial block of lanes.
    n_qubits, batch = 3, 8203
    circuit = router(n_qubits, rotation, "strong")
    generator = torch.Generator().manual_seed(11)
    inputs = torch.rand(batch, n_qubits, dtype=torch.float64, generator=generator) * math.pi
    weights = torch.rand(circuit.n_weights, dtype=torch.float64, generator=generator) * 2 * math.pi
    masks = [1, 2, 4, 7]
    width = 8 if readout == "probs" else len(masks)
    grad_out = torch.randn(batch, width, dtype=torch.float64, generator=generator)

    def run(module, x, w):
        if readout == "probs":
            return module.probs(x, w, circuit.program, n_qubits)
        return module.expval(x, w, circuit.program, n_qubits, masks)

    x = inputs.clone().requires_grad_()
    w = weights.clone().requires_grad_()
    expected = run(reference, x, w)
    expected.backward(grad_out)
    xo = inputs.to(dtype).clone().requires_grad_()
    wo = weights.to(dtype).clone().requires_grad_()
    actual = run(ops, xo, wo)
    actual.backward(grad_out.to(dtype))
    # weight gradients sum over the batch: scale the tolerance with it
    for name, a, e, scale in (
        ("output", actual, expected, 1.0),
        ("inputs", xo.grad, x.grad, 1.0),
        ("weights", wo.grad, w.grad, math.sqrt(batch)),
    ):
        error = float((a.detach().double() - e.detach()).abs().max())
        bound = TOLERANCE[dtype] * scale * max(1.0, float(e.abs().max()))
        assert error <= bound, f"{name}: {error:.2e}"


@pytest.mark.parametrize("masks", [[1, 2], [2, 3], [1, 2, 3]])
@pytest.mark.parametrize("swapped", [False, True])
@pytest.mark.parametrize("rotation", ["X", "Y"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_two_feature_router_over_many_blocks(
    isa: str, dtype: torch.dtype, rotation: str, swapped: bool, masks: list[int]
) -> None:
    # Two features and two scores move between rows and lanes as whole vectors, in groups
    # of 8 full blocks; 1,000 samples also leave a partial group and a partial block.
    circuit = Circuit(2)
    gate = circuit.rx if rotation == "X" else circuit.ry
    gate(0, input=1 if swapped else 0)
    gate(1, input=0 if swapped else 1)
    circuit.append(StronglyEntanglingLayers(3))
    batch = 1000
    generator = torch.Generator().manual_seed(5)
    inputs = torch.rand(batch, 2, dtype=torch.float64, generator=generator) * math.pi
    weights = torch.rand(circuit.n_weights, dtype=torch.float64, generator=generator) * 2 * math.pi
    grad_out = torch.randn(batch, len(masks), dtype=torch.float64, generator=generator)
    x = inputs.clone().requires_grad_()
    w = weights.clone().requires_grad_()
    expected = reference.expval(x, w, circuit.program, 2, masks)
    expected.backward(grad_out)
    xo = inputs.to(dtype).clone().requires_grad_()
    wo = weights.to(dtype).clone().requires_grad_()
    actual = ops.expval(xo, wo, circuit.program, 2, masks)
    actual.backward(grad_out.to(dtype))
    for name, a, e, scale in (
        ("output", actual, expected, 1.0),
        ("inputs", xo.grad, x.grad, 1.0),
        ("weights", wo.grad, w.grad, math.sqrt(batch)),
    ):
        error = float((a.detach().double() - e.detach()).abs().max())
        bound = TOLERANCE[dtype] * scale * max(1.0, float(e.abs().max()))
        assert error <= bound, f"{name}: {error:.2e}"
