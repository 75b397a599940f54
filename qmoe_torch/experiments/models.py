"""The models, built from qmoe's public API only: a router (``LinearGate``, ``MLPGate`` or
``QuantumGate``, optionally with a ``NoiseModel``) in a ``MoE`` whose experts are given.

The paper's model: ``MoE(2, 2, k=2)`` (softmax over both experts, so routing is soft) with
two ``nn.Linear(2, 2)`` experts that each output two class logits (``d_out=2``); the
mixture's output is the classifier's logits.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch
from torch import nn

# From the modules that define them, not from qmoe_torch's __init__ that re-exports them:
# a module inside qmoe_torch importing the package itself is one re-export away from a cycle.
from qmoe_torch.experts import QuantumExpert
from qmoe_torch.gates import LinearGate, MLPGate, QuantumGate
from qmoe_torch.moe import MoE
from qmoe_torch.noise import Channel, NoiseModel

RouterKind = Literal["linear", "mlp", "quantum", "none"]
NoiseKind = Literal["depolarizing", "amplitude_damping", "shots"]
ExpertKind = Literal["linear", "quantum"]

# the gate's initial weights come from another stream than the experts' (same seed)
GATE_SEED_OFFSET = 1_000_003


@dataclasses.dataclass(frozen=True)
class NoiseSpec:
    """``kind`` "depolarizing" / "amplitude_damping": that channel of probability ``level``
    on every qubit after the embedding and after the ansatz (``at="template"``, the paper's
    placement) or on the wires of every gate after it (``at="gate"``); "shots": ``level``
    shots per estimate (exact state, sampled readout)."""

    kind: NoiseKind
    level: float
    at: str = "template"

    def __post_init__(self) -> None:
        if self.at not in ("template", "gate"):
            raise ValueError(f"NoiseSpec: at={self.at!r}, expected 'template' or 'gate'")

    def model(self, seed: int) -> NoiseModel:
        if self.kind == "shots":
            return NoiseModel(shots=int(self.level), seed=seed)
        return NoiseModel(channels=(Channel(self.kind, self.level),), at=self.at)

    @property
    def family(self) -> str:
        """The kind, and where the channels go when not the paper's placement."""
        return self.kind + ("_after_every_gate" if self.at == "gate" else "")

    @property
    def key(self) -> str:
        return f"{self.family}-{self.level:g}"

    @property
    def label(self) -> str:
        if self.kind == "shots":
            return f"{int(self.level)} shots"
        return f"{self.family.replace('_', ' ')} p={self.level:g}"


@dataclasses.dataclass(frozen=True)
class RouterSpec:
    """A router: ``none`` (no mixture: the model is one expert alone, the paper's "plain
    quantum network" of phase 1), ``linear`` (``LinearGate``; with ``bias``, the paper's
    ``nn.Linear(2, 2)``), ``mlp`` (``MLPGate(hidden=...,
    activation=...)``, ReLU as in the paper) or ``quantum`` (``QuantumGate(projection=False,
    layers=...)``, the paper's router when ``layers == 3``), with optional noise (quantum
    only)."""

    kind: RouterKind
    hidden: int | None = None
    layers: int = 3
    noise: NoiseSpec | None = None
    bias: bool = False
    activation: str = "relu"  # of the mlp router: the paper's ReLU

    def __post_init__(self) -> None:
        if self.kind == "mlp" and self.hidden is None:
            raise ValueError("RouterSpec: an mlp router needs hidden")
        if self.kind not in ("none", "linear", "mlp", "quantum"):
            raise ValueError(f"RouterSpec: kind={self.kind!r} is unknown")
        if self.noise is not None and self.kind != "quantum":
            raise ValueError("RouterSpec: only a quantum router takes noise")
        if self.bias and self.kind != "linear":
            raise ValueError("RouterSpec: bias is an option of the linear router")

    @property
    def key(self) -> str:
        if self.kind == "none":
            return "no-router"
        if self.kind == "linear":
            return "linear+bias" if self.bias else "linear"
        if self.kind == "mlp":
            suffix = "" if self.activation == "relu" else f"-{self.activation}"
            return f"mlp-h{self.hidden}{suffix}"
        base = f"quantum-L{self.layers}"
        return base if self.noise is None else f"{base}-{self.noise.key}"

    @property
    def label(self) -> str:
        if self.kind == "none":
            return "no router"
        if self.kind == "linear":
            return "linear router with bias" if self.bias else "linear router"
        if self.kind == "mlp":
            suffix = "" if self.activation == "relu" else f" ({self.activation})"
            return f"MLP router, hidden {self.hidden}{suffix}"
        base = f"quantum router, {self.layers} layer{'s' if self.layers != 1 else ''}"
        return base if self.noise is None else f"{base}, {self.noise.label}"

    def with_noise(self, noise: NoiseSpec | None) -> RouterSpec:
        return dataclasses.replace(self, noise=noise)


def make_gate(spec: RouterSpec, d_model: int, n_experts: int, *, seed: int = 0) -> nn.Module:
    """The gate for ``spec``; ``seed`` seeds a shot-noise model's sampling generator."""
    if spec.kind == "linear":
        return LinearGate(d_model, n_experts, bias=spec.bias)
    if spec.kind == "mlp":
        return MLPGate(d_model, n_experts, hidden=spec.hidden, activation=spec.activation)
    noise = spec.noise.model(seed) if spec.noise is not None else None
    # projection=False: the min-max scaled features are the RX angles (d_model qubits)
    return QuantumGate(
        d_model,
        n_experts,
        layers=spec.layers,
        embedding="X",
        readout="expval",
        projection=False,
        noise=noise,
    )


def make_experts(kind: ExpertKind, d_model: int, n_experts: int, n_classes: int) -> list[nn.Module]:
    """``linear``: ``nn.Linear(d_model, n_classes)`` each (the paper's phases 2-3);
    ``quantum``: ``QuantumExpert`` (amplitude embedding into ceil(log2 d_model) qubits, 2
    strongly entangling layers; the paper's phase 1)."""
    if kind == "linear":
        return [nn.Linear(d_model, n_classes) for _ in range(n_experts)]
    n_qubits = max(1, (d_model - 1).bit_length())
    return [
        QuantumExpert(d_model, n_qubits, n_classes, layers=2, embedding="amplitude")
        for _ in range(n_experts)
    ]


def make_model(
    router: RouterSpec,
    experts: ExpertKind,
    *,
    d_model: int,
    n_classes: int = 2,
    n_experts: int = 2,
    seed: int = 0,
) -> nn.Module:
    """Soft routing over ``n_experts`` experts (``k = n_experts``, softmax before top-k); for
    a ``none`` router, one expert alone (its output is the logits).

    The experts are drawn from ``torch.manual_seed(seed)`` and the gate from
    ``torch.manual_seed(GATE_SEED_OFFSET + seed)``, so for one seed every router gets the
    same experts and every noise level of a router the same initial weights.
    """
    torch.manual_seed(seed)
    if router.kind == "none":
        return make_experts(experts, d_model, 1, n_classes)[0]
    expert_modules = make_experts(experts, d_model, n_experts, n_classes)
    torch.manual_seed(GATE_SEED_OFFSET + seed)
    gate = make_gate(router, d_model, n_experts, seed=seed)
    return assemble(gate, expert_modules, d_model=d_model, n_classes=n_classes)


def assemble(gate: nn.Module, experts: list[nn.Module], *, d_model: int, n_classes: int) -> MoE:
    """``MoE`` with the given gate and experts, every expert weighted by its softmax
    probability (``k = n_experts``)."""
    n_experts = len(experts)
    return MoE(
        d_model,
        n_experts,
        0,
        k=n_experts,
        gate=gate,
        experts=experts,
        d_out=n_classes,
        softmax="before",
    )


def reroute(model: MoE, router: RouterSpec, *, seed: int) -> MoE:
    """The trained ``model`` with its gate rebuilt for ``router`` (e.g. the same quantum
    router measured with shots) and the trained gate weights loaded; experts shared."""
    gate = make_gate(router, model.d_model, model.n_experts, seed=seed)
    gate.load_state_dict(model.gate.state_dict())
    return assemble(gate, list(model.experts), d_model=model.d_model, n_classes=model.d_out)


def router_parameters(model: nn.Module) -> dict[str, int]:
    """The gate's ``parameter_counts()`` plus the experts' parameter count (a model without
    a mixture: no router, the model is the expert)."""
    if not isinstance(model, MoE):
        return {
            "classical": 0,
            "quantum": 0,
            "total": 0,
            "experts": sum(p.numel() for p in model.parameters()),
        }
    counts = dict(model.gate.parameter_counts())
    counts["experts"] = sum(p.numel() for p in model.experts.parameters())
    return counts
