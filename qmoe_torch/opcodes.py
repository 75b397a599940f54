"""Opcodes and parameter sources of the flat circuit program (docs/program.md)."""

from __future__ import annotations

import enum

OP_WIDTH = 5
"""Integers per operation: (opcode, wire0, wire1, param_source, param_index)."""


class Opcode(enum.IntEnum):
    """Operation codes; the values are the program format and must never change."""

    H = 0
    X = 1
    Y = 2
    Z = 3
    S = 4
    T = 5
    CNOT = 6
    CZ = 7
    SWAP = 8
    RX = 9
    RY = 10
    RZ = 11
    ISING_XX = 12
    ISING_YY = 13
    ISING_ZZ = 14
    DEPOLARIZING = 15
    AMPLITUDE_DAMPING = 16
    PHASE_DAMPING = 17
    BIT_FLIP = 18


class ParamSource(enum.IntEnum):
    """Where a parameterised operation reads its angle (or channel probability)."""

    NONE = 0
    INPUT = 1
    WEIGHT = 2
    CONSTANT = 3


FIXED_GATES: frozenset[Opcode] = frozenset(
    {
        Opcode.H,
        Opcode.X,
        Opcode.Y,
        Opcode.Z,
        Opcode.S,
        Opcode.T,
        Opcode.CNOT,
        Opcode.CZ,
        Opcode.SWAP,
    }
)
ROTATIONS: frozenset[Opcode] = frozenset(
    {Opcode.RX, Opcode.RY, Opcode.RZ, Opcode.ISING_XX, Opcode.ISING_YY, Opcode.ISING_ZZ}
)
CHANNELS: frozenset[Opcode] = frozenset(
    {Opcode.DEPOLARIZING, Opcode.AMPLITUDE_DAMPING, Opcode.PHASE_DAMPING, Opcode.BIT_FLIP}
)
TWO_QUBIT: frozenset[Opcode] = frozenset(
    {Opcode.CNOT, Opcode.CZ, Opcode.SWAP, Opcode.ISING_XX, Opcode.ISING_YY, Opcode.ISING_ZZ}
)
PARAMETRIC: frozenset[Opcode] = ROTATIONS | CHANNELS
UNITARY: frozenset[Opcode] = FIXED_GATES | ROTATIONS


def is_two_qubit(opcode: int) -> bool:
    """True if the operation acts on two wires (wire1 is used)."""
    return opcode in TWO_QUBIT


def takes_parameter(opcode: int) -> bool:
    """True if the operation needs a parameter (a rotation angle or a channel probability)."""
    return opcode in PARAMETRIC


def is_channel(opcode: int) -> bool:
    """True for noise channels, which only the density-matrix engine can apply."""
    return opcode in CHANNELS


def n_wires(opcode: int) -> int:
    """Number of wires the operation acts on (1 or 2)."""
    return 2 if is_two_qubit(opcode) else 1
