"""The CUDA kernels of the operators against the CPU operator and the float64 reference.

Runs only where torch sees a GPU (``make gpu-check`` on the lent machine); elsewhere the
kernels' bodies are tested through the host emulation of their launch
(tests/cuda/statevector_kernels_emulated_test.cpp, in ``make test``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from random_circuits import random_angles, random_circuit, random_state

from qmoe_torch import ops, reference
from qmoe_torch.circuits import Circuit

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}
MAX_CUDA_QUBITS = 10  # cuda/kernels/statevector_kernels.h: kMaxThreadPerSampleQubits


def assert_close(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype) -> None:
    actual, expected = actual.detach().cpu(), expected.detach().cpu()
    assert actual.shape == expected.shape
    if not actual.numel():
        return
    scale = max(1.0, float(expected.abs().max()))
    error = float((actual.to(expected.dtype) - expected).abs().max())
    assert error <= TOLERANCE[dtype] * scale, f"max error {error:.3e} (scale {scale:.2f})"


def make_case(seed, n_qubits, batch, dtype, state):
    rng = np.random.default_rng(seed)
    circuit = random_circuit(n_qubits, 6 * n_qubits + 16, 3, 5, rng)
    inputs = random_angles(rng, (batch, 3), dtype)
    weights = random_angles(rng, (5,), dtype)
    complex_dtype = torch.complex64 if dtype == torch.float32 else torch.complex128
    initial = None
    if state == "complex":
        initial = random_state(rng, batch, n_qubits, complex_dtype)
    elif state == "real":
        initial = random_state(rng, batch, n_qubits, dtype)
    masks = [int(m) for m in rng.integers(0, 2**n_qubits, size=4)] + [1 << (n_qubits - 1)]
    return circuit, inputs, weights, initial, masks


def run(readout, circuit, masks, x, w, s=None, diff_method="adjoint"):
    if readout == "probs":
        return ops.probs(
            x,
            w,
            circuit.program,
            circuit.n_qubits,
            initial_state=s,
            constants=circuit.constants,
            diff_method=diff_method,
        )
    return ops.expval(
        x,
        w,
        circuit.program,
        circuit.n_qubits,
        masks,
        initial_state=s,
        constants=circuit.constants,
        diff_method=diff_method,
    )


def run_reference(readout, circuit, masks, x, w, s=None):
    if readout == "probs":
        return reference.probs(x, w, circuit.program, circuit.n_qubits, s, circuit.constants)
    return reference.expval(x, w, circuit.program, circuit.n_qubits, masks, s, circuit.constants)


def gradients(fn, tensors, grad_out):
    leaves = [t.detach().clone().requires_grad_() for t in tensors]
    out = fn(*leaves)
    return out.detach(), torch.autograd.grad(out, leaves, grad_out)


def cuda(t):
    return None if t is None else t.cuda()


def widen(t):
    if t is None:
        return None
    return t.to(torch.complex128 if t.is_complex() else torch.float64)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("n_qubits", range(1, MAX_CUDA_QUBITS + 1))
@pytest.mark.parametrize("readout", ["expval", "probs"])
def test_cuda_matches_reference_and_cpu(n_qubits, dtype, readout):
    for seed, state in enumerate([None, "complex", "real"]):
        circuit, x, w, s, masks = make_case(100 * n_qubits + seed, n_qubits, 37, dtype, state)
        tensors = [x, w] + ([] if s is None else [s])
        width = 2**n_qubits if readout == "probs" else len(masks)
        grad_out = torch.randn(
            37, width, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)
        )

        def fn(x, w, s=None, circuit=circuit, masks=masks):
            return run(readout, circuit, masks, x, w, s)

        def ref(x, w, s=None, circuit=circuit, masks=masks):
            return run_reference(readout, circuit, masks, x, w, s)

        out_ref, grads_ref = gradients(ref, [widen(t) for t in tensors], grad_out)
        out_gpu, grads_gpu = gradients(fn, [cuda(t) for t in tensors], grad_out.to(dtype).cuda())
        out_cpu, grads_cpu = gradients(fn, tensors, grad_out.to(dtype))
        assert out_gpu.device.type == "cuda" and out_gpu.dtype == dtype
        assert_close(out_gpu, out_ref, dtype)
        assert_close(out_gpu, out_cpu, dtype)
        for g_gpu, g_ref, g_cpu in zip(grads_gpu, grads_ref, grads_cpu, strict=True):
            assert_close(g_gpu, g_ref, dtype)
            assert_close(g_gpu, g_cpu, dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("n_qubits", [1, 3, 4, 6, 8, MAX_CUDA_QUBITS])
@pytest.mark.parametrize("readout", ["expval", "probs"])
def test_cuda_parameter_shift_matches_adjoint_and_cpu(n_qubits, dtype, readout):
    for seed, state in enumerate([None, "complex", "real"]):
        circuit, x, w, s, masks = make_case(300 * n_qubits + seed, n_qubits, 37, dtype, state)
        tensors = [x, w] + ([] if s is None else [s])
        width = 2**n_qubits if readout == "probs" else len(masks)
        grad_out = torch.randn(
            37, width, dtype=dtype, generator=torch.Generator().manual_seed(seed)
        )

        def fn(x, w, s=None, method="adjoint", circuit=circuit, masks=masks):
            return run(readout, circuit, masks, x, w, s, diff_method=method)

        def shift(*tensors):
            return fn(*tensors, method="parameter_shift")

        out_shift, grads_shift = gradients(shift, [cuda(t) for t in tensors], grad_out.cuda())
        out_adjoint, grads_adjoint = gradients(fn, [cuda(t) for t in tensors], grad_out.cuda())
        _, grads_cpu = gradients(shift, tensors, grad_out)
        assert torch.equal(out_shift, out_adjoint)
        for g_shift, g_adjoint, g_cpu in zip(grads_shift, grads_adjoint, grads_cpu, strict=True):
            assert g_shift.device.type == "cuda"
            assert_close(g_shift, g_adjoint, dtype)
            assert_close(g_shift, g_cpu, dtype)


def test_parameter_shift_weight_gradients_are_bitwise_equal_across_runs():
    circuit, x, w, _, masks = make_case(23, 5, 1031, torch.float32, None)
    grad_out = torch.randn(1031, len(masks), device="cuda")

    def fn(x, w):
        return run("expval", circuit, masks, x, w, diff_method="parameter_shift")

    first = gradients(fn, [x.cuda(), w.cuda()], grad_out)
    second = gradients(fn, [x.cuda(), w.cuda()], grad_out)
    for a, b in zip(first[1], second[1], strict=True):
        assert torch.equal(a, b)


def test_gradcheck_float64():
    circuit, x, w, s, masks = make_case(7, 3, 5, torch.float64, "complex")
    leaves = [t.cuda().requires_grad_() for t in (x, w, s)]
    assert torch.autograd.gradcheck(
        lambda x, w, s: run("expval", circuit, masks, x, w, s), leaves, eps=1e-6, atol=1e-6
    )


def test_two_runs_are_bitwise_equal():
    circuit, x, w, _, masks = make_case(11, 6, 4099, torch.float32, None)
    grad_out = torch.randn(4099, len(masks), device="cuda")
    first = gradients(
        lambda x, w: run("expval", circuit, masks, x, w), [x.cuda(), w.cuda()], grad_out
    )
    second = gradients(
        lambda x, w: run("expval", circuit, masks, x, w), [x.cuda(), w.cuda()], grad_out
    )
    assert torch.equal(first[0], second[0])
    for a, b in zip(first[1], second[1], strict=True):
        assert torch.equal(a, b)


def test_cuda_graph_capture_and_replay():
    circuit, x, w, _, masks = make_case(13, 4, 1024, torch.float32, None)
    x, w = x.cuda(), w.cuda().requires_grad_()
    grad_out = torch.randn(1024, len(masks), device="cuda")

    def step():
        out = run("expval", circuit, masks, x, w)
        (grad_w,) = torch.autograd.grad(out, [w], grad_out)
        return out, grad_w

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):  # warm up outside the capture, as torch.cuda.graph asks
            eager = step()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = step()
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(captured[0], eager[0])
    assert torch.equal(captured[1], eager[1])


def test_what_cuda_does_not_run_yet_is_refused_by_name():
    circuit, x, w, _, masks = make_case(17, 2, 3, torch.float32, None)
    x, w = x.cuda().requires_grad_(), w.cuda()
    # Both diff methods run on CUDA now: parameter shift is no longer refused.
    out = ops.expval(
        x, w, circuit.program, 2, masks, constants=circuit.constants, diff_method="parameter_shift"
    )
    out.sum().backward()
    assert x.grad is not None and x.grad.device.type == "cuda"
    noisy = Circuit(1).rx(0, input=0).depolarizing(0, constant=0.1)
    with pytest.raises(NotImplementedError, match="noise channels"):
        ops.expval(x, w, noisy.program, 1, [1], constants=noisy.constants)
    big = Circuit(MAX_CUDA_QUBITS + 1)
    with pytest.raises(NotImplementedError, match="n_qubits"):
        ops.expval(x, w, big.program, MAX_CUDA_QUBITS + 1, [1])


def test_tensors_on_different_devices_are_refused():
    circuit, x, w, _, masks = make_case(19, 2, 3, torch.float32, None)
    with pytest.raises(ValueError, match="weights must be on the device of inputs"):
        ops.expval(x.cuda(), w, circuit.program, 2, masks, constants=circuit.constants)
