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
from test_ops_density_matrix import make_case as make_noisy_case
from test_ops_density_matrix import run_op as run_noisy
from test_ops_density_matrix import run_reference as run_noisy_reference

from qmoe_torch import ops, reference
from qmoe_torch.circuits import Circuit

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}
MAX_CUDA_QUBITS = 24  # cuda/kernels/block_layout.h: kMaxBlockPerSampleQubits, the CPU limit
# A thread per sample up to 6 qubits, a block per sample above: its states in shared
# memory up to 13 qubits, in a global workspace from 14 (statevector_block_kernels.h).
TESTED_QUBITS = range(1, 17)
MAX_CUDA_DENSITY_QUBITS = 6  # cuda/kernels/density_kernels.h: kMaxDensityQubits


def batch_for(n_qubits: int) -> int:
    """Odd batches; fewer samples where the float64 reference gets slow."""
    return 37 if n_qubits <= 12 else 5


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
@pytest.mark.parametrize("n_qubits", TESTED_QUBITS)
@pytest.mark.parametrize("readout", ["expval", "probs"])
def test_cuda_matches_reference_and_cpu(n_qubits, dtype, readout):
    batch = batch_for(n_qubits)
    for seed, state in enumerate([None, "complex", "real"]):
        circuit, x, w, s, masks = make_case(100 * n_qubits + seed, n_qubits, batch, dtype, state)
        tensors = [x, w] + ([] if s is None else [s])
        width = 2**n_qubits if readout == "probs" else len(masks)
        grad_out = torch.randn(
            batch, width, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)
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
@pytest.mark.parametrize("n_qubits", [1, 3, 4, 6, 7, 8, 10, 11, 13, 14])
@pytest.mark.parametrize("readout", ["expval", "probs"])
def test_cuda_parameter_shift_matches_adjoint_and_cpu(n_qubits, dtype, readout):
    batch = batch_for(n_qubits)
    for seed, state in enumerate([None, "complex", "real"]):
        circuit, x, w, s, masks = make_case(300 * n_qubits + seed, n_qubits, batch, dtype, state)
        tensors = [x, w] + ([] if s is None else [s])
        width = 2**n_qubits if readout == "probs" else len(masks)
        grad_out = torch.randn(
            batch, width, dtype=dtype, generator=torch.Generator().manual_seed(seed)
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
    # Noise channels run on CUDA up to MAX_CUDA_DENSITY_QUBITS qubits.
    n_noisy = MAX_CUDA_DENSITY_QUBITS + 1
    noisy = Circuit(n_noisy).rx(0, input=0).depolarizing(0, constant=0.1)
    with pytest.raises(NotImplementedError, match="noise channels"):
        ops.expval(x, w, noisy.program, n_noisy, [1], constants=noisy.constants)
    big = Circuit(MAX_CUDA_QUBITS + 1)
    with pytest.raises(ValueError, match="n_qubits"):
        ops.expval(x, w, big.program, MAX_CUDA_QUBITS + 1, [1])


@pytest.mark.parametrize("n_qubits", [14, 15])
def test_block_kernels_weight_gradients_are_bitwise_equal_across_runs(n_qubits):
    # More samples than the blocks that fit on the device at once: the blocks stride.
    circuit, x, w, _, masks = make_case(29, n_qubits, 3001, torch.float32, None)
    grad_out = torch.randn(3001, len(masks), device="cuda")
    for method in ("adjoint", "parameter_shift"):

        def fn(x, w, method=method):
            return run("expval", circuit, masks, x, w, diff_method=method)

        first = gradients(fn, [x.cuda(), w.cuda()], grad_out)
        second = gradients(fn, [x.cuda(), w.cuda()], grad_out)
        for a, b in zip(first[1], second[1], strict=True):
            assert torch.equal(a, b)


def test_a_state_larger_than_the_free_memory_is_refused_by_name():
    n_qubits = MAX_CUDA_QUBITS  # float64: 256 MiB of workspace per state
    circuit = Circuit(n_qubits).rx(0, input=0).cnot(0, n_qubits - 1)
    x = torch.zeros(1, 1, dtype=torch.float64, device="cuda")
    w = torch.zeros(0, dtype=torch.float64, device="cuda")
    torch.cuda.empty_cache()
    free, _ = torch.cuda.mem_get_info()
    hog = torch.empty(free - (128 << 20), dtype=torch.uint8, device="cuda")
    try:
        with pytest.raises(torch.OutOfMemoryError, match=f"n_qubits={n_qubits}.*bytes free"):
            ops.expval(x, w, circuit.program, n_qubits, [1], constants=circuit.constants)
    finally:
        del hog
        torch.cuda.empty_cache()


def test_tensors_on_different_devices_are_refused():
    circuit, x, w, _, masks = make_case(19, 2, 3, torch.float32, None)
    with pytest.raises(ValueError, match="weights must be on the device of inputs"):
        ops.expval(x.cuda(), w, circuit.program, 2, masks, constants=circuit.constants)


# ---------------------------------------------------------------- density matrix (noise)


def noisy_grad_out(readout, masks, n_qubits, batch, seed, dtype=torch.float64):
    width = 2**n_qubits if readout == "probs" else len(masks)
    return torch.randn(batch, width, dtype=dtype, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("n_qubits", range(1, MAX_CUDA_DENSITY_QUBITS + 1))
@pytest.mark.parametrize("readout", ["expval", "probs"])
def test_cuda_density_matrix_matches_reference_and_cpu(n_qubits, dtype, readout):
    for seed, state in enumerate([None, "complex", "real"]):
        circuit, x, w, s, masks = make_noisy_case(500 * n_qubits + seed, n_qubits, 37, dtype, state)
        tensors = [x, w] + ([] if s is None else [s])
        grad_out = noisy_grad_out(readout, masks, n_qubits, 37, seed)

        def fn(x, w, s=None, circuit=circuit, masks=masks):
            return run_noisy(readout, "adjoint", circuit, masks, x, w, s)

        def ref(x, w, s=None, circuit=circuit, masks=masks):
            return run_noisy_reference(readout, circuit, masks, x, w, s)

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
@pytest.mark.parametrize("n_qubits", [1, 2, 4, MAX_CUDA_DENSITY_QUBITS])
def test_cuda_density_parameter_shift_matches_adjoint_and_cpu(n_qubits, dtype):
    # Channel probabilities constants: the shift rule differentiates angles only.
    circuit, x, w, s, masks = make_noisy_case(
        700 + n_qubits, n_qubits, 37, dtype, "complex", sources=("constant",)
    )
    grad_out = noisy_grad_out("expval", masks, n_qubits, 37, n_qubits, dtype)

    def fn(x, w, s, method="adjoint"):
        return run_noisy("expval", method, circuit, masks, x, w, s)

    def shift(x, w, s):
        return fn(x, w, s, method="parameter_shift")

    tensors = [x, w, s]
    out_shift, grads_shift = gradients(shift, [cuda(t) for t in tensors], grad_out.cuda())
    out_adjoint, grads_adjoint = gradients(fn, [cuda(t) for t in tensors], grad_out.cuda())
    _, grads_cpu = gradients(shift, tensors, grad_out)
    assert torch.equal(out_shift, out_adjoint)
    for g_shift, g_adjoint, g_cpu in zip(grads_shift, grads_adjoint, grads_cpu, strict=True):
        assert g_shift.device.type == "cuda"
        assert_close(g_shift, g_adjoint, dtype)
        assert_close(g_shift, g_cpu, dtype)


def test_cuda_density_parameter_shift_refuses_channel_probability_gradients():
    circuit, x, w, _, masks = make_noisy_case(31, 2, 5, torch.float64, sources=("weight",))
    w = w.cuda().requires_grad_()
    out = run_noisy("expval", "parameter_shift", circuit, masks, x.cuda(), w)
    with pytest.raises(ValueError, match="parameter_shift cannot differentiate a channel"):
        out.sum().backward()


def test_cuda_density_weight_gradients_are_bitwise_equal_across_runs():
    circuit, x, w, _, masks = make_noisy_case(37, 2, 1031, torch.float32)
    grad_out = torch.randn(1031, len(masks), device="cuda")

    def fn(x, w):
        return run_noisy("expval", "adjoint", circuit, masks, x, w)

    first = gradients(fn, [x.cuda(), w.cuda()], grad_out)
    second = gradients(fn, [x.cuda(), w.cuda()], grad_out)
    assert torch.equal(first[0], second[0])
    for a, b in zip(first[1], second[1], strict=True):
        assert torch.equal(a, b)


def test_cuda_density_gradcheck_float64():
    circuit, x, w, s, masks = make_noisy_case(41, 2, 4, torch.float64, "complex")
    leaves = [t.cuda().requires_grad_() for t in (x, w, s)]
    assert torch.autograd.gradcheck(
        lambda x, w, s: run_noisy("expval", "adjoint", circuit, masks, x, w, s),
        leaves,
        eps=1e-6,
        atol=1e-6,
    )


def test_cuda_density_graph_capture_and_replay():
    circuit, x, w, _, masks = make_noisy_case(43, 2, 1024, torch.float32)
    x, w = x.cuda(), w.cuda().requires_grad_()
    grad_out = torch.randn(1024, len(masks), device="cuda")

    def step():
        out = run_noisy("expval", "adjoint", circuit, masks, x, w)
        (grad_w,) = torch.autograd.grad(out, [w], grad_out)
        return out, grad_w

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            eager = step()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = step()
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(captured[0], eager[0])
    assert torch.equal(captured[1], eager[1])


def test_cuda_density_invalid_probabilities_give_nan_rows():
    # The CPU refuses them by name; on CUDA they live on the device (no host sync), so
    # the sample's row is NaN, never a wrong number; the other rows are unchanged.
    circuit = Circuit(1).rx(0, input=0).amplitude_damping(0, input=1)
    x = torch.tensor([[0.3, 0.2], [0.4, 1.5]], dtype=torch.float64)
    w = torch.zeros(0, dtype=torch.float64)
    out = ops.expval(x.cuda(), w.cuda(), circuit.program, 1, [1]).cpu()
    assert torch.isnan(out[1]).all()
    expected = ops.expval(x[:1], w, circuit.program, 1, [1])
    assert_close(out[:1], expected, torch.float64)
    with pytest.raises(ValueError, match="probability"):
        ops.expval(x, w, circuit.program, 1, [1])
    constant = Circuit(1).rx(0, input=0).bit_flip(0, constant=1.5)
    with pytest.raises(ValueError, match="probability"):
        ops.expval(x.cuda(), w.cuda(), constant.program, 1, [1], constants=constant.constants)
