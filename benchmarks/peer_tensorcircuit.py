"""TensorCircuit peer on its JAX backend: the one-sample circuit vectorised over the batch
(``vmap``) and compiled (``jit``), wrapped for torch by ``tc.interfaces.torch_interface``
(JAX's vjp as the backward). complex128; channels through ``DMCircuit`` (its density
matrix), depolarizing with px = py = pz = p / 3 as PennyLane's DepolarizingChannel(p).
"""

from __future__ import annotations

import jax
import tensorcircuit as tc
from peer_systems import CircuitSpec, Forward

K = tc.set_backend("jax")
tc.set_dtype("complex128")
__version__ = f"TensorCircuit {tc.__version__}, jax {jax.__version__}"


def _channels(c: tc.DMCircuit, spec: CircuitSpec) -> None:
    if spec.p is not None:
        third = spec.p / 3
        for wire in range(spec.n_qubits):
            c.depolarizing(wire, px=third, py=third, pz=third)


def forward(spec: CircuitSpec, device: str) -> Forward:
    n = spec.n_qubits

    def one_sample(x, w):  # noqa: ANN001, ANN202 (JAX arrays)
        c = tc.Circuit(n) if spec.p is None else tc.DMCircuit(n)
        for wire in range(n):
            c.rx(wire, theta=x[wire])
        _channels(c, spec)
        weights = w.reshape(spec.n_layers, n, 3)
        for layer in range(spec.n_layers):
            for wire in range(n):
                c.rz(wire, theta=weights[layer, wire, 0])
                c.ry(wire, theta=weights[layer, wire, 1])
                c.rz(wire, theta=weights[layer, wire, 2])
            for control, target in spec.cnots(layer):
                c.cnot(control, target)
        _channels(c, spec)
        return K.stack([K.real(c.expectation_ps(z=[wire])) for wire in range(n)])

    batched = K.jit(K.vmap(one_sample, vectorized_argnums=0))
    return tc.interfaces.torch_interface(batched)
