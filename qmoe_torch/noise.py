"""Noise models: channels placed in a circuit, readout bit flips, and finite shots.

A :class:`NoiseModel` turns a circuit into a noisy one (``model.apply(circuit)``): its
channels go at named points of the circuit (see :meth:`Circuit.mark`: ``"embedding"``,
``"layer"``, ``"ansatz"``, ``"template"``, or your own), or after every gate on the wires the
gate touches (``at="gate"``). A program with channels runs on the density-matrix engine (the
ops choose it), exactly. Readout error and shots act on the measured distribution: see
:func:`measure`, which :class:`~qmoe_torch.QuantumGate` calls when its noise model has them.

Example (the paper's noisy router: depolarizing noise after the embedding and after the
ansatz)::

    noise = NoiseModel.depolarizing(0.05, at="template")
    noisy = noise.apply(circuit)
    values = measure(noisy, inputs, weights, noise=noise)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

import torch

from . import ops
from .circuits import Circuit
from .opcodes import Opcode, is_channel
from .readout import ReadoutError, check_probability
from .shots import estimate_with_shots

# ReadoutError is defined with the readouts, below shots.py, which applies it too (shots
# cannot import this module, which imports shots); it is part of the noise API and stays
# importable as qmoe_torch.noise.ReadoutError.
__all__ = ["CHANNEL_OPCODES", "Channel", "ChannelName", "NoiseModel", "ReadoutError", "measure"]

ChannelName = Literal["depolarizing", "amplitude_damping", "phase_damping", "bit_flip"]

CHANNEL_OPCODES: dict[str, Opcode] = {
    "depolarizing": Opcode.DEPOLARIZING,
    "amplitude_damping": Opcode.AMPLITUDE_DAMPING,
    "phase_damping": Opcode.PHASE_DAMPING,
    "bit_flip": Opcode.BIT_FLIP,
}


@dataclasses.dataclass(frozen=True)
class Channel:
    """One single-wire channel, PennyLane's Kraus operators (see docs/program.md)."""

    name: ChannelName
    p: float

    def __post_init__(self) -> None:
        if self.name not in CHANNEL_OPCODES:
            raise ValueError(
                f"Channel: name={self.name!r}, expected one of {sorted(CHANNEL_OPCODES)}"
            )
        object.__setattr__(self, "p", check_probability(f"Channel({self.name}).p", self.p))

    @property
    def opcode(self) -> Opcode:
        return CHANNEL_OPCODES[self.name]


@dataclasses.dataclass(frozen=True)
class NoiseModel:
    """Where channels go, plus readout error and shots.

    Args:
        channels: applied in order at every point, on every wire of ``wires`` (all wires when
            None); at ``"gate"`` points, on the wires of the gate just applied.
        at: a mark name or names (``"template"``: after each appended template, e.g. the
            paper's "after the embedding and after the ansatz"; ``"layer"``: after each
            entangling layer; ``"embedding"``; ``"ansatz"``; custom marks), or ``"gate"``.
        readout_error: bit flips of the measured wires, applied to the probabilities.
        shots: finite-shot estimates (multinomial sampling) instead of exact values; their
            gradients use the shot-based parameter-shift rule.
        seed: seeds the sampling generator of a module that owns this model (QuantumGate);
            None: the global torch generator.
    """

    channels: tuple[Channel, ...] = ()
    at: str | tuple[str, ...] = "template"
    wires: tuple[int, ...] | None = None
    readout_error: ReadoutError | None = None
    shots: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        channels = (self.channels,) if isinstance(self.channels, Channel) else tuple(self.channels)
        for channel in channels:
            if not isinstance(channel, Channel):
                raise TypeError(f"NoiseModel: channels must be Channel objects, got {channel!r}")
        object.__setattr__(self, "channels", channels)
        at = (self.at,) if isinstance(self.at, str) else tuple(self.at)
        if not at or any(not isinstance(name, str) or not name for name in at):
            raise ValueError(f"NoiseModel: at={self.at!r} must name one or more points")
        object.__setattr__(self, "at", at)
        if self.wires is not None:
            object.__setattr__(self, "wires", tuple(int(w) for w in self.wires))
        if self.shots is not None and (int(self.shots) != self.shots or self.shots < 1):
            raise ValueError(f"NoiseModel: shots={self.shots} must be a positive integer")

    @classmethod
    def depolarizing(cls, p: float, **kwargs) -> NoiseModel:
        """Depolarizing noise of probability ``p`` (the paper's noise); other fields as given."""
        return cls(channels=(Channel("depolarizing", p),), **kwargs)

    @property
    def has_channels(self) -> bool:
        return bool(self.channels)

    @property
    def changes_measurement(self) -> bool:
        """Readout error or shots: the circuit is measured through :func:`measure`."""
        return self.readout_error is not None or self.shots is not None

    def apply(self, circuit: Circuit) -> Circuit:
        """The circuit with this model's channels inserted (weights and readout unchanged)."""
        if not self.channels:
            return circuit
        wires = list(range(circuit.n_qubits)) if self.wires is None else list(self.wires)
        for wire in wires:
            if not 0 <= wire < circuit.n_qubits:
                raise ValueError(f"NoiseModel: wire {wire} is outside 0..{circuit.n_qubits - 1}")
        after_gates = "gate" in self.at
        names = set(self.at) - {"gate"}
        known = {name for name, _ in circuit.marks}
        missing = names - known
        if missing:
            raise ValueError(
                f"NoiseModel: the circuit has no point named {sorted(missing)} "
                f"(its marks: {sorted(known)}; or use at='gate')"
            )
        positions = sorted({position for name, position in circuit.marks if name in names})
        ops = circuit.ops

        def add_channels(copy: Circuit, on_wires: Sequence[int]) -> None:
            for wire in on_wires:
                for channel in self.channels:
                    index = copy.add_constant(channel.p)
                    copy.add(channel.opcode, wire, 3, index)

        def insert(copy: Circuit, position: int) -> None:
            if after_gates and position > 0:
                opcode, wire0, wire1 = ops[position - 1][:3]
                if not is_channel(opcode):
                    gate_wires = [wire0] if wire1 < 0 else [wire0, wire1]
                    add_channels(copy, [w for w in gate_wires if w in wires])
            if position in positions:
                add_channels(copy, wires)

        return circuit.copy_with(insert)


def _readout_signs(circuit: Circuit, like: torch.Tensor) -> torch.Tensor:
    """``[2**n, n_masks]`` eigenvalues of each Z string on each basis state."""
    n = circuit.n_qubits
    basis = torch.arange(1 << n, device=like.device)
    columns = []
    for mask in circuit.z_masks:
        bits = sum(1 << (n - 1 - w) for w in range(n) if mask >> w & 1)
        parity = torch.zeros_like(basis)
        value = basis & bits
        while bool(value.any()):
            parity ^= value & 1
            value = value >> 1
        columns.append(1 - 2 * parity)
    return torch.stack(columns, dim=1).to(like.dtype)


def measure(
    circuit: Circuit,
    inputs: torch.Tensor,
    weights: torch.Tensor,
    *,
    noise: NoiseModel | None = None,
    generator: torch.Generator | None = None,
    initial_state: torch.Tensor | None = None,
    diff_method: ops.DiffMethod = "adjoint",
) -> torch.Tensor:
    """The circuit's readout with the noise model's readout error and shots.

    ``circuit`` should already hold the model's channels (``noise.apply(circuit)``). Exact
    values (``shots=None``) are differentiated by ``diff_method``; shot estimates by the
    shot-based parameter-shift rule, with samples drawn from ``generator`` (default: the
    global torch generator), so a seeded generator gives the same numbers.
    """
    if circuit.readout is None:
        raise ValueError(
            "measure: the circuit has no readout (call measure_expval or measure_probs)"
        )
    readout_error = noise.readout_error if noise is not None else None
    shots = noise.shots if noise is not None else None
    if readout_error is None and shots is None:
        return ops.run(
            circuit, inputs, weights, initial_state=initial_state, diff_method=diff_method
        )
    signs = None if circuit.readout.kind == "probs" else _readout_signs(circuit, inputs)
    if shots is not None:
        return estimate_with_shots(
            circuit,
            inputs,
            weights,
            shots=int(shots),
            readout_error=readout_error,
            signs=signs,
            generator=generator,
            initial_state=initial_state,
        )
    probs = ops.probs(
        inputs,
        weights,
        circuit.program,
        circuit.n_qubits,
        initial_state=initial_state,
        constants=circuit.constants,
        diff_method=diff_method,
    )
    probs = readout_error.apply(probs)
    return probs if signs is None else probs @ signs
