"""PennyLane peers: ``lightning.qubit`` with the adjoint method through
``qml.qnn.TorchLayer`` (the paper's stack), and ``default.qubit`` with backprop and
broadcasting over the batch (``default.mixed`` for a circuit with channels).

Conventions as qmoe's: wire 0 is the most significant bit, StronglyEntanglingLayers'
weights ``(layers, wires, 3)`` are qmoe's flat weight block reshaped, PennyLane's default
CNOT ranges.
"""

from __future__ import annotations

import importlib.metadata
import warnings

import torch
from peer_systems import CircuitSpec, Forward, Unsupported

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # its NumPy < 2 deprecation notice
    import pennylane as qml

__version__ = (
    f"PennyLane {qml.__version__}, lightning {importlib.metadata.version('pennylane_lightning')}"
)


def _circuit(spec: CircuitSpec):
    wires = list(range(spec.n_qubits))

    def circuit(inputs: torch.Tensor, weights: torch.Tensor):
        qml.AngleEmbedding(inputs, wires=wires, rotation="X")
        if spec.p is not None:
            for wire in wires:
                qml.DepolarizingChannel(spec.p, wires=wire)
        qml.StronglyEntanglingLayers(weights, wires=wires)
        if spec.p is not None:
            for wire in wires:
                qml.DepolarizingChannel(spec.p, wires=wire)
        return [qml.expval(qml.PauliZ(wire)) for wire in wires]

    return circuit


def lightning_forward(spec: CircuitSpec, device: str) -> Forward:
    """``TorchLayer`` over a ``lightning.qubit`` QNode (adjoint). The layer's weights are the
    ``w`` passed in, so gradients reach it as they reach a TorchLayer's own parameter."""
    if spec.p is not None:
        raise Unsupported("lightning.qubit simulates pure states only (no channels)")
    qnode = qml.QNode(
        _circuit(spec),
        qml.device("lightning.qubit", wires=spec.n_qubits),
        interface="torch",
        diff_method="adjoint",
    )
    shape = (spec.n_layers, spec.n_qubits, 3)
    layer = qml.qnn.TorchLayer(qnode, {"weights": shape})

    def forward(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        layer.qnode_weights["weights"] = w.reshape(shape)
        return layer(x)

    return forward


def default_forward(spec: CircuitSpec, device: str) -> Forward:
    """``default.qubit`` (``default.mixed`` with channels), torch backprop, the batch
    broadcast through one execution."""
    name = "default.qubit" if spec.p is None else "default.mixed"
    qnode = qml.QNode(
        _circuit(spec),
        qml.device(name, wires=spec.n_qubits),
        interface="torch",
        diff_method="backprop",
    )
    shape = (spec.n_layers, spec.n_qubits, 3)

    def forward(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        values = qnode(x, w.reshape(shape))
        return torch.stack([torch.as_tensor(v) for v in values], dim=-1).reshape(
            x.shape[0], spec.n_qubits
        )

    return forward
