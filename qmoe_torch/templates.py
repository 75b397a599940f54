"""Circuit templates with PennyLane's semantics, and amplitude embedding of features.

A template is a small frozen description applied with ``circuit.append(template)``; it
allocates its own weight block (named after the template) each time it is applied, so a
template object can be reused, e.g. for data re-uploading.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal, Protocol

import torch

from qmoe_torch.layout import WeightBlock
from qmoe_torch.opcodes import Opcode, ParamSource

Axis = Literal["X", "Y", "Z"]
_ROTATION = {"X": Opcode.RX, "Y": Opcode.RY, "Z": Opcode.RZ}


class CircuitBuilder(Protocol):
    """What a template uses of a circuit; :class:`~qmoe_torch.circuits.Circuit` is one.

    Templates are written against this, not against ``Circuit``: ``circuits`` builds on the
    templates and re-exports them, so this module has to sit below it rather than import it.
    """

    n_qubits: int

    def add(
        self, opcode: int, wires: int | Sequence[int], source: int = ..., index: int = ...
    ) -> object: ...

    def cnot(self, control: int, target: int) -> object: ...

    def mark(self, name: str) -> object: ...

    def new_weights(self, shape: int | Sequence[int], name: str | None = None) -> WeightBlock: ...


class Template(Protocol):
    """Anything that appends operations to a circuit."""

    def apply(self, circuit: CircuitBuilder) -> None:
        """Append this template's operations (and weight block, if any) to ``circuit``."""


def _rotation_opcode(rotation: str) -> Opcode:
    if rotation not in _ROTATION:
        raise ValueError(f"rotation must be 'X', 'Y' or 'Z', got {rotation!r}")
    return _ROTATION[rotation]


def _wires(circuit: CircuitBuilder, wires: Sequence[int] | None) -> list[int]:
    chosen = list(range(circuit.n_qubits)) if wires is None else [int(w) for w in wires]
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"wires {chosen} repeat a wire")
    if not chosen:
        raise ValueError("a template needs at least one wire")
    return chosen


@dataclasses.dataclass(frozen=True)
class AngleEmbedding:
    """One rotation per wire whose angle is a feature: ``R(inputs[b, columns[i]])`` on
    ``wires[i]``.

    Defaults: every wire of the circuit, feature ``i`` on wire ``i``. Applying the same
    embedding again reads the same columns (data re-uploading).
    """

    rotation: Axis = "X"
    wires: Sequence[int] | None = None
    columns: Sequence[int] | None = None

    def __post_init__(self) -> None:
        _rotation_opcode(self.rotation)

    def apply(self, circuit: CircuitBuilder) -> None:
        """Append the embedding rotations."""
        wires = _wires(circuit, self.wires)
        columns = list(range(len(wires))) if self.columns is None else list(self.columns)
        if len(columns) != len(wires):
            raise ValueError(f"AngleEmbedding: {len(columns)} columns for {len(wires)} wires")
        opcode = _rotation_opcode(self.rotation)
        for wire, column in zip(wires, columns, strict=True):
            circuit.add(opcode, wire, ParamSource.INPUT, column)
        circuit.mark("embedding")


@dataclasses.dataclass(frozen=True)
class StronglyEntanglingLayers:
    """PennyLane's StronglyEntanglingLayers; weights of shape ``(n_layers, n_wires, 3)``.

    Layer ``l``: on each wire ``i``, Rot(phi, theta, omega) = RZ(omega) RY(theta) RZ(phi),
    i.e. program order RZ(w[l,i,0]), RY(w[l,i,1]), RZ(w[l,i,2]); then, with more than one
    wire, CNOT(wires[i], wires[(i + r_l) % n]) for every i, where by default
    ``r_l = l % (n - 1) + 1``. ``ranges`` overrides r_l (each in ``1..n-1``).
    """

    n_layers: int
    ranges: Sequence[int] | None = None
    wires: Sequence[int] | None = None
    name: str = "StronglyEntanglingLayers"

    def apply(self, circuit: CircuitBuilder) -> None:
        """Append the layers and allocate their weight block."""
        wires = _wires(circuit, self.wires)
        n = len(wires)
        if self.n_layers < 1:
            raise ValueError(f"n_layers={self.n_layers} must be at least 1")
        if self.ranges is None:
            ranges = [layer % (n - 1) + 1 if n > 1 else 0 for layer in range(self.n_layers)]
        else:
            ranges = [int(r) for r in self.ranges]
            if len(ranges) != self.n_layers:
                raise ValueError(f"{len(ranges)} ranges for {self.n_layers} layers")
            if n > 1 and any(not 1 <= r < n for r in ranges):
                raise ValueError(f"ranges {ranges} must lie in 1..{n - 1} for {n} wires")
        block = circuit.new_weights((self.n_layers, n, 3), self.name)
        for layer in range(self.n_layers):
            for i, wire in enumerate(wires):
                for k, opcode in enumerate((Opcode.RZ, Opcode.RY, Opcode.RZ)):
                    circuit.add(opcode, wire, ParamSource.WEIGHT, block.index(layer, i, k))
            if n > 1:
                for i in range(n):
                    circuit.cnot(wires[i], wires[(i + ranges[layer]) % n])
            circuit.mark("layer")
        circuit.mark("ansatz")


@dataclasses.dataclass(frozen=True)
class BasicEntanglerLayers:
    """PennyLane's BasicEntanglerLayers; weights of shape ``(n_layers, n_wires)``.

    Layer ``l``: ``rotation(w[l, i])`` on each wire, then a CNOT ring of range 1:
    none for one wire, a single CNOT(0, 1) for two, CNOT(i, (i + 1) % n) otherwise.
    """

    n_layers: int
    rotation: Axis = "X"
    wires: Sequence[int] | None = None
    name: str = "BasicEntanglerLayers"

    def __post_init__(self) -> None:
        _rotation_opcode(self.rotation)

    def apply(self, circuit: CircuitBuilder) -> None:
        """Append the layers and allocate their weight block."""
        wires = _wires(circuit, self.wires)
        n = len(wires)
        if self.n_layers < 1:
            raise ValueError(f"n_layers={self.n_layers} must be at least 1")
        opcode = _rotation_opcode(self.rotation)
        block = circuit.new_weights((self.n_layers, n), self.name)
        # Two wires would otherwise get CNOT(0,1) and CNOT(1,0); PennyLane applies only one.
        ring = [] if n == 1 else [(0, 1)] if n == 2 else [(i, (i + 1) % n) for i in range(n)]
        for layer in range(self.n_layers):
            for i, wire in enumerate(wires):
                circuit.add(opcode, wire, ParamSource.WEIGHT, block.index(layer, i))
            for a, b in ring:
                circuit.cnot(wires[a], wires[b])
            circuit.mark("layer")
        circuit.mark("ansatz")


@dataclasses.dataclass(frozen=True)
class DataReuploading:
    """``n_repeats`` times: the embedding (same input columns each time), then the
    trainable block (fresh weights each time, blocks named ``name``, ``name_1``, ...)."""

    embedding: Template
    trainable: Template
    n_repeats: int

    def apply(self, circuit: CircuitBuilder) -> None:
        """Append the alternating embedding / trainable blocks."""
        if self.n_repeats < 1:
            raise ValueError(f"n_repeats={self.n_repeats} must be at least 1")
        for _ in range(self.n_repeats):
            self.embedding.apply(circuit)
            self.trainable.apply(circuit)


def amplitude_embedding(
    features: torch.Tensor,
    n_qubits: int,
    *,
    normalize: bool = True,
    pad_with: float | None = 0.0,
) -> torch.Tensor:
    """Initial state ``[B, 2**n_qubits]`` whose amplitudes are the features ``[B, F]``.

    Features shorter than ``2**n_qubits`` are padded with ``pad_with`` (``None`` demands
    ``F == 2**n_qubits``). With ``normalize`` each row is divided by its norm in PyTorch,
    so gradients flow through the normalisation; a zero row is then a ValueError. Without
    it the rows are used as given (the engines accept unnormalised states). Real features
    give a real state; pass it as ``initial_state`` to any engine.
    """
    if features.dim() != 2:
        raise ValueError(f"features must be [B, F], got shape {list(features.shape)}")
    dim = 2**n_qubits
    n_features = features.shape[1]
    if n_features > dim:
        raise ValueError(
            f"{n_features} features do not fit in {n_qubits} qubits ({dim} amplitudes)"
        )
    if n_features < dim:
        if pad_with is None:
            raise ValueError(f"{n_features} features for {dim} amplitudes and pad_with=None")
        padding = features.new_full((features.shape[0], dim - n_features), pad_with)
        features = torch.cat([features, padding], dim=1)
    if not normalize:
        return features
    norms = torch.linalg.vector_norm(features, dim=1, keepdim=True)
    if bool((norms == 0).any()):
        raise ValueError("AmplitudeEmbedding: a feature row has norm 0 and cannot be normalised")
    return features / norms


AmplitudeEmbedding = amplitude_embedding
"""PennyLane's name for :func:`amplitude_embedding`."""
