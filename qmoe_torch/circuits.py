"""Circuit builder: gates, templates and readouts compiled to the flat program.

A :class:`Circuit` is a list of operations in the format of ``docs/program.md``, plus the
constants it references, the layout of its shared weight vector, and an optional default
readout. Every engine (the plain-PyTorch reference, the C++ and CUDA kernels) consumes
``circuit.program``.

Example::

    circuit = Circuit(3)
    circuit.append(AngleEmbedding("Y"))
    circuit.append(StronglyEntanglingLayers(2))
    circuit.measure_expval(["Z0", "Z1", "Z0Z2"])
    # inputs [B, circuit.n_inputs], weights [circuit.n_weights]
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch

from qmoe_torch.layout import WeightBlock
from qmoe_torch.opcodes import Opcode, ParamSource
from qmoe_torch.program import Op, check_n_qubits, decode_op, parse_program
from qmoe_torch.qasm import program_to_qasm
from qmoe_torch.readout import Observable, Readout, expval, probs
from qmoe_torch.templates import (
    AmplitudeEmbedding,
    AngleEmbedding,
    BasicEntanglerLayers,
    DataReuploading,
    StronglyEntanglingLayers,
    Template,
    amplitude_embedding,
)

__all__ = [
    "AmplitudeEmbedding",
    "AngleEmbedding",
    "BasicEntanglerLayers",
    "Circuit",
    "DataReuploading",
    "Readout",
    "StronglyEntanglingLayers",
    "Template",
    "WeightBlock",
    "amplitude_embedding",
    "expval",
    "probs",
]


def _int_or_list(values: int | Iterable[int]) -> list[int]:
    try:
        return [operator.index(values)]
    except TypeError:
        return [operator.index(v) for v in values]


def _param(
    input: int | None, weight: int | None, constant: float | None
) -> tuple[ParamSource, int | float]:
    given = [
        (s, v)
        for s, v in (
            (ParamSource.INPUT, input),
            (ParamSource.WEIGHT, weight),
            (ParamSource.CONSTANT, constant),
        )
        if v is not None
    ]
    if len(given) != 1:
        raise ValueError(
            "a parameterised operation needs exactly one of input=<column>, "
            f"weight=<index>, constant=<value>; got {len(given)}"
        )
    return given[0]


class Circuit:
    """Builder of a flat circuit program on ``n_qubits`` wires (wire 0 = most significant bit).

    Gate methods return the circuit so calls can be chained. Rotations and channels take
    exactly one parameter source: ``input=<column>`` (per-sample angle ``inputs[b, column]``),
    ``weight=<index>`` (shared angle ``weights[index]``) or ``constant=<value>``.
    """

    def __init__(self, n_qubits: int) -> None:
        self.n_qubits: int = check_n_qubits(n_qubits)
        self.readout: Readout | None = None
        self._ops: list[Op] = []
        self._constants: list[float] = []
        self._blocks: dict[str, WeightBlock] = {}
        self._next_weight = 0
        self._marks: list[tuple[str, int]] = []

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_program(
        cls, n_qubits: int, program: Iterable[int], constants: Sequence[float] = ()
    ) -> Circuit:
        """Circuit holding an existing flat program (validated) and its constants."""
        circuit = cls(n_qubits)
        circuit._constants = [float(c) for c in constants]
        for op in parse_program(program, n_qubits, n_constants=len(circuit._constants)):
            circuit.add(op.opcode, op.wires(), op.source, op.index)
        return circuit

    def add(
        self,
        opcode: int,
        wires: int | Sequence[int],
        source: int = ParamSource.NONE,
        index: int = -1,
    ) -> Circuit:
        """Append one operation in program terms; raises ValueError if it is not valid."""
        wire_list = _int_or_list(wires)
        if len(wire_list) not in (1, 2):
            raise ValueError(f"an operation acts on 1 or 2 wires, got {wire_list}")
        words = [opcode, wire_list[0], wire_list[1] if len(wire_list) == 2 else -1, source, index]
        op = decode_op(len(self._ops), words, self.n_qubits)
        if len(op.wires()) != len(wire_list):
            raise ValueError(f"{op.opcode.name} acts on {len(op.wires())} wire(s), got {wire_list}")
        if op.source == ParamSource.CONSTANT and op.index >= len(self._constants):
            raise ValueError(
                f"{op.opcode.name}: constant index {op.index} is out of range "
                f"({len(self._constants)} constants; use add_constant)"
            )
        self._ops.append(op)
        return self

    def add_constant(self, value: float) -> int:
        """Store a constant angle or probability and return its index."""
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"constant {value} is not finite")
        self._constants.append(value)
        return len(self._constants) - 1

    def new_weights(self, shape: int | Sequence[int], name: str | None = None) -> WeightBlock:
        """Allocate a contiguous block of shared weight indices, laid out row-major.

        The block starts at the current :attr:`n_weights`. A name already in use (or the
        default ``"weights"``) gets a suffix ``_1``, ``_2``, ... so templates can be applied
        repeatedly; the returned block says which name it got.
        """
        shape_tuple = tuple(_int_or_list(shape))
        if any(d < 0 for d in shape_tuple):
            raise ValueError(f"weight shape {shape_tuple} has a negative extent")
        base = name or "weights"
        unique = base
        suffix = 0
        while unique in self._blocks:
            suffix += 1
            unique = f"{base}_{suffix}"
        block = WeightBlock(unique, self.n_weights, shape_tuple)
        self._blocks[unique] = block
        self._next_weight = block.offset + block.size
        return block

    def append(self, template: Template) -> Circuit:
        """Apply a template (embedding, layers, ...) to the end of the circuit.

        Marks the point after it ``"template"``; the templates mark their own points too
        (``"embedding"``, ``"layer"`` after each entangling layer, ``"ansatz"``).
        """
        template.apply(self)
        return self.mark("template")

    def mark(self, name: str) -> Circuit:
        """Name the point after the operations so far (noise models place channels there)."""
        if not name:
            raise ValueError("a mark needs a non-empty name")
        self._marks.append((name, len(self._ops)))
        return self

    @property
    def marks(self) -> list[tuple[str, int]]:
        """Named points as ``(name, position)``: the mark follows the first ``position`` ops."""
        return list(self._marks)

    def copy_with(self, insert: Callable[[Circuit, int], None]) -> Circuit:
        """A copy (weight layout, constants, readout, marks) with operations inserted.

        ``insert(copy, i)`` is called before op ``i`` is copied and once more at the end
        (``i == len(self)``); whatever it appends to ``copy`` lands there. A mark at
        position ``i`` stays after the operations inserted at ``i``.
        """
        copy = Circuit(self.n_qubits)
        copy._constants = list(self._constants)
        copy._blocks = dict(self._blocks)
        copy._next_weight = self._next_weight
        copy.readout = self.readout
        marks = sorted(self._marks, key=lambda mark: mark[1])
        next_mark = 0
        for position in range(len(self._ops) + 1):
            insert(copy, position)
            while next_mark < len(marks) and marks[next_mark][1] == position:
                copy.mark(marks[next_mark][0])
                next_mark += 1
            if position < len(self._ops):
                copy._ops.append(self._ops[position])
        return copy

    def _rotation(
        self,
        opcode: Opcode,
        wires: Sequence[int],
        input: int | None,
        weight: int | None,
        constant: float | None,
    ) -> Circuit:
        source, value = _param(input, weight, constant)
        if source == ParamSource.CONSTANT:
            index = self.add_constant(value)
            try:
                return self.add(opcode, wires, source, index)
            except ValueError:
                self._constants.pop()
                raise
        return self.add(opcode, wires, source, operator.index(value))

    # ----------------------------------------------------------------- gates
    def h(self, wire: int) -> Circuit:
        """Hadamard."""
        return self.add(Opcode.H, wire)

    def x(self, wire: int) -> Circuit:
        """Pauli X."""
        return self.add(Opcode.X, wire)

    def y(self, wire: int) -> Circuit:
        """Pauli Y."""
        return self.add(Opcode.Y, wire)

    def z(self, wire: int) -> Circuit:
        """Pauli Z."""
        return self.add(Opcode.Z, wire)

    def s(self, wire: int) -> Circuit:
        """Phase gate diag(1, i)."""
        return self.add(Opcode.S, wire)

    def t(self, wire: int) -> Circuit:
        """T gate diag(1, exp(i pi/4))."""
        return self.add(Opcode.T, wire)

    def cnot(self, control: int, target: int) -> Circuit:
        """Controlled NOT."""
        return self.add(Opcode.CNOT, (control, target))

    def cz(self, wire0: int, wire1: int) -> Circuit:
        """Controlled Z."""
        return self.add(Opcode.CZ, (wire0, wire1))

    def swap(self, wire0: int, wire1: int) -> Circuit:
        """Swap two wires."""
        return self.add(Opcode.SWAP, (wire0, wire1))

    def rx(
        self,
        wire: int,
        *,
        input: int | None = None,
        weight: int | None = None,
        constant: float | None = None,
    ) -> Circuit:
        """RX(t) = exp(-i t/2 X)."""
        return self._rotation(Opcode.RX, (wire,), input, weight, constant)

    def ry(
        self,
        wire: int,
        *,
        input: int | None = None,
        weight: int | None = None,
        constant: float | None = None,
    ) -> Circuit:
        """RY(t) = exp(-i t/2 Y)."""
        return self._rotation(Opcode.RY, (wire,), input, weight, constant)

    def rz(
        self,
        wire: int,
        *,
        input: int | None = None,
        weight: int | None = None,
        constant: float | None = None,
    ) -> Circuit:
        """RZ(t) = exp(-i t/2 Z)."""
        return self._rotation(Opcode.RZ, (wire,), input, weight, constant)

    def ising_xx(
        self,
        wire0: int,
        wire1: int,
        *,
        input: int | None = None,
        weight: int | None = None,
        constant: float | None = None,
    ) -> Circuit:
        """IsingXX(t) = exp(-i t/2 X x X)."""
        return self._rotation(Opcode.ISING_XX, (wire0, wire1), input, weight, constant)

    def ising_yy(
        self,
        wire0: int,
        wire1: int,
        *,
        input: int | None = None,
        weight: int | None = None,
        constant: float | None = None,
    ) -> Circuit:
        """IsingYY(t) = exp(-i t/2 Y x Y)."""
        return self._rotation(Opcode.ISING_YY, (wire0, wire1), input, weight, constant)

    def ising_zz(
        self,
        wire0: int,
        wire1: int,
        *,
        input: int | None = None,
        weight: int | None = None,
        constant: float | None = None,
    ) -> Circuit:
        """IsingZZ(t) = exp(-i t/2 Z x Z)."""
        return self._rotation(Opcode.ISING_ZZ, (wire0, wire1), input, weight, constant)

    def depolarizing(
        self,
        wire: int,
        *,
        input: int | None = None,
        weight: int | None = None,
        constant: float | None = None,
    ) -> Circuit:
        """Depolarizing channel with probability p (density-matrix engine only)."""
        return self._rotation(Opcode.DEPOLARIZING, (wire,), input, weight, constant)

    def amplitude_damping(
        self,
        wire: int,
        *,
        input: int | None = None,
        weight: int | None = None,
        constant: float | None = None,
    ) -> Circuit:
        """Amplitude damping channel with probability gamma (density-matrix engine only)."""
        return self._rotation(Opcode.AMPLITUDE_DAMPING, (wire,), input, weight, constant)

    def phase_damping(
        self,
        wire: int,
        *,
        input: int | None = None,
        weight: int | None = None,
        constant: float | None = None,
    ) -> Circuit:
        """Phase damping channel with probability gamma (density-matrix engine only)."""
        return self._rotation(Opcode.PHASE_DAMPING, (wire,), input, weight, constant)

    def bit_flip(
        self,
        wire: int,
        *,
        input: int | None = None,
        weight: int | None = None,
        constant: float | None = None,
    ) -> Circuit:
        """Bit-flip channel with probability p (density-matrix engine only)."""
        return self._rotation(Opcode.BIT_FLIP, (wire,), input, weight, constant)

    # ----------------------------------------------------------------- readouts
    def measure_expval(self, observables: Iterable[Observable]) -> Circuit:
        """Set the default readout to expectation values of Z strings (``"Z0Z1"`` or wires)."""
        readout = expval(observables)
        readout.check_wires(self.n_qubits)
        self.readout = readout
        return self

    def measure_probs(self) -> Circuit:
        """Set the default readout to basis-state probabilities."""
        self.readout = probs()
        return self

    @property
    def z_masks(self) -> list[int]:
        """Z masks of the default readout; ValueError unless it is an expval readout."""
        if self.readout is None or self.readout.kind != "expval":
            raise ValueError("the circuit has no expval readout (call measure_expval first)")
        return list(self.readout.z_masks)

    # ----------------------------------------------------------------- views
    @property
    def ops(self) -> list[tuple[int, int, int, int, int]]:
        """The operations as ``(opcode, wire0, wire1, param_source, param_index)`` tuples."""
        return [tuple(int(v) for v in op) for op in self._ops]

    @property
    def program(self) -> list[int]:
        """The flat program, ``OP_WIDTH`` (5) ints per operation."""
        return [int(v) for op in self._ops for v in op]

    @property
    def constants(self) -> list[float]:
        """Constant angles / probabilities referenced by ``param_source == CONSTANT``."""
        return list(self._constants)

    @property
    def n_weights(self) -> int:
        """Length of the flat weights vector: allocated blocks and every index referenced."""
        referenced = [op.index + 1 for op in self._ops if op.source == ParamSource.WEIGHT]
        return max([self._next_weight, *referenced])

    @property
    def n_inputs(self) -> int:
        """Number of input columns the program reads (largest column + 1; 0 if none)."""
        return max([0] + [op.index + 1 for op in self._ops if op.source == ParamSource.INPUT])

    @property
    def weight_blocks(self) -> dict[str, WeightBlock]:
        """Allocated weight blocks by name, in allocation order."""
        return dict(self._blocks)

    @property
    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of every weight block by name."""
        return {name: block.shape for name, block in self._blocks.items()}

    @property
    def weight_offsets(self) -> dict[str, int]:
        """Flat offset of every weight block by name."""
        return {name: block.offset for name, block in self._blocks.items()}

    def pack_weights(self, values: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Flat weights vector ``[n_weights]`` from one tensor per block (differentiable).

        Every block must be given with its exact shape; indices outside blocks are zero.
        """
        missing = set(self._blocks) - set(values)
        unknown = set(values) - set(self._blocks)
        if missing or unknown:
            raise ValueError(
                f"pack_weights: missing blocks {sorted(missing)}, unknown blocks {sorted(unknown)}"
            )
        pieces: list[torch.Tensor] = []
        position = 0
        for block in sorted(self._blocks.values(), key=lambda b: b.offset):
            value = torch.as_tensor(values[block.name])
            if tuple(value.shape) != block.shape:
                raise ValueError(
                    f"pack_weights: block {block.name!r} has shape {block.shape}, "
                    f"got {tuple(value.shape)}"
                )
            pieces.append(value.new_zeros(block.offset - position))
            pieces.append(value.reshape(-1))
            position = block.offset + block.size
        if not pieces:
            return torch.zeros(self.n_weights, dtype=torch.get_default_dtype())
        pieces.append(pieces[-1].new_zeros(self.n_weights - position))
        return torch.cat(pieces)

    def unpack_weights(self, weights: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of a flat weights vector, one per block, in the block's shape."""
        if weights.dim() != 1 or weights.shape[0] < self.n_weights:
            raise ValueError(
                f"weights must have shape [{self.n_weights}], got {list(weights.shape)}"
            )
        return {
            name: weights[block.offset : block.offset + block.size].reshape(block.shape)
            for name, block in self._blocks.items()
        }

    def to_qasm(
        self, inputs_row: Any = None, weights: Any = None, initial_state: Any = None
    ) -> str:
        """OpenQASM 3 text of the circuit for ONE sample, every angle a float64 literal.

        ``inputs_row`` is that sample's feature vector ``[F]``, ``weights`` the flat weights
        ``[n_weights]``. Uses stdgates.inc names; IsingXX/YY/ZZ become ``rxx``/``ryy``/``rzz``
        gates defined at the top in terms of stdgates. Ends with ``c = measure q;``
        (``c[w]`` is wire ``w``). Raises ValueError for noise channels (no gate form) and for
        an ``initial_state``: preparing an arbitrary state is not a fixed gate sequence, so
        prepend your own state-preparation circuit instead.
        """
        if initial_state is not None:
            raise ValueError(
                "to_qasm cannot express an initial_state: preparing an arbitrary "
                "state needs a state-preparation circuit, which qmoe does not emit"
            )
        return program_to_qasm(
            self.n_qubits, self._ops, self._constants, inputs_row, weights, self.readout
        )

    def __len__(self) -> int:
        return len(self._ops)

    def __repr__(self) -> str:
        return (
            f"Circuit(n_qubits={self.n_qubits}, n_ops={len(self._ops)}, "
            f"n_inputs={self.n_inputs}, n_weights={self.n_weights})"
        )
