"""The training-epoch cells of ``bench_peers.py``: one epoch of the paper's Phase 3A (or of
Phase 3B's noisy router) with each system's circuit inside the same model.

The qmoe systems train the experiments' own model (``qmoe_torch.experiments.models``: a
``QuantumGate`` router, ``Linear(2, 2)`` adapter, softmax over two ``nn.Linear(2, 2)``
experts in a ``MoE``); every other system trains :class:`CircuitRouterModel`, the same
mixture written out with that system's circuit, starting from a copy of the qmoe model's
parameters. Both train through ``qmoe_torch.experiments.training.train`` (Adam, batches of
32 in a seeded order), so one epoch is the same work for every system. Everything runs in
float64, the precision all peers share.
"""

from __future__ import annotations

import copy
import dataclasses

import torch
from peer_systems import CircuitSpec, Forward
from torch import nn

from qmoe_torch.experiments.data import two_moons
from qmoe_torch.experiments.models import NoiseSpec, make_model
from qmoe_torch.experiments.phases import PAPER_ROUTER, PRESETS
from qmoe_torch.experiments.training import TrainConfig, train


@dataclasses.dataclass(frozen=True)
class EpochData:
    """Phase 3A's Two Moons training split (float64) and its training settings."""

    x: torch.Tensor
    y: torch.Tensor
    config: TrainConfig
    seed: int

    @classmethod
    def build(cls, points: int, seed: int, device: str) -> EpochData:
        settings = PRESETS["paper"]["3a"]
        split = two_moons(points, seed)
        config = TrainConfig(1, settings.lr, settings.batch_size)
        x = split.x_train.to(device=device, dtype=torch.float64)
        return cls(x, split.y_train.to(device), config, seed)


class CircuitRouterModel(nn.Module):
    """The paper's model around any system's circuit: logits = sum_e softmax(adapter(<Z>))_e
    * expert_e(x), with <Z> = circuit(x, circuit_weights)."""

    def __init__(self, forward: Forward, qmoe_model: nn.Module) -> None:
        super().__init__()
        self.circuit = forward
        gate = qmoe_model.gate
        self.circuit_weights = nn.Parameter(gate.circuit_weights.detach().clone())
        self.adapter = copy.deepcopy(gate.adapter)
        self.experts = copy.deepcopy(qmoe_model.experts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(self.adapter(self.circuit(x, self.circuit_weights)), dim=-1)
        outputs = torch.stack([expert(x) for expert in self.experts], dim=1)  # [B, E, C]
        return (probs.unsqueeze(-1) * outputs).sum(1)


def qmoe_model(spec: CircuitSpec, seed: int, device: str, diff_method: str) -> nn.Module:
    """The experiments' Phase 3A model (3B: with depolarizing noise p), in float64."""
    router = PAPER_ROUTER
    if spec.p is not None:
        router = router.with_noise(NoiseSpec("depolarizing", spec.p))
    model = make_model(router, "linear", d_model=spec.n_qubits, seed=seed).double().to(device)
    model.gate.diff_method = diff_method
    return model


def model_for(
    system_key: str, forward: Forward, spec: CircuitSpec, seed: int, device: str
) -> nn.Module:
    """A fresh model of the system, from the seed's initial parameters."""
    if system_key.startswith("qmoe-"):
        method = "adjoint" if system_key == "qmoe-adjoint" else "parameter_shift"
        return qmoe_model(spec, seed, device, method)
    return CircuitRouterModel(forward, qmoe_model(spec, seed, device, "adjoint"))


def epoch(model: nn.Module, data: EpochData) -> dict[str, float]:
    """One training epoch, in place."""
    return train(model, data.x, data.y, data.config, seed=data.seed)


def parameters(model: nn.Module) -> list[nn.Parameter]:
    """Circuit weights, adapter, experts, in that order (either model class)."""
    if isinstance(model, CircuitRouterModel):
        circuit, adapter, experts = model.circuit_weights, model.adapter, model.experts
    else:
        circuit, adapter, experts = model.gate.circuit_weights, model.gate.adapter, model.experts
    return [circuit, *adapter.parameters(), *experts.parameters()]


def steps(data: EpochData) -> int:
    """Optimizer steps in one epoch."""
    return -(-len(data.x) // data.config.batch_size)


def first_step(model: nn.Module, data: EpochData) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss of the epoch's first minibatch and its gradient w.r.t. every parameter
    (flattened, :func:`parameters` order): what each step of the epoch computes. The
    epoch's later steps are not compared: Adam's first updates are about lr * sign(grad),
    so a gradient within rounding of 0 moves a parameter by +-lr in either precision."""
    generator = torch.Generator().manual_seed(data.seed)
    batch = torch.randperm(len(data.x), generator=generator)[: data.config.batch_size]
    out = model(data.x[batch])
    logits = out if isinstance(out, torch.Tensor) else out.output
    loss = nn.functional.cross_entropy(logits, data.y[batch])
    grads = torch.autograd.grad(loss, parameters(model))
    return loss.detach(), torch.cat([g.reshape(-1) for g in grads])
