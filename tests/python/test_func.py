"""torch.func (vmap, grad, jacrev, vmap of grad, functional_call) over the circuit operators
and the modules, against the reference simulator and plain autograd.

The expected values never use a functorch transform: a loop over the vmapped dimension,
``torch.autograd.grad`` and ``torch.autograd.functional.jacobian`` of the reference (or,
for whole modules, of the module under the operators' C++ autograd)."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest
import torch
from random_circuits import random_angles, random_circuit, random_state
from torch.func import functional_call, grad, jacrev, vmap

from qmoe_torch import MoE, QuantumGate, TopKRouter, ops, reference

TOLERANCES = {
    torch.float64: dict(atol=1e-12, rtol=1e-12),
    torch.float32: dict(atol=1e-6, rtol=1e-6),
}
DTYPES = [torch.float64, torch.float32]
MASKS = [1, 6, 5]


def _case(n_qubits: int, batch: int, seed: int, dtype: torch.dtype):
    rng = np.random.default_rng(seed)
    circuit = random_circuit(n_qubits, 24, 2, 3, rng)
    inputs = random_angles(rng, (batch, 2)).to(dtype)
    weights = random_angles(rng, (3,)).to(dtype)
    complex_dtype = torch.complex128 if dtype == torch.float64 else torch.complex64
    state = random_state(rng, batch, n_qubits).to(complex_dtype)
    return circuit, inputs, weights, state


def _op(circuit, n_qubits: int, readout: str, diff_method: str = "adjoint"):
    """``(inputs, weights, state=None) -> readout`` through qmoe, and the same through the
    reference, computed in float64 from the same values."""

    def fused(x, w, s=None):
        if readout == "probs":
            return ops.probs(
                x,
                w,
                circuit.program,
                n_qubits,
                initial_state=s,
                constants=circuit.constants,
                diff_method=diff_method,
            )
        return ops.expval(
            x,
            w,
            circuit.program,
            n_qubits,
            MASKS,
            initial_state=s,
            constants=circuit.constants,
            diff_method=diff_method,
        )

    def oracle(x, w, s=None):
        x, w = x.double(), w.double()
        s = None if s is None else s.to(torch.complex128)
        if readout == "probs":
            return reference.probs(x, w, circuit.program, n_qubits, s, circuit.constants)
        return reference.expval(x, w, circuit.program, n_qubits, MASKS, s, circuit.constants)

    return fused, oracle


def _close(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype) -> None:
    assert actual.dtype == dtype
    torch.testing.assert_close(actual.double(), expected.double(), **TOLERANCES[dtype])


@contextlib.contextmanager
def _no_fallback():
    """Fails on functorch's slow per-element fallback (an op without a vmap rule)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*performance drop.*")
        yield


# ---- the operators ----


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("readout", ["expval", "probs"])
@pytest.mark.parametrize("with_state", [False, True])
def test_vmap_over_samples(dtype: torch.dtype, readout: str, with_state: bool) -> None:
    circuit, _, weights, _ = _case(3, 4, 11, dtype)
    fused, oracle = _op(circuit, 3, readout)
    rng = np.random.default_rng(12)
    inputs = random_angles(rng, (4, 5, 2)).to(dtype)  # vmapped over dim 1
    states = _case(3, 20, 13, dtype)[3].reshape(5, 4, 8) if with_state else None
    in_dims = (1, None, 0) if with_state else (1, None)
    args = (inputs, weights, states) if with_state else (inputs, weights)
    with _no_fallback():
        actual = vmap(fused, in_dims=in_dims)(*args)
    expected = torch.stack(
        [
            oracle(inputs[:, v], weights, *((states[v],) if with_state else ()))
            for v in range(inputs.shape[1])
        ]
    )
    _close(actual, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_vmap_over_weights(dtype: torch.dtype) -> None:
    # one weight vector per vmapped element: the operator runs once per element
    circuit, inputs, _, _ = _case(3, 4, 14, dtype)
    fused, oracle = _op(circuit, 3, "expval")
    weight_sets = random_angles(np.random.default_rng(15), (3, 6)).to(dtype).T  # [6, 3]
    with _no_fallback():
        actual = vmap(fused, in_dims=(None, 0))(inputs, weight_sets)
    expected = torch.stack([oracle(inputs, w) for w in weight_sets])
    _close(actual, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("diff_method", ["adjoint", "parameter_shift"])
@pytest.mark.parametrize("n_qubits", [3, 4])
def test_grad(dtype: torch.dtype, diff_method: str, n_qubits: int) -> None:
    # 4 qubits, adjoint: the forward keeps its final states for the backward
    circuit, inputs, weights, state = _case(n_qubits, 5, 16 + n_qubits, dtype)
    fused, oracle = _op(circuit, n_qubits, "expval", diff_method)
    cotangent = torch.randn(5, len(MASKS), dtype=torch.float64)

    def loss(f):
        return lambda x, w, s: (f(x, w, s) * cotangent.to(f(x, w, s).dtype)).sum()

    with _no_fallback():
        actual = grad(loss(fused), argnums=(0, 1, 2))(inputs, weights, state)
    leaves = [t.double().requires_grad_() for t in (inputs, weights)]
    leaves.append(state.to(torch.complex128).requires_grad_())
    expected = torch.autograd.grad(loss(oracle)(*leaves), leaves)
    for got, want in zip(actual[:2], expected[:2], strict=True):
        _close(got, want, dtype)
    torch.testing.assert_close(actual[2].to(torch.complex128), expected[2], **TOLERANCES[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("readout", ["expval", "probs"])
def test_jacrev(dtype: torch.dtype, readout: str) -> None:
    circuit, inputs, weights, _ = _case(3, 3, 21, dtype)
    fused, oracle = _op(circuit, 3, readout)
    with _no_fallback():
        actual = jacrev(fused, argnums=(0, 1))(inputs, weights)
    expected = torch.autograd.functional.jacobian(oracle, (inputs.double(), weights.double()))
    for got, want in zip(actual, expected, strict=True):
        _close(got, want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_qubits", [3, 4])
@pytest.mark.parametrize("argnum", [0, 1])
def test_vmap_of_grad(dtype: torch.dtype, n_qubits: int, argnum: int) -> None:
    # per-example gradients: argnum 1 (the shared weights) runs the backward once per
    # example, argnum 0 folds the examples into one backward
    circuit, _, weights, _ = _case(n_qubits, 1, 22, dtype)
    fused, oracle = _op(circuit, n_qubits, "expval")
    examples = random_angles(np.random.default_rng(23), (4, 3, 2)).to(dtype)

    def loss(f):
        return lambda x, w: f(x, w).square().sum()

    with _no_fallback():
        actual = vmap(grad(loss(fused), argnums=argnum), in_dims=(0, None))(examples, weights)
    expected = []
    for x in examples:
        leaves = [x.double().requires_grad_(), weights.double().requires_grad_()]
        expected.append(torch.autograd.grad(loss(oracle)(*leaves), leaves[argnum])[0])
    _close(actual, torch.stack(expected), dtype)


def test_outside_transforms_the_cpp_autograd_runs() -> None:
    circuit, inputs, weights, _ = _case(3, 2, 24, torch.float64)
    fused, _ = _op(circuit, 3, "expval")
    out = fused(inputs.requires_grad_(), weights)
    assert "CppNode" in out.grad_fn.name()


# ---- the modules ----


def _reference_gate(gate: QuantumGate, params: dict, hidden: torch.Tensor) -> torch.Tensor:
    """A QuantumGate's logits through the reference simulator, from ``params``."""
    projection = torch.nn.functional.linear(
        hidden, params["projection.weight"], params["projection.bias"]
    )
    angles = gate.angle_range * torch.sigmoid(projection)
    values = reference.expval(
        angles, params["circuit_weights"], gate._program, gate.n_qubits, gate._z_masks
    )
    return torch.nn.functional.linear(values, params["adapter.weight"], params["adapter.bias"])


@pytest.mark.parametrize("dtype", DTYPES)
def test_gate_functional_call_grad_and_per_example_grads(dtype: torch.dtype) -> None:
    torch.manual_seed(25)
    gate = QuantumGate(6, 4, n_qubits=3, layers=2, dtype=dtype)
    params = {name: p.detach() for name, p in gate.named_parameters()}
    hidden = torch.randn(5, 6, dtype=dtype)

    def loss(p, h):
        return functional_call(gate, p, (h,)).square().sum()

    def reference_loss(p, h):
        return _reference_gate(gate, p, h).square().sum()

    wide = {name: p.double().requires_grad_() for name, p in params.items()}
    with _no_fallback():
        torch.testing.assert_close(
            functional_call(gate, params, (hidden,)).double(),
            _reference_gate(gate, wide, hidden.double()).detach(),
            **TOLERANCES[dtype],
        )
        actual = grad(loss)(params, hidden)
        per_example = vmap(grad(loss), in_dims=(None, 0))(params, hidden[:, None])
    expected = torch.autograd.grad(reference_loss(wide, hidden.double()), list(wide.values()))
    for name, want in zip(wide, expected, strict=True):
        _close(actual[name], want, dtype)
    for t in range(hidden.shape[0]):
        row = hidden[t : t + 1].double()
        wants = torch.autograd.grad(reference_loss(wide, row), list(wide.values()))
        for name, want in zip(wide, wants, strict=True):
            _close(per_example[name][t], want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gate_vmap_and_jacrev_over_tokens(dtype: torch.dtype) -> None:
    torch.manual_seed(26)
    gate = QuantumGate(6, 4, n_qubits=4, layers=1, readout="parity", dtype=dtype)
    hidden = torch.randn(3, 6, dtype=dtype)
    with _no_fallback():
        per_token = vmap(gate)(hidden)  # each token a [6] vector
        jacobian = jacrev(gate)(hidden)
    _close(per_token, gate(hidden).detach(), dtype)
    expected = torch.autograd.functional.jacobian(gate, hidden)
    _close(jacobian, expected, dtype)


def test_router_grad_through_functional_call() -> None:
    torch.manual_seed(27)
    router = TopKRouter(QuantumGate(6, 4, n_qubits=3, dtype=torch.float64), k=2)
    params = {name: p.detach() for name, p in router.named_parameters()}
    hidden = torch.randn(7, 6, dtype=torch.float64)

    def loss(p):
        out = functional_call(router, p, (hidden,))
        return out.weights.square().sum() + out.aux_loss + 0.1 * out.z_loss

    with _no_fallback():
        actual = grad(loss)(params)
        per_token = vmap(lambda h: functional_call(router, params, (h,)).weights)(hidden)
    out = router(hidden)
    (out.weights.square().sum() + out.aux_loss + 0.1 * out.z_loss).backward()
    for name, p in router.named_parameters():
        torch.testing.assert_close(actual[name], p.grad, **TOLERANCES[torch.float64])
    torch.testing.assert_close(per_token[:, 0], out.weights.detach(), atol=1e-12, rtol=1e-12)


def test_moe_grad_through_functional_call() -> None:
    # vmap is not meaningful for an MoE layer (its dispatch depends on the routing)
    torch.manual_seed(28)
    gate = QuantumGate(6, 4, n_qubits=4, layers=1, dtype=torch.float64)
    moe = MoE(6, 4, 8, k=2, gate=gate).double()
    params = {name: p.detach() for name, p in moe.named_parameters()}
    hidden = torch.randn(9, 6, dtype=torch.float64)

    def loss(p):
        out = functional_call(moe, p, (hidden,))
        return out.output.square().sum() + 0.01 * out.routing.aux_loss

    with _no_fallback():
        actual = grad(loss)(params)
    out = moe(hidden)
    (out.output.square().sum() + 0.01 * out.routing.aux_loss).backward()
    for name, p in moe.named_parameters():
        want = torch.zeros_like(p) if p.grad is None else p.grad
        torch.testing.assert_close(actual[name], want, **TOLERANCES[torch.float64])


def test_second_derivatives_are_refused() -> None:
    # circuit_backward has no derivative: an error, never a gradient that treats it as 0
    circuit, inputs, weights, _ = _case(3, 2, 29, torch.float64)
    fused, _ = _op(circuit, 3, "expval")

    def loss(w):
        return fused(inputs, w).square().sum()

    with pytest.raises(NotImplementedError, match="second derivatives"):
        jacrev(jacrev(loss))(weights)
    with pytest.raises(NotImplementedError, match="second derivatives"):
        grad(lambda w: grad(loss)(w).sum())(weights)


def test_compiled_transform_matches_eager() -> None:
    # torch.compile runs the operator call of a transform outside its graph (dynamo would
    # drop the autograd function's backward under grad), so the gradients are eager's
    circuit, _, weights, _ = _case(3, 1, 30, torch.float64)
    fused, _ = _op(circuit, 3, "expval")
    examples = random_angles(np.random.default_rng(31), (3, 2, 2))

    def loss(x, w):
        return fused(x, w).square().sum()

    per_example = vmap(grad(loss, argnums=1), in_dims=(0, None))
    compiled = torch.compile(per_example, backend="aot_eager")
    torch.testing.assert_close(compiled(examples, weights), per_example(examples, weights))
