"""A Mixture-of-Experts layer: any gate, top-k routing, token dispatch sorted by expert."""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from .experts import ExpertKind, make_expert
from .gates import LinearGate
from .routing import RouterOutput, SoftmaxOrder, TopKRouter


@dataclasses.dataclass
class MoEOutput:
    """The layer's output ``[..., d_out]``, its routing, and what capacity dropped."""

    output: torch.Tensor
    routing: RouterOutput
    dropped: int  # routing slots (token, expert) over capacity, not computed
    dropped_fraction: float  # of the T * k slots


class MoE(nn.Module):
    """``output = sum over a token's k experts of weight * expert(token)``.

    Args:
        d_model: token size.
        n_experts: number of experts (the gate's ``n_experts`` when a gate is given).
        d_hidden: hidden size of each classical expert.
        k: experts per token.
        gate: the router's gate (QuantumGate, LinearGate, MLPGate, ...); default
            ``LinearGate(d_model, n_experts)``.
        expert: ``"swiglu"`` or ``"mlp"`` classical experts, ignored when ``experts`` is given.
        experts: the experts themselves (e.g. QuantumExpert), one module per expert.
        d_out: output size (default ``d_model``).
        capacity_factor: ``None`` (default): no token is dropped. Else each expert
            computes at most ``ceil(capacity_factor * T * k / n_experts)`` tokens, first come
            first served in token order; the others' slots contribute nothing and are
            counted in ``MoEOutput.dropped``.
        softmax, renormalize, noise_std, jitter: see :class:`TopKRouter`.

    Tokens are sorted by expert and each expert runs once on all of its tokens: no Python
    loop over tokens. Gradients reach the experts and, through the combine weights, the gate.
    """

    def __init__(
        self,
        d_model: int,
        n_experts: int,
        d_hidden: int,
        *,
        k: int = 2,
        gate: nn.Module | None = None,
        expert: ExpertKind = "swiglu",
        experts: list[nn.Module] | None = None,
        d_out: int | None = None,
        capacity_factor: float | None = None,
        softmax: SoftmaxOrder = "before",
        renormalize: bool = True,
        noise_std: float = 0.0,
        jitter: float = 0.0,
    ) -> None:
        super().__init__()
        gate = gate if gate is not None else LinearGate(d_model, n_experts)
        if getattr(gate, "n_experts", n_experts) != n_experts:
            raise ValueError(
                f"MoE: the gate routes to {gate.n_experts} experts, n_experts={n_experts}"
            )
        if experts is not None and len(experts) != n_experts:
            raise ValueError(f"MoE: {len(experts)} experts given for n_experts={n_experts}")
        if capacity_factor is not None and capacity_factor <= 0:
            raise ValueError(f"MoE: capacity_factor must be > 0, got {capacity_factor}")
        self.d_model, self.n_experts, self.k = d_model, n_experts, k
        self.d_out = d_out or d_model
        self.capacity_factor = capacity_factor
        self.router = TopKRouter(
            gate, k, softmax=softmax, renormalize=renormalize, noise_std=noise_std, jitter=jitter
        )
        self.experts = nn.ModuleList(
            experts
            if experts is not None
            else [make_expert(expert, d_model, d_hidden, self.d_out) for _ in range(n_experts)]
        )

    @property
    def gate(self) -> nn.Module:
        return self.router.gate

    def forward(self, hidden: torch.Tensor) -> MoEOutput:
        if hidden.shape[-1] != self.d_model:
            raise ValueError(
                f"MoE: hidden must have d_model={self.d_model} as its last "
                f"dimension, got shape {tuple(hidden.shape)}"
            )
        routing = self.router(hidden)
        tokens = hidden.reshape(-1, self.d_model)
        n_tokens = tokens.shape[0]
        # one slot per (token, choice), sorted by expert; stable, so token order is kept
        slot_expert = routing.indices.reshape(-1)
        slot_token = torch.arange(n_tokens, device=hidden.device).repeat_interleave(self.k)
        slot_weight = routing.weights.reshape(-1)
        order = torch.argsort(slot_expert, stable=True)
        counts = torch.bincount(slot_expert, minlength=self.n_experts).tolist()
        capacity = (
            math.ceil(self.capacity_factor * n_tokens * self.k / self.n_experts)
            if self.capacity_factor is not None
            else None
        )
        output = tokens.new_zeros(n_tokens, self.d_out)
        dropped = 0
        start = 0
        for expert_index, count in enumerate(counts):
            slots = order[start : start + count]
            start += count
            if capacity is not None and count > capacity:
                dropped += count - capacity
                slots = slots[:capacity]
            if len(slots) == 0:
                continue
            chosen = slot_token[slots]
            result = self.experts[expert_index](tokens[chosen])
            weights = slot_weight[slots].to(result.dtype)[:, None]
            output = output.index_add(0, chosen, (result * weights).to(output.dtype))
        return MoEOutput(
            output=output.reshape(*hidden.shape[:-1], self.d_out),
            routing=routing,
            dropped=dropped,
            dropped_fraction=dropped / max(1, n_tokens * self.k),
        )
