"""A small Mixtral-style MoE language model whose router is any of qmoe's gates.

Pre-norm decoder blocks (RMSNorm), causal multi-head attention with rotary position
embeddings, and in place of the feed-forward network a ``qmoe_torch.moe.MoE`` of SwiGLU
experts with top-2 routing (softmax over all experts, the top two renormalised: Mixtral's
router), dropless. Only the gate differs between the routers being compared: for one seed
every model starts from the same embeddings, attention and experts
(:func:`build`), so a paired comparison sees the router alone.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch
from torch import nn

# From the modules that define them, not from qmoe_torch's __init__ that re-exports them:
# a module inside qmoe_torch importing the package itself is one re-export away from a cycle.
from qmoe_torch.experts import SwiGLUExpert
from qmoe_torch.gates import LinearGate, MLPGate, QuantumGate
from qmoe_torch.moe import MoE, MoEOutput

from .lm_corpus import VOCAB
from .models import GATE_SEED_OFFSET

LMRouterKind = Literal["linear", "mlp", "quantum"]


@dataclasses.dataclass(frozen=True)
class LMConfig:
    d_model: int = 128
    layers: int = 4
    heads: int = 4
    n_experts: int = 8
    k: int = 2
    d_hidden: int = 128  # of each SwiGLU expert
    context: int = 64


@dataclasses.dataclass(frozen=True)
class LMRouter:
    """``linear``: ``LinearGate`` (Mixtral's bias-free router); ``mlp``: ``MLPGate`` (ReLU)
    with the largest hidden size within ``budget`` parameters; ``quantum``:
    ``QuantumGate`` with ``qubits`` wires (projection ``Linear(d_model, qubits)`` to
    angles, ``layers`` strongly entangling layers, <Z> per wire, ``Linear(qubits,
    n_experts)``)."""

    kind: LMRouterKind
    qubits: int = 0
    layers: int = 3
    budget: int = 0

    @property
    def key(self) -> str:
        if self.kind == "quantum":
            return f"quantum-{self.qubits}q"
        return "mlp" if self.kind == "mlp" else "linear"

    @property
    def label(self) -> str:
        if self.kind == "quantum":
            return f"QuantumGate, {self.qubits} qubits, {self.layers} layers"
        if self.kind == "mlp":
            return f"MLPGate (ReLU), budget {self.budget}"
        return "LinearGate"

    def gate(self, config: LMConfig) -> nn.Module:
        d, e = config.d_model, config.n_experts
        if self.kind == "linear":
            return LinearGate(d, e)
        if self.kind == "mlp":
            return MLPGate(d, e, parameter_budget=self.budget, activation="relu")
        if self.kind == "quantum":
            return QuantumGate(d, e, self.qubits, layers=self.layers)
        raise ValueError(f"LMRouter: kind={self.kind!r}, expected 'linear', 'mlp' or 'quantum'")


def quantum_gate_parameters(config: LMConfig, qubits: int, layers: int = 3) -> int:
    """Parameters of one ``QuantumGate`` of the model (for equal-budget MLP routers)."""
    gate = QuantumGate(config.d_model, config.n_experts, qubits, layers=layers)
    return gate.parameter_counts()["total"]


def _rotary(x: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding over the last dimension of ``x[batch, heads, T, dim]``."""
    _, _, length, dim = x.shape
    half = dim // 2
    frequencies = 10000.0 ** (-torch.arange(half, dtype=torch.float32) / half)
    angles = torch.arange(length, dtype=torch.float32)[:, None] * frequencies[None, :]
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    first, second = x[..., :half], x[..., half:]
    return torch.cat([first * cos - second * sin, first * sin + second * cos], dim=-1)


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"CausalSelfAttention: d_model={d_model} not divisible by {heads}")
        self.heads = heads
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, d_model = x.shape
        q, k, v = (
            self.qkv(x).reshape(batch, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        )
        attended = nn.functional.scaled_dot_product_attention(
            _rotary(q), _rotary(k), v, is_causal=True
        )
        return self.out(attended.transpose(1, 2).reshape(batch, length, d_model))


class Block(nn.Module):
    def __init__(self, d_model: int, attention: CausalSelfAttention, moe: MoE) -> None:
        super().__init__()
        self.attention_norm = nn.RMSNorm(d_model)
        self.attention = attention
        self.moe_norm = nn.RMSNorm(d_model)
        self.moe = moe

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, MoEOutput]:
        x = x + self.attention(self.attention_norm(x))
        routed = self.moe(self.moe_norm(x))
        return x + routed.output, routed


class MoELanguageModel(nn.Module):
    """Byte-level decoder; ``forward(tokens[B, T])`` gives logits ``[B, T, 256]`` and every
    layer's ``MoEOutput`` (routing, load, auxiliary losses). Built by :func:`build`."""

    def __init__(
        self, config: LMConfig, embed: nn.Embedding, blocks: list[Block], head: nn.Linear
    ) -> None:
        super().__init__()
        self.config = config
        self.embed = embed
        self.blocks = nn.ModuleList(blocks)
        self.norm = nn.RMSNorm(config.d_model)
        self.head = head

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, list[MoEOutput]]:
        x = self.embed(tokens)
        routed = []
        for block in self.blocks:
            x, out = block(x)
            routed.append(out)
        return self.head(self.norm(x)), routed

    def gates(self) -> list[nn.Module]:
        return [block.moe.gate for block in self.blocks]


def build(config: LMConfig, router: LMRouter, *, seed: int) -> MoELanguageModel:
    """The model for ``router`` and ``seed``: everything but the gates drawn from
    ``torch.manual_seed(seed)`` in a fixed order, the gates from ``GATE_SEED_OFFSET +
    seed``, so every router of one seed starts from the same non-router weights."""
    torch.manual_seed(seed)
    embed = nn.Embedding(VOCAB, config.d_model)
    attention = [CausalSelfAttention(config.d_model, config.heads) for _ in range(config.layers)]
    experts = [
        [
            SwiGLUExpert(config.d_model, config.d_hidden, config.d_model)
            for _ in range(config.n_experts)
        ]
        for _ in range(config.layers)
    ]
    head = nn.Linear(config.d_model, VOCAB, bias=False)
    torch.manual_seed(GATE_SEED_OFFSET + seed)
    blocks = [
        Block(
            config.d_model,
            attention[layer],
            MoE(
                config.d_model,
                config.n_experts,
                config.d_hidden,
                k=config.k,
                gate=router.gate(config),
                experts=experts[layer],
                softmax="before",
                renormalize=True,
            ),
        )
        for layer in range(config.layers)
    ]
    return MoELanguageModel(config, embed, blocks, head)
