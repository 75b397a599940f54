"""The systems ``bench_peers.py`` compares, behind one interface: qmoe itself, the plain
reference, and each peer simulator's own adapter module (``peer_*.py``).

Every system builds, for a :class:`CircuitSpec`, a :data:`Forward`: ``forward(x, w)`` with
``x`` the ``[B, n]`` RX angles and ``w`` the ``[layers * n * 3]`` StronglyEntanglingLayers
angles (qmoe's flat weight block; PennyLane's ``(layers, n, 3)`` reshaped), both float64
torch tensors, returning ``[B, n]`` ``<Z_w>`` differentiable by torch autograd w.r.t. both.
Inputs and outputs are torch tensors whatever the system computes in, because the cells
stand for a router inside a PyTorch model: converting in and out is part of the cost.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
from collections.abc import Callable

import torch
from cells import router_circuit

from qmoe_torch import density_reference, ops, reference
from qmoe_torch.circuits import AngleEmbedding, Circuit, StronglyEntanglingLayers

Forward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class Unsupported(Exception):
    """The system cannot run this cell; the message says why (it goes into the report)."""


@dataclasses.dataclass(frozen=True)
class CircuitSpec:
    """RX embedding of ``n_qubits`` features, [depolarizing(p) on every wire], ``n_layers``
    StronglyEntanglingLayers (PennyLane's default CNOT ranges), [depolarizing(p) again],
    ``<Z>`` on every wire. ``p=None``: no channels (a pure state)."""

    n_qubits: int
    n_layers: int = 3
    p: float | None = None

    @property
    def n_weights(self) -> int:
        return self.n_layers * self.n_qubits * 3

    def ranges(self) -> list[int]:
        """CNOT range of each layer: ``l % (n - 1) + 1`` (PennyLane's and qmoe's default)."""
        n = self.n_qubits
        return [layer % (n - 1) + 1 if n > 1 else 0 for layer in range(self.n_layers)]

    def cnots(self, layer: int) -> list[tuple[int, int]]:
        """(control, target) of the CNOTs closing ``layer``."""
        n = self.n_qubits
        if n == 1:
            return []
        r = self.ranges()[layer]
        return [(i, (i + r) % n) for i in range(n)]

    def circuit(self) -> Circuit:
        """The circuit in qmoe's builder."""
        if self.p is None:
            return router_circuit(self.n_qubits, self.n_layers)
        circuit = Circuit(self.n_qubits)
        circuit.append(AngleEmbedding("X"))
        for wire in range(self.n_qubits):
            circuit.depolarizing(wire, constant=self.p)
        circuit.append(StronglyEntanglingLayers(self.n_layers))
        for wire in range(self.n_qubits):
            circuit.depolarizing(wire, constant=self.p)
        circuit.measure_expval([f"Z{w}" for w in range(self.n_qubits)])
        return circuit


@dataclasses.dataclass(frozen=True)
class System:
    """One simulator setup as the report names it.

    ``module``: the module that must import for the system to exist here (qmoe_torch, or
    the peer's adapter, which imports the peer; its ``__version__`` goes into the report);
    ``build(spec, device)`` returns the forward or raises :class:`Unsupported`.
    ``devices``: the torch devices it can run on.
    """

    key: str
    label: str
    module: str
    build: Callable[[CircuitSpec, str], Forward]
    devices: tuple[str, ...] = ("cpu",)

    def version(self) -> str:
        """The package's version; raises whatever importing it raises."""
        module = importlib.import_module(self.module)
        if self.module == "qmoe_torch":
            return "qmoe " + importlib.metadata.version("qmoe")
        return str(module.__version__)


# ---------------------------------------------------------------------- qmoe and reference
def qmoe_forward(diff_method: str) -> Callable[[CircuitSpec, str], Forward]:
    def build(spec: CircuitSpec, device: str) -> Forward:
        circuit = spec.circuit()
        program, masks, constants = circuit.program, circuit.z_masks, circuit.constants

        def forward(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
            return ops.expval(
                x, w, program, spec.n_qubits, masks, constants=constants, diff_method=diff_method
            )

        return forward

    return build


def reference_forward(spec: CircuitSpec, device: str) -> Forward:
    circuit = spec.circuit()
    program, masks, constants = circuit.program, circuit.z_masks, circuit.constants
    engine = reference if spec.p is None else density_reference

    def forward(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return engine.expval(x, w, program, spec.n_qubits, masks, constants=constants)

    return forward


def lazy(module: str, function: str) -> Callable[[CircuitSpec, str], Forward]:
    """A peer's builder, imported only when the system is used (and only if it exists)."""

    def build(spec: CircuitSpec, device: str) -> Forward:
        return getattr(importlib.import_module(module), function)(spec, device)

    return build


def peer(key: str, label: str, module: str, function: str = "forward", devices=("cpu",)):
    return System(key, label, module, lazy(module, function), tuple(devices))


GPU = ("cpu", "cuda")
SYSTEMS: tuple[System, ...] = (
    System("qmoe-adjoint", "qmoe, adjoint", "qmoe_torch", qmoe_forward("adjoint"), GPU),
    System(
        "qmoe-shift",
        "qmoe, parameter shift",
        "qmoe_torch",
        qmoe_forward("parameter_shift"),
        GPU,
    ),
    System("reference", "qmoe reference (plain PyTorch)", "qmoe_torch", reference_forward, GPU),
    peer(
        "pennylane-lightning",
        "PennyLane lightning.qubit, adjoint, TorchLayer",
        "peer_pennylane",
        "lightning_forward",
    ),
    peer(
        "pennylane-default",
        "PennyLane default.qubit (noisy: default.mixed), backprop, broadcast",
        "peer_pennylane",
        "default_forward",
        GPU,
    ),
    peer(
        "torchquantum",
        "TorchQuantum, batched statevector, autograd",
        "peer_torchquantum",
        devices=GPU,
    ),
    peer("qiskit-aer", "Qiskit Aer, batched parameter binds, parameter shift", "peer_qiskit"),
    peer("tensorcircuit", "TensorCircuit (JAX), vmap + jit, autodiff", "peer_tensorcircuit"),
    peer("qulacs", "qulacs, one sample at a time, backprop", "peer_qulacs"),
)
BASELINE = "qmoe-adjoint"
