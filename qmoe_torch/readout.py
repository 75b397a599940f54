"""Diagonal readouts: Pauli-Z string expectation values and basis-state probabilities, and
the readout error (bit flips of the measured wires) applied to those probabilities."""

from __future__ import annotations

import dataclasses
import math
import operator
import re
from collections.abc import Iterable, Sequence
from typing import Literal

import torch

_Z_STRING = re.compile(r"Z(\d+)")
_SEPARATORS = re.compile(r"[\s@*]+")

Observable = str | Sequence[int]
"""A Z string such as ``"Z0Z2"`` (``"I"`` or ``""`` is the identity) or a list of wires."""


@dataclasses.dataclass(frozen=True)
class Readout:
    """What a circuit measures.

    ``kind == "expval"``: one expectation value per Z string, ``z_masks[k]`` has bit ``w``
    set when Pauli-Z on wire ``w`` is in the k-th product. ``kind == "probs"``: the
    basis-state probabilities (``z_masks`` is empty).
    """

    kind: Literal["expval", "probs"]
    z_masks: tuple[int, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The Z strings measured, as ``"Z0Z2"`` (``"I"`` for the identity)."""
        return tuple(mask_name(mask) for mask in self.z_masks)

    def check_wires(self, n_qubits: int) -> None:
        """Raise ValueError if a Z string names a wire outside ``0..n_qubits-1``."""
        for name, mask in zip(self.names, self.z_masks, strict=True):
            if mask >> n_qubits:
                raise ValueError(f"readout {name!r} names a wire outside 0..{n_qubits - 1}")


def mask_name(mask: int) -> str:
    """The Z string of a mask: ``0b101 -> "Z0Z2"``, ``0 -> "I"``."""
    wires = [w for w in range(mask.bit_length()) if mask >> w & 1]
    return "".join(f"Z{w}" for w in wires) or "I"


def wires_to_mask(wires: Iterable[int]) -> int:
    """Bit mask with bit ``w`` set for every wire ``w``; a repeated wire is an error."""
    mask = 0
    for wire in wires:
        wire = operator.index(wire)
        if wire < 0:
            raise ValueError(f"wire {wire} is negative")
        if mask >> wire & 1:
            raise ValueError(f"wire {wire} appears twice in one Z string")
        mask |= 1 << wire
    return mask


def parse_z_string(text: str) -> int:
    """Mask of a Z string: ``"Z0Z2"``, ``"Z0 Z2"`` or ``"Z0@Z2"``; ``"I"`` or ``""`` is 0."""
    compact = _SEPARATORS.sub("", text)
    if compact in ("", "I"):
        return 0
    if _Z_STRING.sub("", compact) != "":
        raise ValueError(f"cannot parse Z string {text!r}: expected terms like 'Z0Z2'")
    return wires_to_mask(int(w) for w in _Z_STRING.findall(compact))


def observable_to_mask(observable: Observable) -> int:
    """Mask of one observable given as a Z string or as a list of wires."""
    if isinstance(observable, str):
        return parse_z_string(observable)
    if isinstance(observable, int):
        # An int is ambiguous (a wire or a mask?), so it is refused rather than guessed.
        raise TypeError(f"observable {observable!r}: give a Z string like 'Z0' or a wire list")
    return wires_to_mask(observable)


def expval(observables: Iterable[Observable]) -> Readout:
    """Expectation-value readout of Pauli-Z strings, e.g. ``expval(["Z0", "Z1", "Z0Z1"])``."""
    if isinstance(observables, str):
        observables = [observables]
    return Readout("expval", tuple(observable_to_mask(o) for o in observables))


def probs() -> Readout:
    """Basis-state probability readout, ``[B, 2**n]`` with wire 0 the most significant bit."""
    return Readout("probs")


def check_probability(name: str, value: float) -> float:
    """``value`` as a float, raising ValueError naming ``name`` unless it lies in [0, 1]."""
    value = float(value)
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name}={value} must be a probability in [0, 1]")
    return value


@dataclasses.dataclass(frozen=True)
class ReadoutError:
    """Independent bit flips of each measured wire: ``p01`` = P(read 1 | state 0),
    ``p10`` = P(read 0 | state 1). Symmetric when both are equal."""

    p01: float = 0.0
    p10: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "p01", check_probability("ReadoutError.p01", self.p01))
        object.__setattr__(self, "p10", check_probability("ReadoutError.p10", self.p10))

    @classmethod
    def symmetric(cls, p: float) -> ReadoutError:
        return cls(p, p)

    def confusion(self, like: torch.Tensor) -> torch.Tensor:
        """``M[read, state]`` for one wire, in the dtype and device of ``like``."""
        return torch.tensor(
            [[1 - self.p01, self.p10], [self.p01, 1 - self.p10]],
            dtype=like.dtype,
            device=like.device,
        )

    def apply(self, probs: torch.Tensor) -> torch.Tensor:
        """Measured distribution ``[B, 2**n]`` from the true one (differentiable)."""
        batch, dim = probs.shape
        n_qubits = dim.bit_length() - 1
        if dim != 1 << n_qubits:
            raise ValueError(
                f"ReadoutError.apply: probs must be [B, 2**n], got {list(probs.shape)}"
            )
        confusion = self.confusion(probs)
        state = probs.reshape(batch, *([2] * n_qubits))
        for wire in range(n_qubits):
            state = torch.movedim(
                torch.tensordot(state, confusion, dims=([wire + 1], [1])), -1, wire + 1
            )
        return state.reshape(batch, dim)
