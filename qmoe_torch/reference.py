"""Plain-PyTorch statevector simulator: the correctness oracle for every kernel.

It is written to be obviously right, not fast. The state of a batch is a complex tensor
``[B, 2, ..., 2]`` whose axis ``1 + w`` is wire ``w`` (so wire 0 is the most significant bit
of the flattened basis index, as in PennyLane). Each gate is a ``[d, d]`` or per-sample
``[B, d, d]`` matrix (d = 2 or 4) multiplied into the axes of its wires; rotations are
``exp(-i t/2 P) = cos(t/2) I - i sin(t/2) P`` built from the angles with torch ops, so
autograd differentiates everything, including an ``initial_state``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch

from qmoe_torch.opcodes import Opcode, ParamSource, is_channel
from qmoe_torch.program import Op, check_z_masks, parse_program

_SQRT_HALF = 1 / math.sqrt(2)
_I2 = [[1, 0], [0, 1]]
_X = [[0, 1], [1, 0]]
_Y = [[0, -1j], [1j, 0]]
_Z = [[1, 0], [0, -1]]

_FIXED: dict[Opcode, list[list[complex]]] = {
    Opcode.H: [[_SQRT_HALF, _SQRT_HALF], [_SQRT_HALF, -_SQRT_HALF]],
    Opcode.X: _X,
    Opcode.Y: _Y,
    Opcode.Z: _Z,
    Opcode.S: [[1, 0], [0, 1j]],
    Opcode.T: [[1, 0], [0, complex(_SQRT_HALF, _SQRT_HALF)]],
    # Two-qubit matrices act on (wire0, wire1) with wire0 the more significant bit.
    Opcode.CNOT: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]],
    Opcode.CZ: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, -1]],
    Opcode.SWAP: [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]],
}

# Rotation R(t) = exp(-i t/2 P); every P squares to the identity.
_GENERATORS: dict[Opcode, tuple[list[list[complex]], ...]] = {
    Opcode.RX: (_X,),
    Opcode.RY: (_Y,),
    Opcode.RZ: (_Z,),
    Opcode.ISING_XX: (_X, _X),
    Opcode.ISING_YY: (_Y, _Y),
    Opcode.ISING_ZZ: (_Z, _Z),
}

_COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}


def _complex_matrix(entries: list[list[complex]], like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(entries, dtype=like.dtype, device=like.device)


def _generator(opcode: Opcode, like: torch.Tensor) -> torch.Tensor:
    factors = [_complex_matrix(f, like) for f in _GENERATORS[opcode]]
    # kron(A, B) puts A on the more significant bit, i.e. on wire0.
    return factors[0] if len(factors) == 1 else torch.kron(factors[0], factors[1])


def _rotation(generator: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Per-sample ``cos(t/2) I - i sin(t/2) P``: ``[B, d, d]`` from angles ``[B]``."""
    half = angles / 2
    cos = torch.cos(half).to(generator.dtype)[:, None, None]
    sin = torch.sin(half).to(generator.dtype)[:, None, None]
    identity = torch.eye(generator.shape[0], dtype=generator.dtype, device=generator.device)
    return cos * identity - 1j * sin * generator


def _apply(psi: torch.Tensor, matrix: torch.Tensor, wires: Sequence[int]) -> torch.Tensor:
    """Multiply ``matrix`` ([d, d] or [B, d, d]) into the axes of ``wires`` of ``psi``."""
    batch, n_qubits = psi.shape[0], psi.dim() - 1
    wire_axes = [1 + w for w in wires]
    front = list(range(1, 1 + len(wires)))
    moved = psi.movedim(wire_axes, front)
    flat = moved.reshape(batch, 2 ** len(wires), 2 ** (n_qubits - len(wires)))
    return (matrix @ flat).reshape(moved.shape).movedim(front, wire_axes)


def _angles(
    op: Op, inputs: torch.Tensor, weights: torch.Tensor, constants: torch.Tensor
) -> torch.Tensor:
    batch = inputs.shape[0]
    if op.source == ParamSource.INPUT:
        return inputs[:, op.index]
    if op.source == ParamSource.WEIGHT:
        return weights[op.index].expand(batch)
    return constants[op.index].expand(batch)


def _initial(
    batch: int,
    n_qubits: int,
    initial_state: torch.Tensor | None,
    real_dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    complex_dtype = _COMPLEX[real_dtype]
    dim = 2**n_qubits
    if initial_state is None:
        psi = torch.zeros(batch, dim, dtype=complex_dtype, device=device)
        psi[:, 0] = 1
        return psi
    if tuple(initial_state.shape) != (batch, dim):
        raise ValueError(
            f"initial_state must have shape [{batch}, {dim}], got {list(initial_state.shape)}"
        )
    if initial_state.dtype not in (real_dtype, complex_dtype):
        raise ValueError(
            f"initial_state dtype {initial_state.dtype} does not match inputs "
            f"({real_dtype} or {complex_dtype} expected)"
        )
    return initial_state.to(device=device, dtype=complex_dtype)


def _check_tensors(inputs: torch.Tensor, weights: torch.Tensor) -> None:
    if inputs.dim() != 2:
        raise ValueError(f"inputs must be [B, F], got shape {list(inputs.shape)}")
    if weights.dim() != 1:
        raise ValueError(f"weights must be [W], got shape {list(weights.shape)}")
    if inputs.dtype not in _COMPLEX:
        raise ValueError(f"inputs must be float32 or float64, got {inputs.dtype}")
    if weights.dtype != inputs.dtype:
        raise ValueError(f"weights dtype {weights.dtype} differs from inputs {inputs.dtype}")
    if weights.device != inputs.device:
        raise ValueError(f"weights on {weights.device}, inputs on {inputs.device}")


def state(
    inputs: torch.Tensor,
    weights: torch.Tensor,
    program: Iterable[int],
    n_qubits: int,
    initial_state: torch.Tensor | None = None,
    constants: Sequence[float] = (),
) -> torch.Tensor:
    """Final statevectors ``[B, 2**n_qubits]`` (complex64 for float32 inputs, else complex128).

    ``inputs [B, F]`` supplies per-sample angles (``param_source`` 1), ``weights [W]`` shared
    angles (2), ``constants`` fixed angles (3). ``initial_state [B, 2**n]`` (real or complex,
    used as given, not normalised) replaces ``|0...0>``. Raises ValueError for an invalid
    program or a noise channel.
    """
    _check_tensors(inputs, weights)
    ops = parse_program(
        program,
        n_qubits,
        n_inputs=inputs.shape[1],
        n_weights=weights.shape[0],
        n_constants=len(constants),
    )
    for op_index, op in enumerate(ops):
        if is_channel(op.opcode):
            raise ValueError(
                f"statevector reference cannot apply channel {op.opcode.name} "
                f"(operation {op_index}); use the density-matrix engine"
            )
    batch = inputs.shape[0]
    psi = _initial(batch, n_qubits, initial_state, inputs.dtype, inputs.device)
    psi = psi.reshape([batch] + [2] * n_qubits)
    constants_tensor = torch.tensor(list(constants), dtype=inputs.dtype, device=inputs.device)
    for op in ops:
        if op.opcode in _FIXED:
            matrix = _complex_matrix(_FIXED[op.opcode], psi)
        else:
            angles = _angles(op, inputs, weights, constants_tensor)
            matrix = _rotation(_generator(op.opcode, psi), angles)
        psi = _apply(psi, matrix, op.wires())
    return psi.reshape(batch, 2**n_qubits)


def probs(
    inputs: torch.Tensor,
    weights: torch.Tensor,
    program: Iterable[int],
    n_qubits: int,
    initial_state: torch.Tensor | None = None,
    constants: Sequence[float] = (),
) -> torch.Tensor:
    """Basis-state probabilities ``|psi_k|^2``, ``[B, 2**n_qubits]``, real like ``inputs``."""
    psi = state(inputs, weights, program, n_qubits, initial_state, constants)
    # re^2 + im^2 rather than abs()^2: smooth at zero amplitudes, so gradients stay finite.
    return psi.real**2 + psi.imag**2


def z_string_signs(
    z_masks: Iterable[int],
    n_qubits: int,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Diagonal of each Z string, ``[M, 2**n]``: ``(-1)**(number of masked wires in |1>)``."""
    masks = check_z_masks(z_masks, n_qubits)
    basis = torch.arange(2**n_qubits, device=device)
    # Wire w is bit n-1-w of the basis index.
    wire_bits = torch.stack([(basis >> (n_qubits - 1 - w)) & 1 for w in range(n_qubits)], dim=1)
    mask_bits = torch.tensor(
        [[(m >> w) & 1 for w in range(n_qubits)] for m in masks],
        dtype=wire_bits.dtype,
        device=device,
    ).reshape(len(masks), n_qubits)
    parity = (mask_bits @ wire_bits.T) % 2
    return (1 - 2 * parity).to(dtype)


def expval(
    inputs: torch.Tensor,
    weights: torch.Tensor,
    program: Iterable[int],
    n_qubits: int,
    z_masks: Iterable[int],
    initial_state: torch.Tensor | None = None,
    constants: Sequence[float] = (),
) -> torch.Tensor:
    """Expectation values ``<psi|Z_mask|psi>``, ``[B, len(z_masks)]``, real like ``inputs``.

    Bit ``w`` of a mask puts Pauli-Z on wire ``w``; mask 0 is the identity (``<psi|psi>``).
    """
    signs = z_string_signs(z_masks, n_qubits, dtype=inputs.dtype, device=inputs.device)
    return probs(inputs, weights, program, n_qubits, initial_state, constants) @ signs.T
