"""The circuit operators under ``torch.func`` (vmap, grad, jacrev, vjp, functional_call).

The operators' autograd is registered in C++ (a ``torch::autograd::Function`` at the
Autograd key), so that LibTorch programs train; functorch refuses such a function. So
while a functorch transform is active, `qmoe_torch.ops` routes a call through
`CircuitFunction` instead: a Python ``torch.autograd.Function`` over the same operator
pair, ``qmoe::circuit_forward`` and ``qmoe::circuit_backward`` (so the gradients are the
same numbers), whose vmap rule functorch generates from the operators' own vmap rules,
registered here. Outside transforms nothing changes: the C++ autograd runs, in Python as
in C++.

The vmap rules fold a vmapped dimension into the operators' sample dimension (one call
for all of it) when the circuit weights are shared; when the weights themselves are
vmapped, or when a weight gradient is asked for under vmap (each vmapped element needs
its own sum over its samples, and the operator returns one sum over all of them), they
run the operator once per vmapped element.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from . import _library
from .opcodes import OP_WIDTH, is_channel

_library.load()

# The budget of the C++ autograd (csrc/ops/autograd/circuit_autograd.cpp) for the final
# states a forward keeps for its adjoint backward.
_KEPT_STATE_BUDGET_BYTES = 1 << 30


def _keeps_final_state(
    tensors: Sequence[torch.Tensor | None], program: Sequence[int], n_qubits: int, method: str
) -> bool:
    """Whether the forward keeps each sample's final state for the adjoint backward, by
    the rule of the C++ autograd: from 4 qubits, when a gradient will be taken, without
    noise channels (the density-matrix engine keeps none), within the memory budget."""
    if n_qubits <= 3 or method != "adjoint" or not torch.is_grad_enabled():
        return False
    if not any(t is not None and t.requires_grad for t in tensors):
        return False
    if any(is_channel(program[op]) for op in range(0, len(program), OP_WIDTH)):
        return False
    inputs = tensors[0]
    return inputs.shape[0] * (2 << n_qubits) * inputs.element_size() <= _KEPT_STATE_BUDGET_BYTES


class CircuitFunction(torch.autograd.Function):
    """One circuit call, differentiable under functorch transforms.

    ``apply(inputs, weights, initial_state, program, constants, n_qubits, z_masks, probs,
    diff_method, keep_state)`` returns ``(readout, final_state)`` as
    ``qmoe::circuit_forward`` does (``final_state`` empty unless kept, never
    differentiable); backward is one ``qmoe::circuit_backward``."""

    generate_vmap_rule = True

    @staticmethod
    def forward(
        inputs: torch.Tensor,
        weights: torch.Tensor,
        initial_state: torch.Tensor | None,
        program: list[int],
        constants: list[float],
        n_qubits: int,
        z_masks: list[int],
        probs: bool,
        diff_method: str,
        keep_state: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.ops.qmoe.circuit_forward(
            inputs,
            weights,
            initial_state,
            program,
            constants,
            n_qubits,
            z_masks,
            probs,
            diff_method,
            keep_state,
        )

    @staticmethod
    def setup_context(ctx, inputs: tuple, output: tuple[torch.Tensor, torch.Tensor]) -> None:
        tensors_in, weights, initial_state, *call, _keep_state = inputs
        _, final_state = output
        ctx.mark_non_differentiable(final_state)
        ctx.save_for_backward(tensors_in, weights, initial_state, final_state)
        ctx.call = call  # program, constants, n_qubits, z_masks, probs, diff_method

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor, _grad_final_state: torch.Tensor | None):
        inputs, weights, initial_state, final_state = ctx.saved_tensors
        needs = ctx.needs_input_grad
        output_mask = [needs[0], needs[1], initial_state is not None and needs[2]]
        grads = CircuitVJP.apply(
            grad_out, inputs, weights, initial_state, *ctx.call, output_mask, final_state
        )
        grad_inputs, grad_weights, grad_state = (
            grad if wanted else None for grad, wanted in zip(grads, output_mask, strict=True)
        )
        return grad_inputs, grad_weights, grad_state, None, None, None, None, None, None, None


class CircuitVJP(torch.autograd.Function):
    """``qmoe::circuit_backward`` as a function of its own, so that a transform which
    differentiates a backward (a second derivative: hessian, jacrev of jacrev, grad of
    grad) meets an error: the operator has no derivative, and functorch would otherwise
    treat it as a constant and return wrong numbers."""

    generate_vmap_rule = True

    @staticmethod
    def forward(*args) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return torch.ops.qmoe.circuit_backward(*args)

    @staticmethod
    def setup_context(ctx, inputs: tuple, output: tuple) -> None:
        pass

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError(
            "qmoe: second derivatives of the circuit operators are not implemented "
            "(qmoe::circuit_backward has no derivative): hessian, jacrev(jacrev(...)) and "
            "grad(grad(...)) are not supported"
        )


# Dynamo traces an autograd.Function met under torch.func.grad as its forward only and
# drops its backward (wrong gradients, no error): so torch.compile runs this call outside
# its graph, where functorch applies the function as it does eagerly.
@torch.compiler.disable
def circuit(
    inputs: torch.Tensor,
    weights: torch.Tensor,
    initial_state: torch.Tensor | None,
    program: list[int],
    constants: list[float],
    n_qubits: int,
    z_masks: list[int],
    probs: bool,
    diff_method: str,
) -> torch.Tensor:
    """The readout of one circuit call through `CircuitFunction` (for functorch)."""
    keep = _keeps_final_state((inputs, weights, initial_state), program, n_qubits, diff_method)
    readout, _ = CircuitFunction.apply(
        inputs,
        weights,
        initial_state,
        program,
        constants,
        n_qubits,
        z_masks,
        probs,
        diff_method,
        keep,
    )
    return readout


# ---- vmap rules of the operators ----
# Each operator's tensors are per sample (leading dimension: the circuit's batch) except
# the weights, shared by every sample.


def _tensor_dims(args: Sequence[object], in_dims: Sequence[object]) -> list[int | None]:
    """The vmapped dimension of each tensor argument, None for every other argument (whose
    in_dims entry mirrors its structure: a list of None for a list)."""
    return [
        dim if isinstance(arg, torch.Tensor) else None
        for arg, dim in zip(args, in_dims, strict=True)
    ]


def _to_front(tensor: torch.Tensor | None, dim: int | None) -> torch.Tensor | None:
    return tensor if tensor is None or dim is None else tensor.movedim(dim, 0)


def _folded(tensor: torch.Tensor | None, dim: int | None, size: int) -> torch.Tensor | None:
    """A per-sample tensor with the vmapped dimension folded into its sample dimension:
    ``[size * batch, ...]`` (an unbatched one repeated ``size`` times); an empty one (an
    absent final state) as it is."""
    if tensor is None or tensor.numel() == 0 and dim is None:
        return tensor
    tensor = _to_front(tensor, dim) if dim is not None else tensor.expand(size, *tensor.shape)
    return tensor.reshape(size * tensor.shape[1], *tensor.shape[2:])


def _unfolded(tensor: torch.Tensor, size: int) -> tuple[torch.Tensor, int | None]:
    """The inverse of `_folded` for an output: ``[size, batch, ...]`` at vmapped dim 0; an
    empty output (a final state not kept, an unrequested gradient) unbatched."""
    if tensor.numel() == 0:
        return tensor, None
    return tensor.reshape(size, tensor.shape[0] // size, *tensor.shape[1:]), 0


def _per_element(
    op: Callable[..., object], size: int, args: Sequence[object], in_dims: Sequence[int | None]
) -> list[torch.Tensor]:
    """``op`` once per vmapped element; each output stacked along a new dimension 0."""
    results = []
    for index in range(size):
        element = [
            arg if dim is None else arg.select(dim, index)
            for arg, dim in zip(args, in_dims, strict=True)
        ]
        result = op(*element)
        results.append(result if isinstance(result, tuple | list) else (result,))
    return [torch.stack(outputs) for outputs in zip(*results, strict=True)]


def _stacked_dims(outputs: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[int | None]]:
    dims = [None if out.numel() == 0 else 0 for out in outputs]
    return [out[0] if dim is None else out for out, dim in zip(outputs, dims, strict=True)], dims


def _forward_vmap(op: Callable[..., object], n_outputs: int) -> Callable[..., object]:
    """The vmap rule of a forward operator ``(inputs, weights, initial_state, ...)``."""

    def rule(info, in_dims, inputs, weights, initial_state, *rest):
        size = info.batch_size
        args = (inputs, weights, initial_state, *rest)
        in_dims = _tensor_dims(args, in_dims)
        inputs_dim, weights_dim, state_dim = in_dims[:3]
        if weights_dim is not None:
            outputs, dims = _stacked_dims(_per_element(op, size, args, in_dims))
        else:
            result = op(
                _folded(inputs, inputs_dim, size),
                weights,
                _folded(initial_state, state_dim, size),
                *rest,
            )
            result = result if isinstance(result, tuple | list) else (result,)
            outputs, dims = map(list, zip(*(_unfolded(out, size) for out in result), strict=True))
        if n_outputs == 1:
            return outputs[0], dims[0]
        return tuple(outputs), tuple(dims)

    return rule


def _backward_vmap(info, in_dims, grad_out, inputs, weights, initial_state, *rest):
    """The vmap rule of ``qmoe::circuit_backward``."""
    op = torch.ops.qmoe.circuit_backward.default
    size = info.batch_size
    *call, output_mask, final_state = rest if len(rest) == 8 else (*rest, None)
    args = (grad_out, inputs, weights, initial_state, *call, output_mask, final_state)
    dims = _tensor_dims(args, list(in_dims) + [None] * (len(args) - len(in_dims)))
    if dims[2] is not None or output_mask[1]:
        outputs, out_dims = _stacked_dims(_per_element(op, size, args, dims))
        return tuple(outputs), tuple(out_dims)
    result = op(
        _folded(grad_out, dims[0], size),
        _folded(inputs, dims[1], size),
        weights,
        _folded(initial_state, dims[3], size),
        *call,
        output_mask,
        _folded(final_state, dims[-1], size),
    )
    grad_inputs, grad_weights, grad_state = result
    # the weight gradient is not asked for here: a zero per weight, shared
    (grad_inputs, inputs_dim), (grad_state, state_dim) = map(
        _unfolded, (grad_inputs, grad_state), (size, size)
    )
    return (grad_inputs, grad_weights, grad_state), (inputs_dim, None, state_dim)


torch.library.register_vmap("qmoe::expval", _forward_vmap(torch.ops.qmoe.expval.default, 1))
torch.library.register_vmap("qmoe::probs", _forward_vmap(torch.ops.qmoe.probs.default, 1))
torch.library.register_vmap(
    "qmoe::circuit_forward", _forward_vmap(torch.ops.qmoe.circuit_forward.default, 2)
)
torch.library.register_vmap("qmoe::circuit_backward", _backward_vmap)
