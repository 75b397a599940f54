"""torch.compile(fullgraph=True) and torch.export of a QuantumGate, a TopKRouter and an MoE
layer give the eager outputs and gradients."""

from __future__ import annotations

import pytest
import torch

from qmoe_torch import LinearGate, MoE, QuantumGate, TopKRouter
from qmoe_torch.moe import MoEOutput


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


# ---- the whole router and MoE layer: torch.compile(fullgraph=True) and torch.export ----
# Float32, tiny sizes. Eager dropless MoE uses the sorted dispatch, compiled and exported
# ones the padded dispatch (moe.py), so these also check that the two agree.

TOL = dict(atol=1e-6, rtol=1e-6)


def _gate(quantum: bool) -> torch.nn.Module:
    return QuantumGate(8, 4, n_qubits=2, layers=1) if quantum else LinearGate(8, 4)


def _step(model: torch.nn.Module, call, hidden: torch.Tensor) -> tuple[list, list]:
    """Outputs of ``call(hidden)`` and the gradients of a loss over all of them."""
    hidden = hidden.detach().requires_grad_(True)
    model.zero_grad()
    out = call(hidden)
    routing = out.routing if isinstance(out, MoEOutput) else out
    loss = routing.weights.square().sum() + routing.aux_loss + 0.1 * routing.z_loss
    outputs = [routing.logits, routing.probs, routing.weights, routing.indices, routing.load]
    outputs += [routing.aux_loss, routing.z_loss]
    if isinstance(out, MoEOutput):
        loss = loss + out.output.square().sum()
        outputs += [out.output, out.dropped, out.dropped_fraction]
    loss.backward()
    # an expert no token chose has no grad in the sorted dispatch, zeros in the padded one
    grads = [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in model.parameters()]
    grads.append(hidden.grad)
    return [o.detach() for o in outputs], grads


def _assert_same(actual: tuple[list, list], expected: tuple[list, list]) -> None:
    for got, want in zip(actual[0] + actual[1], expected[0] + expected[1], strict=True):
        torch.testing.assert_close(got, want, **TOL)


def _moe(quantum: bool, capacity_factor: float | None) -> MoE:
    torch.manual_seed(int(quantum))
    return MoE(8, 4, 16, k=2, gate=_gate(quantum), capacity_factor=capacity_factor)


@pytest.mark.parametrize("capacity_factor", [None, 0.75])
@pytest.mark.parametrize("quantum", [False, True])
def test_compiled_moe_matches_eager(quantum: bool, capacity_factor: float | None) -> None:
    moe = _moe(quantum, capacity_factor)
    compiled = torch.compile(moe, fullgraph=True)
    hidden = torch.randn(3, 5, 8)
    for training in (True, False):
        moe.train(training)
        expected = _step(moe, moe, hidden)
        _assert_same(_step(moe, compiled, hidden), expected)
    if capacity_factor is not None:
        assert int(expected[0][-2]) > 0  # the capacity path dropped something


@pytest.mark.parametrize("quantum", [False, True])
def test_compiled_router_matches_eager(quantum: bool) -> None:
    torch.manual_seed(2)
    router = TopKRouter(_gate(quantum), k=2, softmax="after")
    compiled = torch.compile(router, fullgraph=True)
    hidden = torch.randn(6, 8)
    _assert_same(_step(router, compiled, hidden), _step(router, router, hidden))


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("capacity_factor", [None, 0.75])
@pytest.mark.parametrize("quantum", [False, True])
def test_exported_moe_matches_eager(
    quantum: bool, capacity_factor: float | None, dynamic: bool
) -> None:
    moe = _moe(quantum, capacity_factor)
    hidden = torch.randn(3, 5, 8)
    shapes = {"hidden": {0: torch.export.Dim("batch", min=2, max=64)}} if dynamic else None
    exported = torch.export.export(moe, (hidden,), dynamic_shapes=shapes).module()
    for batch in (3, 7) if dynamic else (3,):
        hidden = torch.randn(batch, 5, 8)
        _assert_same(_step(moe, exported, hidden), _step(moe, moe, hidden))


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("quantum", [False, True])
def test_exported_router_matches_eager(quantum: bool, dynamic: bool) -> None:
    torch.manual_seed(3)
    router = TopKRouter(_gate(quantum), k=2)
    hidden = torch.randn(6, 8)
    shapes = {"hidden": {0: torch.export.Dim("tokens", min=2, max=64)}} if dynamic else None
    exported = torch.export.export(router, (hidden,), dynamic_shapes=shapes).module()
    for tokens in (6, 11) if dynamic else (6,):
        hidden = torch.randn(tokens, 8)
        _assert_same(_step(router, exported, hidden), _step(router, router, hidden))


def test_finite_check_stays_in_an_exported_graph() -> None:
    router = TopKRouter(LinearGate(8, 4), k=2, check_finite=True)
    exported = torch.export.export(router, (torch.randn(6, 8),)).module()
    exported(torch.randn(6, 8))
    bad = torch.randn(6, 8)
    bad[2, 3] = float("nan")
    with pytest.raises(RuntimeError, match="NaN or infinity"):
        exported(bad)


# ---- AOTInductor: the exported router and MoE compiled to a package, loaded, run ----
# Inference only (AOTInductor compiles no backward). Each package costs about a minute of
# C++ compilation here, so three cases cover quantum and classical gates, dropless and
# capacity, static and dynamic batch.


@pytest.mark.parametrize(
    ("kind", "quantum", "capacity_factor", "dynamic"),
    [
        ("moe", True, None, True),
        ("moe", False, 0.75, False),
        ("router", True, None, True),
    ],
)
def test_aoti_package_matches_eager(
    tmp_path, kind: str, quantum: bool, capacity_factor: float | None, dynamic: bool
) -> None:
    if kind == "moe":
        model = _moe(quantum, capacity_factor).eval()
        example, dim = torch.randn(3, 5, 8), torch.export.Dim("batch", min=2, max=64)
    else:
        torch.manual_seed(4)
        model = TopKRouter(_gate(quantum), k=2).eval()
        example, dim = torch.randn(6, 8), torch.export.Dim("tokens", min=2, max=64)
    shapes = {"hidden": {0: dim}} if dynamic else None
    with torch.no_grad():
        exported = torch.export.export(model, (example,), dynamic_shapes=shapes)
        package = torch._inductor.aoti_compile_and_package(
            exported, package_path=str(tmp_path / f"{kind}.pt2")
        )
    loaded = torch._inductor.aoti_load_package(package)
    for batch in (3, 7) if dynamic else (example.shape[0],):
        hidden = torch.randn(batch, *example.shape[1:])
        with torch.no_grad():
            got, want = loaded(hidden), model(hidden)
        assert type(got) is type(want)
        got_routing = got.routing if kind == "moe" else got
        want_routing = want.routing if kind == "moe" else want
        for field in ("logits", "probs", "weights", "indices", "load", "aux_loss", "z_loss"):
            torch.testing.assert_close(
                getattr(got_routing, field), getattr(want_routing, field), **TOL
            )
        if kind == "moe":
            torch.testing.assert_close(got.output, want.output, **TOL)
            torch.testing.assert_close(got.dropped, want.dropped)


def test_exported_moe_saves_and_loads(tmp_path) -> None:
    moe = _moe(True, 0.75)
    hidden = torch.randn(3, 5, 8)
    torch.export.save(torch.export.export(moe, (hidden,)), tmp_path / "moe.pt2")
    loaded = torch.export.load(tmp_path / "moe.pt2").module()
    # the loaded program holds its own copies of the parameters, under the same names
    assert [name for name, _ in loaded.named_parameters()] == [
        name for name, _ in moe.named_parameters()
    ]
    _assert_same(_step(loaded, loaded, hidden), _step(moe, moe, hidden))
