"""qulacs peer: a ``ParametricQuantumCircuit`` run once per sample (qulacs has no batch
dimension), its parameters set from the sample's angles; the backward pass by qulacs's
own adjoint (``ParametricQuantumCircuit.backprop``) of the observable sum_w g_w Z_w, one per
sample, wrapped in a ``torch.autograd.Function``.

qulacs's rotations are exp(+i theta P / 2) (PennyLane's and qmoe's are exp(-i theta P / 2)):
the angles go in negated and their gradients come back negated. Channels: a
``DensityMatrix`` with ``DepolarizingNoise(p)`` (X, Y, Z each with p / 3, applied as the
mixture on a density matrix); qulacs differentiates pure states only, so the noisy circuit
runs forward only.
"""

from __future__ import annotations

import importlib.metadata

import numpy as np
import qulacs
import torch
from peer_systems import CircuitSpec, Forward, Unsupported
from qulacs.gate import DepolarizingNoise

__version__ = f"qulacs {importlib.metadata.version('qulacs')}"


class _Circuit:
    def __init__(self, spec: CircuitSpec) -> None:
        n = spec.n_qubits
        self.spec = spec
        circuit = qulacs.ParametricQuantumCircuit(n)
        for wire in range(n):
            circuit.add_parametric_RX_gate(wire, 0.0)
        self._channels(circuit)
        for layer in range(spec.n_layers):
            for wire in range(n):
                circuit.add_parametric_RZ_gate(wire, 0.0)
                circuit.add_parametric_RY_gate(wire, 0.0)
                circuit.add_parametric_RZ_gate(wire, 0.0)
            for control, target in spec.cnots(layer):
                circuit.add_CNOT_gate(control, target)
        self._channels(circuit)
        self.circuit = circuit
        self.z = []
        for wire in range(n):
            observable = qulacs.Observable(n)
            observable.add_operator(1.0, f"Z {wire}")
            self.z.append(observable)
        self.state = qulacs.QuantumState(n) if spec.p is None else qulacs.DensityMatrix(n)

    def _channels(self, circuit: qulacs.ParametricQuantumCircuit) -> None:
        if self.spec.p is not None:
            for wire in range(self.spec.n_qubits):
                circuit.add_gate(DepolarizingNoise(wire, self.spec.p))

    def set_angles(self, angles: np.ndarray) -> None:
        for index, angle in enumerate(angles):
            self.circuit.set_parameter(index, -float(angle))

    def run(self, angles: np.ndarray) -> np.ndarray:
        out = np.empty((len(angles), self.spec.n_qubits))
        for sample, row in enumerate(angles):
            self.set_angles(row)
            self.state.set_zero_state()
            self.circuit.update_quantum_state(self.state)
            out[sample] = [z.get_expectation_value(self.state) for z in self.z]
        return out

    def vjp(self, angles: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """d(sum_w grad[s, w] <Z_w>)/d angles[s], ``[S, n + n_weights]``."""
        if self.spec.p is not None:
            raise Unsupported("qulacs differentiates pure states only (no density-matrix gradient)")
        n = self.spec.n_qubits
        out = np.empty_like(angles)
        for sample, (row, g) in enumerate(zip(angles, grad, strict=True)):
            self.set_angles(row)
            observable = qulacs.Observable(n)
            for wire in range(n):
                observable.add_operator(float(g[wire]), f"Z {wire}")
            out[sample] = np.negative(self.circuit.backprop(observable))
        return out


class _Expval(torch.autograd.Function):
    @staticmethod
    def forward(ctx, circuit: _Circuit, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        angles = torch.cat([x.detach(), w.detach().expand(x.shape[0], -1)], dim=1).cpu().numpy()
        ctx.circuit, ctx.angles = circuit, angles
        return torch.from_numpy(circuit.run(angles)).to(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: ANN001, ANN205
        per_sample = ctx.circuit.vjp(ctx.angles, grad.detach().cpu().numpy())
        per_sample = torch.from_numpy(per_sample).to(grad)
        n = ctx.circuit.spec.n_qubits
        return None, per_sample[:, :n], per_sample[:, n:].sum(0)


def forward(spec: CircuitSpec, device: str) -> Forward:
    circuit = _Circuit(spec)

    def run(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return _Expval.apply(circuit, x, w)

    return run
