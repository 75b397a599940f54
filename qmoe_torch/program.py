"""Decoding and validation of the flat circuit program, shared by the Python engines.

The checks and their messages mirror ``csrc/core/program/program.cpp`` so that a bad program fails
the same way in the reference as in the kernels.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from qmoe_torch.opcodes import (
    OP_WIDTH,
    Opcode,
    ParamSource,
    is_channel,
    is_two_qubit,
    takes_parameter,
)

_SOURCE_TENSORS = {
    ParamSource.INPUT: "inputs columns",
    ParamSource.WEIGHT: "weights",
    ParamSource.CONSTANT: "constants",
}


class Op(NamedTuple):
    """One decoded operation of a program."""

    opcode: Opcode
    wire0: int
    wire1: int
    source: ParamSource
    index: int

    def wires(self) -> tuple[int, ...]:
        """The wires the operation acts on, in program order (control first for CNOT)."""
        return (self.wire0, self.wire1) if is_two_qubit(self.opcode) else (self.wire0,)


def _fail(op_index: int, name: str, what: str) -> ValueError:
    label = f" ({name})" if name else ""
    return ValueError(f"program: operation {op_index}{label}: {what}")


def _check_wire(op_index: int, name: str, field: str, wire: int, n_qubits: int) -> None:
    if not 0 <= wire < n_qubits:
        raise _fail(
            op_index,
            name,
            f"{field}={wire} is out of range for n_qubits={n_qubits} (expected 0..{n_qubits - 1})",
        )


def check_n_qubits(n_qubits: int) -> int:
    """Return ``n_qubits`` as an int, raising ValueError unless it is at least 1."""
    n_qubits = operator.index(n_qubits)
    if n_qubits < 1:
        raise ValueError(f"n_qubits={n_qubits} must be at least 1")
    return n_qubits


def decode_op(op_index: int, words: Sequence[int], n_qubits: int) -> Op:
    """Decode and check one operation's five words, without checking parameter bounds."""
    opcode_value, wire0, wire1, source_value, index = (operator.index(w) for w in words)
    if opcode_value not in Opcode._value2member_map_:
        raise _fail(op_index, "", f"unknown opcode {opcode_value} (expected 0..{len(Opcode) - 1})")
    opcode = Opcode(opcode_value)
    name = opcode.name
    _check_wire(op_index, name, "wire0", wire0, n_qubits)
    if is_two_qubit(opcode):
        _check_wire(op_index, name, "wire1", wire1, n_qubits)
        if wire0 == wire1:
            raise _fail(
                op_index,
                name,
                f"wire0 and wire1 are both {wire0} (a two-qubit gate needs two distinct wires)",
            )
    elif wire1 != -1:
        raise _fail(op_index, name, f"wire1={wire1} must be -1 for a one-qubit operation")
    if source_value not in ParamSource._value2member_map_:
        raise _fail(
            op_index,
            name,
            f"param_source={source_value} is unknown "
            "(expected 0=none, 1=input, 2=weight, 3=constant)",
        )
    source = ParamSource(source_value)
    if not takes_parameter(opcode):
        if source != ParamSource.NONE or index != -1:
            raise _fail(
                op_index,
                name,
                "a fixed gate takes no parameter (expected param_source=0, param_index=-1)",
            )
    elif source == ParamSource.NONE:
        raise _fail(op_index, name, "param_source=0 (none) but this operation needs a parameter")
    elif index < 0:
        raise _fail(op_index, name, f"param_index={index} must be non-negative")
    return Op(opcode, wire0, wire1, source, index)


def parse_program(
    program: Iterable[int],
    n_qubits: int,
    *,
    n_inputs: int | None = None,
    n_weights: int | None = None,
    n_constants: int | None = None,
    allow_channels: bool = True,
) -> list[Op]:
    """Decode a flat program into ops, raising ValueError naming the op and field at fault.

    The ``n_*`` bounds are checked only when given (they are known once tensors are at hand).
    """
    n_qubits = check_n_qubits(n_qubits)
    words = [operator.index(w) for w in program]
    if len(words) % OP_WIDTH != 0:
        raise ValueError(
            f"program: length {len(words)} is not a multiple of {OP_WIDTH} "
            "(opcode, wire0, wire1, param_source, param_index per op)"
        )
    bounds = {
        ParamSource.INPUT: n_inputs,
        ParamSource.WEIGHT: n_weights,
        ParamSource.CONSTANT: n_constants,
    }
    ops = []
    for op_index in range(len(words) // OP_WIDTH):
        op = decode_op(op_index, words[op_index * OP_WIDTH : (op_index + 1) * OP_WIDTH], n_qubits)
        if is_channel(op.opcode) and not allow_channels:
            raise _fail(
                op_index,
                op.opcode.name,
                "noise channels need the density-matrix "
                "engine; a statevector engine cannot apply them",
            )
        bound = bounds.get(op.source)
        if bound is not None and op.index >= bound:
            raise _fail(
                op_index,
                op.opcode.name,
                f"param_index={op.index} is out of range of "
                f"{_SOURCE_TENSORS[op.source]} (size {bound})",
            )
        ops.append(op)
    return ops


def check_z_masks(z_masks: Iterable[int], n_qubits: int) -> list[int]:
    """Return the masks as ints, raising ValueError for a mask naming a wire >= n_qubits."""
    masks = [operator.index(m) for m in z_masks]
    for i, mask in enumerate(masks):
        if not 0 <= mask < 1 << n_qubits:
            raise ValueError(
                f"z_masks[{i}]={mask} names a wire outside 0..{n_qubits - 1} "
                "(bit w of a mask = wire w)"
            )
    return masks
