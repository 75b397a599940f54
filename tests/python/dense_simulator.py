"""An independent dense-matrix simulator (numpy), to cross-check the reference.

It builds every gate as a full ``2**n x 2**n`` matrix, rotations by matrix exponentials of
their generators, and uses qmoe's basis order (wire 0 = most significant bit).
"""

from __future__ import annotations

import numpy as np

from qmoe_torch.opcodes import Opcode, ParamSource

X = np.array([[0, 1], [1, 0]], dtype=complex)
Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
Z = np.diag([1, -1]).astype(complex)

FIXED = {
    Opcode.H: np.array([[1, 1], [1, -1]], dtype=complex) / np.sqrt(2),
    Opcode.X: X,
    Opcode.Y: Y,
    Opcode.Z: Z,
    Opcode.S: np.diag([1, 1j]),
    Opcode.T: np.diag([1, np.exp(1j * np.pi / 4)]),
    Opcode.CNOT: np.eye(4, dtype=complex)[[0, 1, 3, 2]],
    Opcode.CZ: np.diag([1, 1, 1, -1]).astype(complex),
    Opcode.SWAP: np.eye(4, dtype=complex)[[0, 2, 1, 3]],
}
GENERATORS = {
    Opcode.RX: X,
    Opcode.RY: Y,
    Opcode.RZ: Z,
    Opcode.ISING_XX: np.kron(X, X),
    Opcode.ISING_YY: np.kron(Y, Y),
    Opcode.ISING_ZZ: np.kron(Z, Z),
}


def expm_hermitian(generator: np.ndarray, angle: float) -> np.ndarray:
    """``exp(-i angle/2 generator)`` by eigendecomposition."""
    eigenvalues, vectors = np.linalg.eigh(generator)
    return vectors @ np.diag(np.exp(-0.5j * angle * eigenvalues)) @ vectors.conj().T


def embed(matrix: np.ndarray, wires: list[int], n_qubits: int) -> np.ndarray:
    """Full operator of ``matrix`` acting on ``wires`` (first wire = its most significant bit)."""
    dim = 2**n_qubits
    full = np.zeros((dim, dim), dtype=complex)
    shifts = [n_qubits - 1 - w for w in wires]
    cleared = ~sum(1 << s for s in shifts)
    for column in range(dim):
        sub_in = 0
        for s in shifts:
            sub_in = sub_in << 1 | (column >> s & 1)
        for sub_out in range(2 ** len(wires)):
            row = column & cleared
            for position, s in enumerate(shifts):
                row |= (sub_out >> (len(wires) - 1 - position) & 1) << s
            full[row, column] = matrix[sub_out, sub_in]
    return full


def dense_state(
    ops: list[tuple[int, int, int, int, int]],
    n_qubits: int,
    inputs_row: np.ndarray,
    weights: np.ndarray,
    constants: list[float],
    initial: np.ndarray | None = None,
) -> np.ndarray:
    """Final state of one sample from a circuit's op tuples."""
    psi = np.zeros(2**n_qubits, dtype=complex)
    if initial is None:
        psi[0] = 1
    else:
        psi = np.asarray(initial, dtype=complex).copy()
    for opcode, wire0, wire1, source, index in ops:
        wires = [wire0] if wire1 == -1 else [wire0, wire1]
        if opcode in FIXED:
            matrix = FIXED[Opcode(opcode)]
        else:
            angle = {
                ParamSource.INPUT: inputs_row,
                ParamSource.WEIGHT: weights,
                ParamSource.CONSTANT: constants,
            }[ParamSource(source)][index]
            matrix = expm_hermitian(GENERATORS[Opcode(opcode)], float(angle))
        psi = embed(matrix, wires, n_qubits) @ psi
    return psi
