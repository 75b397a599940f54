"""Plain-PyTorch density-matrix simulator: the oracle for noisy circuits.

Like :mod:`qmoe_torch.reference` it is written to be obviously right, not fast, and reuses
that module's gate matrices. A batch of density matrices ``[B, 2**n, 2**n]`` is held as
``[B, 2, ..., 2]`` with ``2n`` axes: the ket's wires first, then the bra's. A gate ``U``
acts as ``rho -> U rho U^dagger`` (``U`` on the ket axes, ``conj(U)`` on the bra axes); a
channel as ``rho -> sum_i K_i rho K_i^dagger`` with PennyLane's Kraus operators. The
channel's probability comes from the op's parameter source, like a rotation's angle.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from qmoe_torch import reference
from qmoe_torch.opcodes import Opcode, is_channel
from qmoe_torch.program import Op, parse_program


def _kraus(opcode: Opcode, p: torch.Tensor, like: torch.Tensor) -> list[torch.Tensor]:
    """PennyLane's Kraus operators ``[B, 2, 2]`` for per-sample probabilities ``p [B]``."""
    one = torch.ones_like(p)
    zero = torch.zeros_like(p)

    def matrix(a, b, c, d) -> torch.Tensor:
        return torch.stack([torch.stack([a, b], -1), torch.stack([c, d], -1)], -2).to(like.dtype)

    keep = torch.sqrt(1 - p)
    if opcode == Opcode.DEPOLARIZING:  # sqrt(1-p) I, sqrt(p/3) X, Y, Z
        share = torch.sqrt(p / 3)
        paulis = [
            reference._complex_matrix(m, like) for m in (reference._X, reference._Y, reference._Z)
        ]
        return [matrix(keep, zero, zero, keep)] + [
            share.to(like.dtype)[:, None, None] * pauli for pauli in paulis
        ]
    if opcode == Opcode.AMPLITUDE_DAMPING:  # [[1, 0], [0, sqrt(1-g)]], [[0, sqrt(g)], [0, 0]]
        return [matrix(one, zero, zero, keep), matrix(zero, torch.sqrt(p), zero, zero)]
    if opcode == Opcode.PHASE_DAMPING:  # [[1, 0], [0, sqrt(1-g)]], [[0, 0], [0, sqrt(g)]]
        return [matrix(one, zero, zero, keep), matrix(zero, zero, zero, torch.sqrt(p))]
    # BIT_FLIP: sqrt(1-p) I, sqrt(p) X
    return [matrix(keep, zero, zero, keep), matrix(zero, torch.sqrt(p), torch.sqrt(p), zero)]


def _conjugate(
    rho: torch.Tensor, matrix: torch.Tensor, wires: Sequence[int], n_qubits: int
) -> torch.Tensor:
    """``matrix rho matrix^dagger`` on ``wires``."""
    rho = reference._apply(rho, matrix, wires)
    return reference._apply(rho, matrix.conj(), [w + n_qubits for w in wires])


def density_matrix(
    inputs: torch.Tensor,
    weights: torch.Tensor,
    program: Iterable[int],
    n_qubits: int,
    initial_state: torch.Tensor | None = None,
    constants: Sequence[float] = (),
) -> torch.Tensor:
    """Final density matrices ``[B, 2**n, 2**n]`` (complex, precision of ``inputs``).

    Arguments as :func:`qmoe_torch.reference.state`; ``initial_state [B, 2**n]`` is a pure
    state ``|psi><psi|``. Raises ValueError for an invalid program or a channel probability
    outside [0, 1].
    """
    reference._check_tensors(inputs, weights)
    ops: list[Op] = parse_program(
        program,
        n_qubits,
        n_inputs=inputs.shape[1],
        n_weights=weights.shape[0],
        n_constants=len(constants),
    )
    batch, dim = inputs.shape[0], 2**n_qubits
    psi = reference._initial(batch, n_qubits, initial_state, inputs.dtype, inputs.device)
    rho = (psi[:, :, None] * psi.conj()[:, None, :]).reshape([batch] + [2] * (2 * n_qubits))
    constants_tensor = torch.tensor(list(constants), dtype=inputs.dtype, device=inputs.device)
    for op_index, op in enumerate(ops):
        if op.opcode in reference._FIXED:
            rho = _conjugate(
                rho,
                reference._complex_matrix(reference._FIXED[op.opcode], rho),
                op.wires(),
                n_qubits,
            )
            continue
        parameter = reference._angles(op, inputs, weights, constants_tensor)
        if not is_channel(op.opcode):
            matrix = reference._rotation(reference._generator(op.opcode, rho), parameter)
            rho = _conjugate(rho, matrix, op.wires(), n_qubits)
            continue
        if bool(((parameter < 0) | (parameter > 1) | parameter.isnan()).any()):
            raise ValueError(
                f"operation {op_index} ({op.opcode.name}): probability must be in "
                f"[0, 1], got {parameter.min().item()}..{parameter.max().item()}"
            )
        rho = sum(
            _conjugate(rho, kraus, op.wires(), n_qubits)
            for kraus in _kraus(op.opcode, parameter, rho)
        )
    return rho.reshape(batch, dim, dim)


def probs(
    inputs: torch.Tensor,
    weights: torch.Tensor,
    program: Iterable[int],
    n_qubits: int,
    initial_state: torch.Tensor | None = None,
    constants: Sequence[float] = (),
) -> torch.Tensor:
    """Basis-state probabilities ``diag(rho)``, ``[B, 2**n]``, real like ``inputs``."""
    rho = density_matrix(inputs, weights, program, n_qubits, initial_state, constants)
    return torch.diagonal(rho, dim1=-2, dim2=-1).real


def expval(
    inputs: torch.Tensor,
    weights: torch.Tensor,
    program: Iterable[int],
    n_qubits: int,
    z_masks: Iterable[int],
    initial_state: torch.Tensor | None = None,
    constants: Sequence[float] = (),
) -> torch.Tensor:
    """``tr(rho Z_mask)``, ``[B, len(z_masks)]``, real like ``inputs``."""
    signs = reference.z_string_signs(z_masks, n_qubits, dtype=inputs.dtype, device=inputs.device)
    return probs(inputs, weights, program, n_qubits, initial_state, constants) @ signs.T
