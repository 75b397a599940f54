"""QuantumGate's eager fast path (torch.classes.qmoe.QuantumGatePlan) and the routing
operator (torch.ops.qmoe.top_k_routing): the same bits and gradients as the Python code
they replace, taken exactly where they may be, and the Python path everywhere else."""

from __future__ import annotations

import copy
import math
import pickle
import zlib

import pytest
import torch
from torch import nn

import qmoe_torch as qm
from qmoe_torch.gates import QuantumGate
from qmoe_torch.routing import TopKRouter, top_k_routing


def _python_path(gate: QuantumGate) -> QuantumGate:
    """A copy of ``gate`` (same parameters) that always takes the Python path."""
    twin = copy.deepcopy(gate)
    twin._plan_forward = None
    return twin


class _PlanSpy:
    """Counts the calls that reach a gate's plan."""

    def __init__(self, gate: QuantumGate) -> None:
        self.calls = 0
        self._forward = gate._plan_forward
        gate._plan_forward = self

    def __call__(self, *args):
        self.calls += 1
        return self._forward(*args)


def _gate(readout: str, projection: bool, dtype: torch.dtype, **options) -> QuantumGate:
    n_experts = 7 if readout == "parity" else 6
    d_model = 12 if projection else 3
    return QuantumGate(
        d_model, n_experts, 3, readout=readout, projection=projection, dtype=dtype, **options
    )


@pytest.mark.parametrize("readout", ["expval", "probs", "parity"])
@pytest.mark.parametrize("projection", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("diff_method", ["adjoint", "parameter_shift"])
def test_plan_equals_python_path_bitwise(readout, projection, dtype, diff_method):
    torch.manual_seed(zlib.crc32(repr((readout, projection, dtype, diff_method)).encode()))
    gate = _gate(readout, projection, dtype, diff_method=diff_method, layers=2)
    twin = _python_path(gate)
    spy = _PlanSpy(gate)
    for shape in [(5, gate.d_model), (2, 3, gate.d_model), (gate.d_model,)]:
        hidden = torch.randn(*shape, dtype=dtype, requires_grad=True)
        fast, slow = gate(hidden), twin(hidden)
        assert fast.shape == slow.shape == (*shape[:-1], gate.n_experts)
        assert fast.dtype == slow.dtype == dtype
        assert torch.equal(fast, slow)
        cotangent = torch.randn_like(fast)
        fast_grads = torch.autograd.grad(fast, [hidden, *gate.parameters()], cotangent)
        slow_grads = torch.autograd.grad(slow, [hidden, *twin.parameters()], cotangent)
        for fast_grad, slow_grad in zip(fast_grads, slow_grads, strict=True):
            assert torch.equal(fast_grad, slow_grad)
    assert spy.calls == 3


def test_plan_matches_the_reference_oracle():
    # the fast path against the plain-PyTorch simulator in float64, on fresh inputs
    torch.manual_seed(11)
    gate = QuantumGate(10, 4, 3, dtype=torch.float64)
    hidden = torch.randn(6, 10, dtype=torch.float64)
    spy = _PlanSpy(gate)
    angles = gate.angles(hidden)
    circuit = gate.circuit
    values = qm.reference.expval(
        angles,
        gate.circuit_weights,
        circuit.program,
        3,
        circuit.z_masks,
        constants=circuit.constants,
    )
    expected = gate.adapter(values)
    torch.testing.assert_close(gate(hidden), expected, rtol=1e-12, atol=1e-12)
    assert spy.calls == 1


_TOLERANCE = {torch.float32: 1e-6, torch.float64: 1e-12}


@pytest.mark.parametrize("readout", ["expval", "probs", "parity"])
@pytest.mark.parametrize("projection", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("no_graph", [torch.no_grad, torch.inference_mode])
def test_plan_without_a_graph_equals_python_path(readout, projection, dtype, no_graph):
    # no autograd graph to build: the projection and adapter run as plain loops summed in
    # double (not ATen's BLAS), equal to the Python path to the dtype's tolerance; from
    # 17 tokens on, ATen's calls again (the same bits)
    torch.manual_seed(zlib.crc32(repr((readout, projection, dtype)).encode()))
    gate = _gate(readout, projection, dtype)
    if projection:  # the d_model of a model, so that the sums are long
        gate = QuantumGate(512, gate.n_experts, 3, readout=readout, dtype=dtype)
    twin = _python_path(gate)
    spy = _PlanSpy(gate)
    tolerance = _TOLERANCE[dtype]
    for shape in [(1, gate.d_model), (16, gate.d_model), (2, 8, gate.d_model)]:
        hidden = torch.randn(*shape, dtype=dtype)
        with no_graph():
            fast, slow = gate(hidden), twin(hidden)
        assert fast.shape == slow.shape and fast.dtype == slow.dtype == dtype
        if readout == "probs":  # log p: compared as p, since log amplifies a tiny p's rounding
            fast, slow = fast.exp(), slow.exp()
        torch.testing.assert_close(fast, slow, rtol=tolerance, atol=tolerance)
    hidden = torch.randn(17, gate.d_model, dtype=dtype)
    with no_graph():
        assert torch.equal(gate(hidden), twin(hidden))
    assert spy.calls == 4


def test_plan_under_inference_mode_and_other_hidden_dtypes():
    torch.manual_seed(3)
    gate = QuantumGate(8, 4, 2)
    twin = _python_path(gate)
    hidden = torch.randn(4, 8, dtype=torch.float64)  # cast in, cast back as the Python path
    with torch.inference_mode():
        torch.testing.assert_close(gate(hidden), twin(hidden), rtol=1e-6, atol=1e-6)
        assert gate(hidden).dtype == torch.float64
    bf16 = torch.randn(4, 8).to(torch.bfloat16)
    assert torch.equal(gate(bf16), twin(bf16))
    # a gate whose parameters do not require grad builds no graph either
    gate.requires_grad_(False)
    hidden = torch.randn(4, 8)
    torch.testing.assert_close(gate(hidden), twin(hidden), rtol=1e-6, atol=1e-6)


def test_plan_follows_settings_changed_after_construction():
    torch.manual_seed(5)
    gate = QuantumGate(8, 4, 2)
    hidden = torch.randn(3, 8)
    before = gate(hidden)
    gate.angle_range = math.pi / 3
    twin = _python_path(gate)
    after = gate(hidden)
    assert not torch.equal(before, after)
    assert torch.equal(after, twin(hidden))
    # new parameters (assigned or loaded) are read on the next call, never cached
    with torch.no_grad():
        gate.circuit_weights.copy_(torch.rand_like(gate.circuit_weights))
    gate.adapter = nn.Linear(2, 4)
    twin = _python_path(gate)
    assert torch.equal(gate(hidden), twin(hidden))


def test_bad_hidden_gets_the_python_message():
    gate = QuantumGate(8, 4, 2)
    for bad in [torch.randn(3, 7), torch.randn(())]:
        with pytest.raises(ValueError, match="hidden must have d_model=8") as fast:
            gate(bad)
        with pytest.raises(ValueError) as slow:
            _python_path(gate)(bad)
        assert str(fast.value) == str(slow.value)


def test_python_path_where_python_must_see_the_calls():
    torch.manual_seed(7)
    gate = QuantumGate(8, 4, 2)
    hidden = torch.randn(3, 8)
    spy = _PlanSpy(gate)

    # a forward hook on the projection fires
    seen = []
    handle = gate.projection.register_forward_hook(lambda module, args, out: seen.append(out))
    gate(hidden)
    handle.remove()
    assert len(seen) == 1 and spy.calls == 0

    # hooks on every module
    handle = nn.modules.module.register_module_forward_hook(
        lambda module, args, out: seen.append(module)
    )
    gate(hidden)
    handle.remove()
    assert any(module is gate.adapter for module in seen) and spy.calls == 0

    # a replaced adapter (here a subclass of Linear) is called as a module
    class ScaledLinear(nn.Linear):
        def forward(self, x):
            return 2 * super().forward(x)

    adapter = gate.adapter
    gate.adapter = ScaledLinear(2, 4)
    gate.adapter.load_state_dict(adapter.state_dict())
    doubled = gate(hidden)
    gate.adapter = adapter
    assert spy.calls == 0
    torch.testing.assert_close(doubled, 2 * gate(hidden))
    assert spy.calls == 1

    # autocast: the logits come back in the autocast dtype, as from a Linear
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert gate(hidden).dtype == torch.bfloat16
    assert spy.calls == 1

    # functorch transforms
    torch.func.vmap(gate)(hidden.unsqueeze(1))
    assert spy.calls == 1


def test_noise_has_no_plan():
    gate = QuantumGate(4, 2, 2, noise=qm.NoiseModel(channels=(qm.Channel("depolarizing", 0.01),)))
    assert gate._plan_forward is None
    assert gate(torch.randn(3, 4)).shape == (3, 2)


def test_copies_and_pickles_rebuild_the_plan():
    torch.manual_seed(9)
    gate = QuantumGate(8, 4, 2)
    hidden = torch.randn(3, 8)
    for twin in [copy.deepcopy(gate), pickle.loads(pickle.dumps(gate))]:
        assert twin._plan_forward is not None
        spy = _PlanSpy(twin)
        assert torch.equal(twin(hidden), gate(hidden))
        assert spy.calls == 1


def test_plan_refuses_a_bad_readout():
    with pytest.raises(ValueError, match="readout='bogus'"):
        torch.classes.qmoe.QuantumGatePlan(4, 2, 2, [], [], [], "bogus")


# ---- top_k_routing -------------------------------------------------------------------


def _routing_in_python(logits, k, softmax_before, renormalize):
    wide = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
    probs = torch.softmax(wide, dim=-1)
    if softmax_before:
        weights, indices = torch.topk(probs, k, dim=-1)
        if renormalize:
            weights = weights / weights.sum(dim=-1, keepdim=True)
    else:
        top_logits, indices = torch.topk(wide, k, dim=-1)
        weights = torch.softmax(top_logits, dim=-1)
    return probs, weights, indices


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize(
    ("softmax_before", "renormalize"), [(True, True), (True, False), (False, True)]
)
@pytest.mark.parametrize("k", [1, 3])
def test_top_k_routing_equals_the_aten_calls(dtype, softmax_before, renormalize, k):
    torch.manual_seed(k)
    logits = torch.randn(9, 5, dtype=dtype, requires_grad=True)
    got = torch.ops.qmoe.top_k_routing(logits, k, softmax_before, renormalize)
    want = _routing_in_python(logits, k, softmax_before, renormalize)
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype and torch.equal(a, b)
    assert got[0].dtype == (torch.float32 if dtype == torch.bfloat16 else dtype)
    cotangents = [torch.randn_like(got[0]), torch.randn_like(got[1])]
    (g_got,) = torch.autograd.grad(got[:2], logits, cotangents)
    (g_want,) = torch.autograd.grad(want[:2], logits, cotangents)
    assert torch.equal(g_got, g_want)


def test_top_k_routing_opcheck():
    logits = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    torch.library.opcheck(torch.ops.qmoe.top_k_routing.default, (logits, 2, True, True))
    torch.library.opcheck(torch.ops.qmoe.top_k_routing.default, (logits, 1, False, True))


def test_top_k_routing_bad_input():
    with pytest.raises(ValueError, match="k=5 must be between 1 and n_experts=4"):
        top_k_routing(torch.randn(3, 4), 5)
    with pytest.raises(ValueError, match=r"logits must be \[tokens, n_experts\], got 3"):
        top_k_routing(torch.randn(2, 3, 4), 1)
    with pytest.raises(ValueError, match="softmax='middle'"):
        top_k_routing(torch.randn(3, 4), 1, softmax="middle")


def test_router_routes_through_the_operator_as_before():
    torch.manual_seed(13)
    gate = qm.LinearGate(8, 6)
    hidden = torch.randn(7, 8)
    for softmax, renormalize in [("before", True), ("before", False), ("after", True)]:
        router = TopKRouter(gate, 2, softmax=softmax, renormalize=renormalize)
        out = router(hidden)
        want = _routing_in_python(gate(hidden), 2, softmax == "before", renormalize)
        assert torch.equal(out.probs, want[0])
        assert torch.equal(out.weights, want[1])
        assert torch.equal(out.indices, want[2])
