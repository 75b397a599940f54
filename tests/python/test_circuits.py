"""The circuit builder: program layout, weight blocks, readouts, templates, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from random_circuits import UNITARY_OPCODES, random_circuit

from qmoe_torch import circuits
from qmoe_torch.circuits import (
    AmplitudeEmbedding,
    AngleEmbedding,
    BasicEntanglerLayers,
    Circuit,
    DataReuploading,
    StronglyEntanglingLayers,
)
from qmoe_torch.opcodes import (
    CHANNELS,
    OP_WIDTH,
    Opcode,
    ParamSource,
    is_channel,
    is_two_qubit,
    takes_parameter,
)

H, X, CNOT, RX, RY, RZ = Opcode.H, Opcode.X, Opcode.CNOT, Opcode.RX, Opcode.RY, Opcode.RZ
NONE, INPUT, WEIGHT, CONSTANT = ParamSource


def test_opcode_values_follow_the_program_format() -> None:
    assert [o.value for o in Opcode] == list(range(19))
    assert Opcode.ISING_ZZ == 14 and Opcode.BIT_FLIP == 18
    assert [s.value for s in ParamSource] == [0, 1, 2, 3]
    assert OP_WIDTH == 5
    two_qubit = {o for o in Opcode if is_two_qubit(o)}
    assert two_qubit == {
        Opcode.CNOT,
        Opcode.CZ,
        Opcode.SWAP,
        Opcode.ISING_XX,
        Opcode.ISING_YY,
        Opcode.ISING_ZZ,
    }
    assert {o for o in Opcode if takes_parameter(o)} == {o for o in Opcode if o >= 9}
    assert {o for o in Opcode if is_channel(o)} == set(CHANNELS) == {o for o in Opcode if o >= 15}


def test_program_layout() -> None:
    circuit = Circuit(3).h(0).cnot(2, 1).rx(1, input=4).ry(0, weight=2).rz(2, constant=0.25)
    circuit.ising_zz(0, 2, constant=-1.5)
    assert circuit.ops == [
        (H, 0, -1, NONE, -1),
        (CNOT, 2, 1, NONE, -1),
        (RX, 1, -1, INPUT, 4),
        (RY, 0, -1, WEIGHT, 2),
        (RZ, 2, -1, CONSTANT, 0),
        (Opcode.ISING_ZZ, 0, 2, CONSTANT, 1),
    ]
    assert circuit.program == [v for op in circuit.ops for v in op]
    assert all(type(v) is int for v in circuit.program)
    assert circuit.constants == [0.25, -1.5]
    assert circuit.n_inputs == 5
    assert circuit.n_weights == 3
    assert len(circuit) == 6


def test_every_gate_method_emits_its_opcode() -> None:
    circuit = Circuit(2)
    for opcode in UNITARY_OPCODES:
        method = getattr(circuit, opcode.name.lower())
        wires = (0, 1) if is_two_qubit(opcode) else (1,)
        if takes_parameter(opcode):
            method(*wires, weight=0)
        else:
            method(*wires)
    assert [op[0] for op in circuit.ops] == UNITARY_OPCODES
    circuit.depolarizing(0, constant=0.1).amplitude_damping(0, constant=0.2)
    circuit.phase_damping(1, constant=0.3).bit_flip(1, constant=0.4)
    assert [op[0] for op in circuit.ops[-4:]] == sorted(CHANNELS)


def test_empty_circuit() -> None:
    circuit = Circuit(1)
    assert circuit.program == [] and circuit.n_inputs == 0 and circuit.n_weights == 0


def test_weight_blocks_are_contiguous_and_row_major() -> None:
    circuit = Circuit(2)
    first = circuit.new_weights((2, 3), "a")
    second = circuit.new_weights(4, "b")
    again = circuit.new_weights((1,), "a")
    assert (first.offset, second.offset, again.offset) == (0, 6, 10)
    assert again.name == "a_1"
    assert first.indices == range(0, 6)
    assert first.index(1, 2) == 5 and second.index(3) == 9
    assert circuit.weight_shapes == {"a": (2, 3), "b": (4,), "a_1": (1,)}
    assert circuit.weight_offsets == {"a": 0, "b": 6, "a_1": 10}
    assert circuit.n_weights == 11
    with pytest.raises(IndexError):
        first.index(2, 0)


def test_pack_and_unpack_weights() -> None:
    circuit = Circuit(2)
    circuit.new_weights((2, 2), "a")
    circuit.rx(0, weight=5)  # a raw index beyond the blocks extends the vector
    circuit.new_weights(3, "b")
    assert circuit.weight_offsets["b"] == 6 and circuit.n_weights == 9
    a = torch.arange(4.0).reshape(2, 2).requires_grad_()
    b = torch.tensor([7.0, 8.0, 9.0])
    flat = circuit.pack_weights({"a": a, "b": b})
    assert flat.tolist() == [0, 1, 2, 3, 0, 0, 7, 8, 9]
    flat.sum().backward()
    assert a.grad.tolist() == [[1, 1], [1, 1]]
    views = circuit.unpack_weights(flat.detach())
    assert torch.equal(views["a"], a.detach()) and torch.equal(views["b"], b)
    with pytest.raises(ValueError, match="missing"):
        circuit.pack_weights({"a": a})
    with pytest.raises(ValueError, match="shape"):
        circuit.pack_weights({"a": b, "b": b})


def test_strongly_entangling_layout_is_pennylane_order() -> None:
    n, layers = 3, 2
    circuit = Circuit(n).append(StronglyEntanglingLayers(layers))
    block = circuit.weight_blocks["StronglyEntanglingLayers"]
    assert block.shape == (layers, n, 3) and circuit.n_weights == layers * n * 3
    ops = iter(circuit.ops)
    for layer in range(layers):
        for wire in range(n):
            for k, opcode in enumerate((RZ, RY, RZ)):
                assert next(ops) == (opcode, wire, -1, WEIGHT, (layer * n + wire) * 3 + k)
        step = layer % (n - 1) + 1
        for wire in range(n):
            assert next(ops) == (CNOT, wire, (wire + step) % n, NONE, -1)
    assert next(ops, None) is None


def test_strongly_entangling_custom_ranges_wires_and_one_wire() -> None:
    circuit = Circuit(4).append(StronglyEntanglingLayers(1, ranges=[2], wires=[3, 1, 0]))
    cnots = [op[1:3] for op in circuit.ops if op[0] == CNOT]
    assert cnots == [(3, 0), (1, 3), (0, 1)]
    single = Circuit(1).append(StronglyEntanglingLayers(2))
    assert [op[0] for op in single.ops] == [RZ, RY, RZ] * 2
    with pytest.raises(ValueError, match="ranges"):
        Circuit(3).append(StronglyEntanglingLayers(1, ranges=[3]))
    with pytest.raises(ValueError, match="ranges"):
        Circuit(3).append(StronglyEntanglingLayers(2, ranges=[1]))


@pytest.mark.parametrize(("n", "ring"), [(1, []), (2, [(0, 1)]), (3, [(0, 1), (1, 2), (2, 0)])])
def test_basic_entangler_layout(n: int, ring: list[tuple[int, int]]) -> None:
    circuit = Circuit(n).append(BasicEntanglerLayers(2, rotation="Y"))
    assert circuit.weight_shapes == {"BasicEntanglerLayers": (2, n)}
    expected = []
    for layer in range(2):
        expected += [(RY, w, -1, WEIGHT, layer * n + w) for w in range(n)]
        expected += [(CNOT, a, b, NONE, -1) for a, b in ring]
    assert circuit.ops == expected


def test_angle_embedding_columns_and_reuse() -> None:
    circuit = Circuit(3).append(AngleEmbedding("Z"))
    assert circuit.ops == [(RZ, w, -1, INPUT, w) for w in range(3)]
    circuit.append(AngleEmbedding("Z"))
    assert circuit.ops[3:] == circuit.ops[:3] and circuit.n_inputs == 3
    custom = Circuit(3).append(AngleEmbedding("X", wires=[2, 0], columns=[5, 1]))
    assert custom.ops == [(RX, 2, -1, INPUT, 5), (RX, 0, -1, INPUT, 1)]
    assert custom.n_inputs == 6
    with pytest.raises(ValueError, match="columns"):
        Circuit(3).append(AngleEmbedding(columns=[0, 1]))
    with pytest.raises(ValueError, match="rotation"):
        AngleEmbedding("W")


def test_data_reuploading_reuses_inputs_and_gets_fresh_weights() -> None:
    circuit = Circuit(2).append(
        DataReuploading(AngleEmbedding("Y"), StronglyEntanglingLayers(1), n_repeats=3)
    )
    assert circuit.n_inputs == 2
    assert circuit.weight_offsets == {
        "StronglyEntanglingLayers": 0,
        "StronglyEntanglingLayers_1": 6,
        "StronglyEntanglingLayers_2": 12,
    }
    inputs_read = [op[4] for op in circuit.ops if op[3] == INPUT]
    assert inputs_read == [0, 1] * 3


def test_readouts_from_strings_and_wire_lists() -> None:
    circuit = Circuit(3).measure_expval(["Z0", "Z1", "Z0Z2", [1, 2], "I", "", "Z2 Z0", "Z0@Z1"])
    assert circuit.z_masks == [0b001, 0b010, 0b101, 0b110, 0, 0, 0b101, 0b011]
    assert circuit.readout.names[:3] == ("Z0", "Z1", "Z0Z2")
    assert circuit.readout.kind == "expval"
    assert circuits.expval("Z1").z_masks == (2,)
    assert circuit.measure_probs().readout == circuits.probs()
    with pytest.raises(ValueError, match="expval readout"):
        _ = circuit.z_masks


@pytest.mark.parametrize("bad", [["Z3"], ["X0"], ["Z0Z0"], [[0, 0]], ["Z"], [[-1]]])
def test_bad_readouts(bad: list) -> None:
    with pytest.raises(ValueError):
        Circuit(3).measure_expval(bad)


def test_int_observable_is_ambiguous() -> None:
    with pytest.raises(TypeError):
        Circuit(3).measure_expval([3])


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda c: c.h(3), "wire0=3 is out of range"),
        (lambda c: c.h(-1), "out of range"),
        (lambda c: c.cnot(1, 1), "distinct"),
        (lambda c: c.cz(0, 5), "wire1=5"),
        (lambda c: c.rx(0), "exactly one"),
        (lambda c: c.rx(0, input=0, weight=1), "exactly one"),
        (lambda c: c.ry(0, weight=-1), "non-negative"),
        (lambda c: c.add(Opcode.RZ, 0), "needs a parameter"),
        (lambda c: c.add(Opcode.H, 0, ParamSource.WEIGHT, 0), "fixed gate"),
        (lambda c: c.add(Opcode.RZ, 0, ParamSource.CONSTANT, 0), "constant index"),
        (lambda c: c.add(Opcode.H, (0, 1)), "must be -1"),
        (lambda c: c.add(Opcode.H, (0, -1)), "acts on 1"),
        (lambda c: c.add(Opcode.CNOT, 0), "out of range"),
        (lambda c: c.add(42, 0), "unknown opcode"),
        (lambda c: c.add(Opcode.RX, 0, 7, 0), "param_source=7"),
        (lambda c: c.rz(0, constant=float("nan")), "not finite"),
    ],
)
def test_bad_operations_are_refused(build, message: str) -> None:
    circuit = Circuit(3)
    with pytest.raises(ValueError, match=message):
        build(circuit)
    assert circuit.program == [] and circuit.constants == []


@pytest.mark.parametrize("n", [0, -2])
def test_bad_qubit_count(n: int) -> None:
    with pytest.raises(ValueError, match="n_qubits"):
        Circuit(n)


def test_from_program_round_trip() -> None:
    original = random_circuit(3, 40, n_inputs=2, n_weights=3, rng=np.random.default_rng(0))
    copy = Circuit.from_program(3, original.program, original.constants)
    assert copy.program == original.program and copy.constants == original.constants
    with pytest.raises(ValueError, match="constants"):
        Circuit.from_program(1, [Opcode.RX, 0, -1, CONSTANT, 0])


def test_random_circuit_covers_every_gate() -> None:
    circuit = random_circuit(2, 15, n_inputs=1, n_weights=2, rng=np.random.default_rng(1))
    assert sorted({op[0] for op in circuit.ops}) == UNITARY_OPCODES
    assert circuit.n_weights == 2
    one_wire = random_circuit(1, 30, n_inputs=0, n_weights=0, rng=np.random.default_rng(2))
    assert all(not is_two_qubit(op[0]) for op in one_wire.ops)
    assert {op[3] for op in one_wire.ops if takes_parameter(op[0])} == {CONSTANT}


# --------------------------------------------------------------------- amplitude embedding
def test_amplitude_embedding_pads_and_normalises() -> None:
    features = torch.tensor([[3.0, 4.0, 0.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
    state = AmplitudeEmbedding(features, 2)
    assert state.shape == (2, 4) and state.dtype == torch.float64
    torch.testing.assert_close(state[0], torch.tensor([0.6, 0.8, 0, 0], dtype=torch.float64))
    torch.testing.assert_close(state.norm(dim=1), torch.ones(2, dtype=torch.float64))
    padded = AmplitudeEmbedding(features, 2, normalize=False, pad_with=2.0)
    assert padded[1].tolist() == [1.0, 1.0, 1.0, 2.0]


def test_amplitude_embedding_is_differentiable() -> None:
    features = torch.tensor([[3.0, 4.0]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda f: AmplitudeEmbedding(f, 1), (features,))


def test_amplitude_embedding_errors() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        AmplitudeEmbedding(torch.ones(1, 5), 2)
    with pytest.raises(ValueError, match="pad_with=None"):
        AmplitudeEmbedding(torch.ones(1, 3), 2, pad_with=None)
    with pytest.raises(ValueError, match="norm 0"):
        AmplitudeEmbedding(torch.zeros(1, 4), 2)
    with pytest.raises(ValueError, match=r"\[B, F\]"):
        AmplitudeEmbedding(torch.ones(4), 2)


@pytest.mark.parametrize("n_qubits", [1, 2, 4])
def test_random_circuit_reads_every_input_and_weight(n_qubits: int) -> None:
    for seed in range(5):
        circuit = random_circuit(
            n_qubits, 15 + 3 + 5, n_inputs=3, n_weights=5, rng=np.random.default_rng(seed)
        )
        assert {op[4] for op in circuit.ops if op[3] == INPUT} == {0, 1, 2}
        assert {op[4] for op in circuit.ops if op[3] == WEIGHT} == set(range(5))
        assert len(circuit) == 23
