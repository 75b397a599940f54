"""Random circuits and tensors for tests that compare an engine with the reference."""

from __future__ import annotations

import math

import numpy as np
import torch

from qmoe_torch.circuits import Circuit
from qmoe_torch.opcodes import UNITARY, Opcode, ParamSource, n_wires, takes_parameter

UNITARY_OPCODES: list[Opcode] = sorted(UNITARY)
"""Every opcode the statevector engines apply (fixed gates and rotations, no channels)."""


def random_circuit(
    n_qubits: int,
    n_ops: int,
    n_inputs: int,
    n_weights: int,
    rng: np.random.Generator,
    with_constants: bool = True,
) -> Circuit:
    """A circuit of ``n_ops`` random unitary ops with random wires and parameter sources.

    The first ops cycle through every available opcode in a random order, so any circuit
    with ``n_ops >= 15`` (9 on one qubit) exercises every gate. Rotations first read every
    input column and every weight once (in random order; while some are unread, the ops after
    the cycle are rotations), then a random column, weight (indices repeat, as weight sharing
    does) or constant angle; later ops are drawn uniformly. So with
    ``n_ops >= 15 + n_inputs + n_weights`` every input and weight is used and has a gradient.
    The circuit always has exactly ``n_weights`` weights (one block named ``"random"``);
    ``circuit.n_inputs`` is below ``n_inputs`` only if some column went unread.
    """
    circuit = Circuit(n_qubits)
    if n_weights:
        circuit.new_weights((n_weights,), "random")
    sources = [
        s
        for s, ok in (
            (ParamSource.INPUT, n_inputs > 0),
            (ParamSource.WEIGHT, n_weights > 0),
            (ParamSource.CONSTANT, with_constants),
        )
        if ok
    ]
    opcodes = [o for o in UNITARY_OPCODES if n_wires(o) <= n_qubits]
    rotations = [o for o in opcodes if takes_parameter(o)]
    cycle = [opcodes[i] for i in rng.permutation(len(opcodes))]
    unread = [(ParamSource.INPUT, i) for i in range(n_inputs)]
    unread += [(ParamSource.WEIGHT, i) for i in range(n_weights)]
    unread = [unread[i] for i in rng.permutation(len(unread))]
    for op_index in range(n_ops):
        if op_index < len(cycle):
            opcode = cycle[op_index]
        else:
            pool = rotations if unread else opcodes
            opcode = pool[rng.integers(len(pool))]
        wires = [int(w) for w in rng.choice(n_qubits, size=n_wires(opcode), replace=False)]
        if not takes_parameter(opcode):
            circuit.add(opcode, wires)
            continue
        if not sources:
            raise ValueError(
                "rotations need a parameter source: give n_inputs, n_weights or with_constants=True"
            )
        if unread:
            circuit.add(opcode, wires, *unread.pop())
            continue
        source = sources[rng.integers(len(sources))]
        if source == ParamSource.INPUT:
            index = int(rng.integers(n_inputs))
        elif source == ParamSource.WEIGHT:
            index = int(rng.integers(n_weights))
        else:
            index = circuit.add_constant(rng.uniform(-2 * math.pi, 2 * math.pi))
        circuit.add(opcode, wires, source, index)
    return circuit


def random_angles(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Angles uniform in [-2 pi, 2 pi) as a torch tensor of ``shape``."""
    return torch.tensor(rng.uniform(-2 * math.pi, 2 * math.pi, size=shape), dtype=dtype)


def random_state(
    rng: np.random.Generator,
    batch: int,
    n_qubits: int,
    dtype: torch.dtype = torch.complex128,
    normalize: bool = True,
) -> torch.Tensor:
    """Random states ``[batch, 2**n_qubits]`` (complex dtype gives complex amplitudes)."""
    shape = (batch, 2**n_qubits)
    values = rng.normal(size=shape)
    if dtype.is_complex:
        values = values + 1j * rng.normal(size=shape)
    if normalize:
        values = values / np.linalg.norm(values, axis=1, keepdims=True)
    return torch.tensor(values, dtype=dtype)
