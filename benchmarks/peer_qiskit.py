"""Qiskit Aer peer: one transpiled parametric circuit, every sample a parameter bind of one
``AerSimulator.run`` (``parameter_binds``: the batched way to run a circuit over many
parameter sets), ``<Z_w>`` saved by ``save_expectation_value`` (exact, no shots).

Aer has no autograd: the backward pass is the parameter-shift rule (every angle enters one
Pauli rotation, so the +-pi/2 rule is exact, with channels too), its 2 x (n + 3 L n)
shifted circuits per sample run as further binds of one call, wrapped in a
``torch.autograd.Function``. Channels: Aer's density-matrix method with
``depolarizing_error(4 p / 3)``, which is PennyLane's DepolarizingChannel(p).
"""

from __future__ import annotations

import math
import os

import numpy as np
import qiskit
import qiskit_aer
import torch
from peer_systems import CircuitSpec, Forward
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import Pauli
from qiskit_aer.noise import depolarizing_error

__version__ = f"qiskit-terra {qiskit.__version__}, qiskit-aer {qiskit_aer.__version__}"


class _Circuit:
    def __init__(self, spec: CircuitSpec) -> None:
        n = spec.n_qubits
        self.spec = spec
        self.x = ParameterVector("x", n)
        self.w = ParameterVector("w", spec.n_weights)
        qc = qiskit.QuantumCircuit(n)
        for wire in range(n):
            qc.rx(self.x[wire], wire)
        self._channels(qc)
        for layer in range(spec.n_layers):
            for wire in range(n):
                base = (layer * n + wire) * 3
                qc.rz(self.w[base], wire)
                qc.ry(self.w[base + 1], wire)
                qc.rz(self.w[base + 2], wire)
            for control, target in spec.cnots(layer):
                qc.cx(control, target)
        self._channels(qc)
        for wire in range(n):
            qc.save_expectation_value(Pauli("Z"), [wire], label=f"z{wire}")
        method = "statevector" if spec.p is None else "density_matrix"
        threads = int(os.environ.get("OMP_NUM_THREADS", "0"))  # 0: Aer's default (all)
        self.simulator = qiskit_aer.AerSimulator(
            method=method, precision="double", max_parallel_threads=threads
        )
        self.circuit = qiskit.transpile(qc, self.simulator, optimization_level=0)
        self.parameters = [*self.x, *self.w]

    def _channels(self, qc: qiskit.QuantumCircuit) -> None:
        if self.spec.p is not None:
            for wire in range(self.spec.n_qubits):
                qc.append(depolarizing_error(4 * self.spec.p / 3, 1).to_instruction(), [wire])

    def run(self, angles: np.ndarray) -> np.ndarray:
        """``<Z_w>`` ``[S, n]`` for ``angles`` ``[S, n + n_weights]`` (one bind per row)."""
        binds = {p: angles[:, i].tolist() for i, p in enumerate(self.parameters)}
        result = self.simulator.run(self.circuit, parameter_binds=[binds]).result()
        n = self.spec.n_qubits
        return np.array(
            [[result.data(s)[f"z{w}"] for w in range(n)] for s in range(len(angles))]
        ).reshape(len(angles), n)


class _Expval(torch.autograd.Function):
    @staticmethod
    def forward(ctx, circuit: _Circuit, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        angles = torch.cat([x.detach(), w.detach().expand(x.shape[0], -1)], dim=1).cpu().numpy()
        ctx.circuit, ctx.angles = circuit, angles
        return torch.from_numpy(circuit.run(angles)).to(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: ANN001, ANN205
        angles, circuit = ctx.angles, ctx.circuit
        samples, count = angles.shape
        shifts = np.repeat(angles[:, None, :], 2 * count, axis=1)  # [S, 2K, K]
        index = np.arange(count)
        shifts[:, 2 * index, index] += math.pi / 2
        shifts[:, 2 * index + 1, index] -= math.pi / 2
        values = circuit.run(shifts.reshape(-1, count)).reshape(samples, count, 2, -1)
        jacobian = (values[:, :, 0] - values[:, :, 1]) / 2  # [S, K, n]: d<Z_w>/d angle_k
        per_sample = np.einsum("skn,sn->sk", jacobian, grad.detach().cpu().numpy())
        per_sample = torch.from_numpy(per_sample).to(grad)
        n = circuit.spec.n_qubits
        return None, per_sample[:, :n], per_sample[:, n:].sum(0)


def forward(spec: CircuitSpec, device: str) -> Forward:
    circuit = _Circuit(spec)

    def run(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return _Expval.apply(circuit, x, w)

    return run
