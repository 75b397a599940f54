"""TorchQuantum peer: its batched statevector (one ``QuantumDevice`` of batch size B, the
gates' functional forms applied to the whole batch), differentiated by torch autograd.

TorchQuantum computes in complex64 (its gate matrices are built in that fixed type): the
float64 angles go in as float32 and the ``<Z>`` come back as float64.
TorchQuantum 0.1.8 imports torchvision at import time for its data sets (MNIST), which the
cells never use; the torchvision wheel on PyPI is built for CUDA torch, so where it cannot
load, the import gets a placeholder package whose every attribute raises on use.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types

import torch
from peer_systems import CircuitSpec, Forward, Unsupported


class _Missing:
    """A torchvision name TorchQuantum imports but the benchmark never uses."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> _Missing:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Missing(f"{self._name}.{attr}")

    def __mro_entries__(self, bases: tuple) -> tuple:
        return (object,)  # TorchQuantum subclasses torchvision's VisionDataset

    def __call__(self, *args: object, **kwargs: object) -> None:
        raise ImportError(f"{self._name}: torchvision could not be imported")


class _PlaceholderTorchvision(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):  # noqa: ANN001, ANN201 (importlib's API)
        if name == "torchvision" or name.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = types.ModuleType(spec.name)
        module.__path__ = []

        def missing(attr: str) -> _Missing:
            if attr.startswith("__"):
                raise AttributeError(attr)
            return _Missing(f"{spec.name}.{attr}")

        module.__getattr__ = missing
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        pass


def _import_torchquantum() -> types.ModuleType:
    try:
        import torchvision  # noqa: F401 (TorchQuantum imports it)
    except Exception:  # absent, or built for another torch: TorchQuantum gets a placeholder
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        sys.meta_path.insert(0, _PlaceholderTorchvision())
    import torchquantum

    return torchquantum


tq = _import_torchquantum()
tqf = tq.functional
__version__ = f"TorchQuantum {tq.__version__}"


def forward(spec: CircuitSpec, device: str) -> Forward:
    if spec.p is not None:
        raise Unsupported(
            "TorchQuantum 0.1.8 models noise by sampling Pauli errors (NoiseModelTQ), "
            "not an exact density matrix"
        )
    n = spec.n_qubits
    observables = [tq.PauliZ() for _ in range(n)]

    def run(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        qdev = tq.QuantumDevice(n_wires=n, bsz=batch, device=x.device)
        x, weights = x.float(), w.float().reshape(spec.n_layers, n, 3)
        for wire in range(n):
            tqf.rx(qdev, wires=wire, params=x[:, wire])
        for layer in range(spec.n_layers):
            for wire in range(n):
                tqf.rot(qdev, wires=wire, params=weights[layer, wire].unsqueeze(0))
            for control, target in spec.cnots(layer):
                tqf.cnot(qdev, wires=[control, target])
        return tq.measurement.expval(qdev, list(range(n)), observables).double()

    return run
