"""Circuit.to_qasm: read the OpenQASM 3 text back, simulate it, compare with the reference."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from dense_simulator import embed
from random_circuits import random_angles, random_circuit, random_state

from qmoe_torch import reference
from qmoe_torch.circuits import Circuit
from qmoe_torch.opcodes import ParamSource


# --------------------------------------------------------------------- a small OpenQASM 3 reader
def _phase(angle: float) -> np.ndarray:
    return np.diag([1, np.exp(1j * angle)])


def _controlled(target: np.ndarray) -> np.ndarray:
    full = np.eye(4, dtype=complex)
    full[2:, 2:] = target
    return full


_X = np.array([[0, 1], [1, 0]], dtype=complex)
_Z = np.diag([1, -1]).astype(complex)
# stdgates.inc semantics, written from the OpenQASM 3 standard library's definitions.
_STDGATES_FIXED = {
    "h": np.array([[1, 1], [1, -1]], dtype=complex) / math.sqrt(2),
    "x": _X,
    "y": np.array([[0, -1j], [1j, 0]]),
    "z": _Z,
    "s": _phase(math.pi / 2),
    "sdg": _phase(-math.pi / 2),
    "t": _phase(math.pi / 4),
    "cx": _controlled(_X),
    "cz": _controlled(_Z),
    "swap": np.eye(4, dtype=complex)[[0, 2, 1, 3]],
}
_STDGATES_ROTATIONS = {
    "rx": lambda t: np.array(
        [[math.cos(t / 2), -1j * math.sin(t / 2)], [-1j * math.sin(t / 2), math.cos(t / 2)]]
    ),
    "ry": lambda t: np.array(
        [[math.cos(t / 2), -math.sin(t / 2)], [math.sin(t / 2), math.cos(t / 2)]]
    ),
    "rz": lambda t: np.diag([np.exp(-0.5j * t), np.exp(0.5j * t)]),
}
_GATE_DEFINITION = re.compile(r"gate\s+(\w+)\s*\(\s*(\w+)\s*\)\s*(\w+)\s*,\s*(\w+)\s*\{([^}]*)\}")
_CALL = re.compile(r"(\w+)(?:\(([^()]*)\))?\s+(.+)")


class QasmProgram:
    """The subset of OpenQASM 3 that to_qasm emits, expanded to stdgates calls."""

    def __init__(self, text: str) -> None:
        text = re.sub(r"//[^\n]*", "", text)
        self.definitions: dict[str, tuple[str, list[str], list[str]]] = {}
        text = _GATE_DEFINITION.sub(self._define, text)
        statements = [s.strip() for s in text.split(";") if s.strip()]
        assert statements[:2] == ["OPENQASM 3.0", 'include "stdgates.inc"'], statements[:2]
        self.n_qubits = 0
        self.n_bits = 0
        self.measured = False
        self.calls: list[tuple[str, float | None, list[int]]] = []
        self.top_level_angles: list[float] = []
        for statement in statements[2:]:
            if match := re.fullmatch(r"qubit\[(\d+)\]\s+q", statement):
                self.n_qubits = int(match.group(1))
            elif match := re.fullmatch(r"bit\[(\d+)\]\s+c", statement):
                self.n_bits = int(match.group(1))
            elif statement == "c = measure q":
                self.measured = True
            else:
                name, angle, operands = self._parse_call(statement, {})
                if angle is not None:
                    self.top_level_angles.append(angle)
                self._expand(
                    name, angle, [int(re.fullmatch(r"q\[(\d+)\]", o).group(1)) for o in operands]
                )

    def _define(self, match: re.Match) -> str:
        name, parameter, first, second, body = match.groups()
        self.definitions[name] = (
            parameter,
            [first, second],
            [s.strip() for s in body.split(";") if s.strip()],
        )
        return ""

    @staticmethod
    def _parse_call(
        statement: str, parameters: dict[str, float]
    ) -> tuple[str, float | None, list[str]]:
        match = _CALL.fullmatch(statement)
        assert match, f"cannot read statement {statement!r}"
        name, argument, operands = match.groups()
        angle = None
        if argument is not None:
            argument = argument.strip()
            angle = parameters[argument] if argument in parameters else float(argument)
        return name, angle, [o.strip() for o in operands.split(",")]

    def _expand(self, name: str, angle: float | None, qubits: list[int]) -> None:
        if name in self.definitions:
            parameter, names, body = self.definitions[name]
            binding = dict(zip(names, qubits, strict=True))
            for statement in body:
                inner, inner_angle, operands = self._parse_call(statement, {parameter: angle})
                self._expand(inner, inner_angle, [binding[o] for o in operands])
        else:
            assert name in _STDGATES_FIXED or name in _STDGATES_ROTATIONS, name
            self.calls.append((name, angle, qubits))

    def state(self) -> np.ndarray:
        """Final state from |0...0>, q[0] the most significant bit (qmoe's order)."""
        psi = np.zeros(2**self.n_qubits, dtype=complex)
        psi[0] = 1
        for name, angle, qubits in self.calls:
            if name in _STDGATES_FIXED:
                matrix = _STDGATES_FIXED[name]
            else:
                matrix = _STDGATES_ROTATIONS[name](angle)
            psi = embed(matrix, qubits, self.n_qubits) @ psi
        return psi


# --------------------------------------------------------------------- tests
def _sample(seed: int, n_qubits: int, n_ops: int = 40):
    rng = np.random.default_rng(seed)
    circuit = random_circuit(n_qubits, n_ops, n_inputs=3, n_weights=5, rng=rng)
    return circuit, random_angles(rng, (2, 3)), random_angles(rng, (5,))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n_qubits", [1, 2, 3, 4])
def test_qasm_simulates_to_the_reference_state(seed: int, n_qubits: int) -> None:
    circuit, inputs, weights = _sample(seed, n_qubits)
    circuit.measure_probs()
    expected = reference.state(
        inputs, weights, circuit.program, n_qubits, constants=circuit.constants
    )
    for b in range(inputs.shape[0]):
        program = QasmProgram(circuit.to_qasm(inputs[b], weights))
        assert program.n_qubits == n_qubits and program.measured
        psi = program.state()
        np.testing.assert_allclose(psi, expected[b].numpy(), atol=1e-10, rtol=0)
        np.testing.assert_allclose(
            np.abs(psi) ** 2, np.abs(expected[b].numpy()) ** 2, atol=1e-10, rtol=0
        )


def test_angles_round_trip_exactly() -> None:
    circuit, inputs, weights = _sample(3, 3, n_ops=60)
    values = {
        ParamSource.INPUT: inputs[1].tolist(),
        ParamSource.WEIGHT: weights.tolist(),
        ParamSource.CONSTANT: circuit.constants,
    }
    expected = [
        values[source][index]
        for _, _, _, source, index in circuit.ops
        if source != ParamSource.NONE
    ]
    assert expected, "the random circuit should have rotations"
    assert QasmProgram(circuit.to_qasm(inputs[1], weights)).top_level_angles == expected


def test_layout_and_gate_definitions() -> None:
    text = Circuit(2).h(0).ising_zz(0, 1, constant=0.5).to_qasm()
    lines = text.splitlines()
    assert lines[:2] == ["OPENQASM 3.0;", 'include "stdgates.inc";']
    assert lines[2].startswith("gate rzz(theta) a, b {")
    assert "rxx" not in text and "ryy" not in text
    assert "qubit[2] q;" in lines and "rzz(0.5) q[0], q[1];" in lines
    assert lines[-2:] == ["bit[2] c;", "c = measure q;"]
    plain = Circuit(1).x(0).to_qasm()
    assert "gate " not in plain


def test_single_sample_numbers_use_float64_repr() -> None:
    angle = 0.1 + 0.2
    text = Circuit(1).rx(0, input=1).ry(0, weight=0).to_qasm([5.0, angle], [-1e-300])
    assert f"rx({angle!r}) q[0];" in text and "ry(-1e-300) q[0];" in text


def test_readout_comments() -> None:
    expval_text = Circuit(2).h(0).measure_expval(["Z0", "Z0Z1"]).to_qasm()
    assert re.search(r"//.*Z0, Z0Z1", expval_text)
    assert "probabilities" in Circuit(2).measure_probs().to_qasm()


def test_unrepresentable_circuits_are_refused() -> None:
    with pytest.raises(ValueError, match="noise channel"):
        Circuit(1).bit_flip(0, constant=0.1).to_qasm()
    with pytest.raises(ValueError, match="initial_state"):
        Circuit(1).h(0).to_qasm(initial_state=random_state(np.random.default_rng(0), 1, 1)[0])
    with pytest.raises(ValueError, match="weights"):
        Circuit(1).rx(0, weight=3).to_qasm(weights=[0.0, 1.0])
    with pytest.raises(ValueError, match="inputs_row"):
        Circuit(1).rx(0, input=0).to_qasm()
    with pytest.raises(ValueError, match="one-dimensional"):
        Circuit(1).rx(0, input=0).to_qasm(torch.zeros(1, 1))
    with pytest.raises(ValueError, match="not finite"):
        Circuit(1).rx(0, input=0).to_qasm([float("inf")])


def test_trainable_tensors_are_accepted() -> None:
    weights = torch.tensor([0.25], dtype=torch.float32, requires_grad=True)
    text = Circuit(1).rz(0, weight=0).to_qasm(weights=weights)
    assert "rz(0.25) q[0];" in text
