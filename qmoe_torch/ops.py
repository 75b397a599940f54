"""Typed entry points to the fused circuit operators ``torch.ops.qmoe.*``.

Every function here is one operator call: the whole circuit for every sample of
the batch, with gradients (adjoint or parameter shift) registered in C++. Under a
``torch.func`` transform (vmap, grad, jacrev, ...), which refuses C++ autograd, the call
goes through a Python autograd function over the same operators (`_torch_func`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

from . import _library, _torch_func
from .circuits import Circuit

DiffMethod = Literal["adjoint", "parameter_shift"]

_library.load()


def expval(
    inputs: torch.Tensor,
    weights: torch.Tensor,
    program: Sequence[int],
    n_qubits: int,
    z_masks: Sequence[int],
    *,
    initial_state: torch.Tensor | None = None,
    constants: Sequence[float] = (),
    diff_method: DiffMethod = "adjoint",
) -> torch.Tensor:
    """Expectation values of Pauli-Z strings for every sample.

    Args:
        inputs: ``[B, F]`` float32/float64, the per-sample angles the program reads.
        weights: ``[W]`` shared trainable angles, the dtype of ``inputs``.
        program: flat program, 5 ints per operation (docs/program.md).
        n_qubits: number of wires; wire 0 is the most significant bit.
        z_masks: one bit mask over wires per output (bit ``w`` = Z on wire ``w``).
        initial_state: optional ``[B, 2**n]`` state, real or complex, used as given.
        constants: fixed angles referenced by the program.
        diff_method: ``"adjoint"`` (one reverse sweep) or ``"parameter_shift"``.

    Returns:
        ``[B, len(z_masks)]`` in the dtype of ``inputs``.
    """
    return _expval(
        inputs,
        weights,
        initial_state,
        list(program),
        [float(c) for c in constants],
        int(n_qubits),
        list(z_masks),
        diff_method,
    )


def probs(
    inputs: torch.Tensor,
    weights: torch.Tensor,
    program: Sequence[int],
    n_qubits: int,
    *,
    initial_state: torch.Tensor | None = None,
    constants: Sequence[float] = (),
    diff_method: DiffMethod = "adjoint",
) -> torch.Tensor:
    """Basis-state probabilities ``[B, 2**n]`` for every sample (arguments as in `expval`)."""
    return _probs(
        inputs,
        weights,
        initial_state,
        list(program),
        [float(c) for c in constants],
        int(n_qubits),
        diff_method,
    )


# The calls with the lists already in the operators' types, for modules that build them
# once (QuantumGate): a decoding step spends microseconds, and converting them is one.


def _expval(
    inputs: torch.Tensor,
    weights: torch.Tensor,
    initial_state: torch.Tensor | None,
    program: list[int],
    constants: list[float],
    n_qubits: int,
    z_masks: list[int],
    diff_method: str,
) -> torch.Tensor:
    if torch._C._are_functorch_transforms_active():
        return _torch_func.circuit(
            inputs,
            weights,
            initial_state,
            program,
            constants,
            n_qubits,
            z_masks,
            False,
            diff_method,
        )
    return torch.ops.qmoe.expval.default(
        inputs, weights, initial_state, program, constants, n_qubits, z_masks, diff_method
    )


def _probs(
    inputs: torch.Tensor,
    weights: torch.Tensor,
    initial_state: torch.Tensor | None,
    program: list[int],
    constants: list[float],
    n_qubits: int,
    diff_method: str,
) -> torch.Tensor:
    if torch._C._are_functorch_transforms_active():
        return _torch_func.circuit(
            inputs, weights, initial_state, program, constants, n_qubits, [], True, diff_method
        )
    return torch.ops.qmoe.probs.default(
        inputs, weights, initial_state, program, constants, n_qubits, diff_method
    )


def run(
    circuit: Circuit,
    inputs: torch.Tensor,
    weights: torch.Tensor,
    *,
    initial_state: torch.Tensor | None = None,
    diff_method: DiffMethod = "adjoint",
) -> torch.Tensor:
    """Runs a `Circuit` with its own readout (``measure_expval`` or ``measure_probs``)."""
    if circuit.readout is None:
        raise ValueError("run: the circuit has no readout (call measure_expval or measure_probs)")
    if circuit.readout.kind == "probs":
        return probs(
            inputs,
            weights,
            circuit.program,
            circuit.n_qubits,
            initial_state=initial_state,
            constants=circuit.constants,
            diff_method=diff_method,
        )
    return expval(
        inputs,
        weights,
        circuit.program,
        circuit.n_qubits,
        circuit.z_masks,
        initial_state=initial_state,
        constants=circuit.constants,
        diff_method=diff_method,
    )


def active_isa() -> str:
    """The instruction set the CPU kernels use now: ``baseline``, ``avx2`` or ``avx512``."""
    return torch.ops.qmoe.active_isa()


def supported_isas() -> list[str]:
    """The instruction sets this CPU can run, narrowest first."""
    return list(torch.ops.qmoe.supported_isas())


def set_isa(name: str) -> None:
    """Forces an instruction set for later calls (``""``: the widest this CPU runs).

    The environment variable ``QMOE_ISA`` sets the starting choice the same way.
    """
    torch.ops.qmoe.set_isa(name)
