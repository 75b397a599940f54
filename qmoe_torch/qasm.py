"""Export of one sample of a circuit to OpenQASM 3, with every angle substituted as a number."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from qmoe_torch.opcodes import Opcode, ParamSource, is_channel
from qmoe_torch.program import Op
from qmoe_torch.readout import Readout

_STDGATES = {
    Opcode.H: "h",
    Opcode.X: "x",
    Opcode.Y: "y",
    Opcode.Z: "z",
    Opcode.S: "s",
    Opcode.T: "t",
    Opcode.CNOT: "cx",
    Opcode.CZ: "cz",
    Opcode.SWAP: "swap",
    Opcode.RX: "rx",
    Opcode.RY: "ry",
    Opcode.RZ: "rz",
    Opcode.ISING_XX: "rxx",
    Opcode.ISING_YY: "ryy",
    Opcode.ISING_ZZ: "rzz",
}

# stdgates.inc has no two-qubit Pauli rotations. exp(-i t/2 ZZ) = CX (1 x RZ(t)) CX, and XX, YY
# are ZZ in the basis that H (Z -> X) and S H (Z -> Y) rotate into. stdgates' rz is exactly
# exp(-i t/2 Z) (it carries its global phase), so these match PennyLane's Ising gates exactly.
_ISING_DEFINITIONS = {
    Opcode.ISING_ZZ: "gate rzz(theta) a, b { cx a, b; rz(theta) b; cx a, b; }",
    Opcode.ISING_XX: "gate rxx(theta) a, b { h a; h b; cx a, b; rz(theta) b; cx a, b; h a; h b; }",
    Opcode.ISING_YY: (
        "gate ryy(theta) a, b { sdg a; sdg b; h a; h b; cx a, b; rz(theta) b; cx a, b; "
        "h a; h b; s a; s b; }"
    ),
}


def _as_floats(values: Any, what: str) -> list[float]:
    if values is None:
        return []
    if getattr(values, "ndim", 1) != 1:
        raise ValueError(f"{what} must be one-dimensional (one sample), got {values.ndim} dims")
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().double().tolist()
    return [float(v) for v in values]


def _angle_text(angle: float) -> str:
    if not math.isfinite(angle):
        raise ValueError(f"angle {angle} is not finite")
    # repr gives the shortest decimal that parses back to the same float64.
    return repr(angle)


def program_to_qasm(
    n_qubits: int,
    ops: Sequence[Op],
    constants: Sequence[float],
    inputs_row: Any,
    weights: Any,
    readout: Readout | None,
) -> str:
    """OpenQASM 3 text of one sample; see :meth:`qmoe_torch.circuits.Circuit.to_qasm`."""
    inputs = _as_floats(inputs_row, "inputs_row")
    weight_values = _as_floats(weights, "weights")
    sources = {
        ParamSource.INPUT: ("inputs_row", inputs),
        ParamSource.WEIGHT: ("weights", weight_values),
        ParamSource.CONSTANT: ("constants", [float(c) for c in constants]),
    }
    body = []
    used_definitions = set()
    for op_index, op in enumerate(ops):
        if is_channel(op.opcode):
            raise ValueError(
                f"operation {op_index} ({op.opcode.name}) is a noise channel, which "
                "OpenQASM 3 gates cannot represent"
            )
        name = _STDGATES[op.opcode]
        if op.opcode in _ISING_DEFINITIONS:
            used_definitions.add(op.opcode)
        if op.source != ParamSource.NONE:
            what, values = sources[op.source]
            if op.index >= len(values):
                raise ValueError(
                    f"operation {op_index} ({op.opcode.name}) reads {what}"
                    f"[{op.index}] but only {len(values)} values were given"
                )
            name += f"({_angle_text(values[op.index])})"
        qubits = ", ".join(f"q[{w}]" for w in op.wires())
        body.append(f"{name} {qubits};")

    lines = ["OPENQASM 3.0;", 'include "stdgates.inc";']
    lines += [_ISING_DEFINITIONS[o] for o in sorted(used_definitions)]
    lines.append(f"qubit[{n_qubits}] q;")
    lines += body
    lines.append(f"bit[{n_qubits}] c;")
    if readout is not None and readout.kind == "expval":
        lines.append(
            "// readout: expectation values of "
            + ", ".join(readout.names)
            + " (products of Z = +1/-1 for measured bit c[w] = 0/1)"
        )
    elif readout is not None:
        lines.append(
            "// readout: basis-state probabilities (c[0] is wire 0, the most "
            "significant bit of qmoe's basis index)"
        )
    lines.append("c = measure q;")
    return "\n".join(lines) + "\n"
