"""A Mixture-of-Experts layer: any gate, top-k routing, token dispatch sorted by expert."""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from .experts import ExpertKind, make_expert
from .gates import LinearGate
from .routing import RouterOutput, SoftmaxOrder, TopKRouter, expert_counts


@dataclasses.dataclass
class MoEOutput:
    """The layer's output ``[..., d_out]``, its routing, and what capacity dropped.

    ``dropped`` and ``dropped_fraction`` are 0-d tensors (int64, float32) on the device of
    the output, so that producing them never syncs with the host; ``int(out.dropped)``
    reads one (a sync on a GPU)."""

    output: torch.Tensor
    routing: RouterOutput
    dropped: torch.Tensor  # routing slots (token, expert) over capacity, not computed
    dropped_fraction: torch.Tensor  # of the T * k slots


# a pytree node, so that torch.export can return it (torch.compile needs no registration);
# the serialized name lets a program that returns it be saved (torch.export.save, AOTI)
torch.export.register_dataclass(MoEOutput, serialized_type_name="qmoe_torch.MoEOutput")


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
        softmax, renormalize, noise_std, jitter, check_finite: see :class:`TopKRouter`.

    Each expert runs once on all of its tokens: no Python loop over tokens. Gradients
    reach the experts and, through the combine weights, the gate. Two dispatches:

    - **sorted** (eager, with or without ``capacity_factor``): slots sorted by expert,
      each expert runs on exactly its own ``count_e`` rows (``T * k`` rows in all). The
      counts are read on the host (``.tolist()`` in ``_dispatch_sorted``): one host-device
      sync per forward on a GPU, and shapes that depend on the data, which
      ``torch.compile(fullgraph=True)`` and ``torch.export`` cannot trace.
    - **padded** (under ``torch.compile`` / ``torch.export``): a static
      ``[n_experts, capacity]`` buffer per step, each slot's place in it found by a
      cumulative count (first come, first served in token order), empty places masked
      out. No sync and static shapes (the batch may be a ``torch.export.Dim``). Dropless,
      the capacity is ``T`` (an expert can get every token), so a compiled dropless layer
      computes ``n_experts * T`` expert rows, ``n_experts / k`` times the sorted dispatch:
      set ``capacity_factor`` to compile a large layer. Both dispatches give the same
      outputs and gradients.
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
        check_finite: bool = False,
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
            gate,
            k,
            softmax=softmax,
            renormalize=renormalize,
            noise_std=noise_std,
            jitter=jitter,
            check_finite=check_finite,
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
        capacity = None
        if self.capacity_factor is not None:
            capacity = math.ceil(self.capacity_factor * n_tokens * self.k / self.n_experts)
        if torch.compiler.is_compiling():
            # an expert gets at most one slot per token
            padded = n_tokens if capacity is None else torch.sym_min(capacity, n_tokens)
            output, dropped = self._dispatch_padded(tokens, routing, padded)
        else:
            # eager: each expert runs exactly its own rows (the padded buffer would run
            # n_experts x capacity of them: +35% for a capacity step of 4,096 tokens)
            output, dropped = self._dispatch_sorted(tokens, routing, capacity)
        return MoEOutput(
            output=output.reshape(*hidden.shape[:-1], self.d_out),
            routing=routing,
            dropped=dropped,
            dropped_fraction=dropped.to(torch.float32) / max(1, n_tokens * self.k),
        )

    def _dispatch_sorted(
        self, tokens: torch.Tensor, routing: RouterOutput, capacity: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Slots sorted by expert (stable, so token order is kept), each expert on its own
        rows; with ``capacity``, an expert's slots past it are dropped (first come, first
        served, as in the padded dispatch). Syncs: the per-expert counts are read on the
        host."""
        n_tokens = tokens.shape[0]
        slot_expert = routing.indices.reshape(-1)
        slot_token = torch.arange(n_tokens, device=tokens.device).repeat_interleave(self.k)
        slot_weight = routing.weights.reshape(-1)
        order = torch.argsort(slot_expert, stable=True)
        counts = expert_counts(slot_expert, self.n_experts).tolist()  # the host-device sync
        output = tokens.new_zeros(n_tokens, self.d_out)
        dropped = 0
        start = 0
        for expert, count in zip(self.experts, counts, strict=True):
            slots = order[start : start + count]
            start += count
            if capacity is not None and count > capacity:
                dropped += count - capacity
                slots = slots[:capacity]
            if len(slots) == 0:
                continue
            chosen = slot_token[slots]
            result = expert(tokens[chosen])
            weights = slot_weight[slots].to(result.dtype)[:, None]
            output = output.index_add(0, chosen, (result * weights).to(output.dtype))
        return output, torch.tensor(dropped, dtype=torch.int64, device=tokens.device)

    def _dispatch_padded(
        self, tokens: torch.Tensor, routing: RouterOutput, capacity: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Static shapes: ``capacity`` places per expert, filled in token order; slots past
        an expert's capacity are dropped (counted, not computed). No host-device sync."""
        n_tokens = tokens.shape[0]
        n_places = self.n_experts * capacity
        slot_expert = routing.indices.reshape(-1)
        slot_token = torch.arange(n_tokens, device=tokens.device).repeat_interleave(self.k)
        slot_weight = routing.weights.reshape(-1)
        # rank of each slot among its expert's slots: slots are in token order, and a
        # token's k choices are distinct experts, so this is first come, first served
        experts = torch.arange(self.n_experts, device=tokens.device)
        chosen = (slot_expert[:, None] == experts).to(torch.int64)
        rank = chosen.cumsum(0).gather(1, slot_expert[:, None]).squeeze(1) - 1
        kept = rank < capacity
        dropped = torch.logical_not(kept).sum()
        # a kept slot's place in the [n_experts, capacity] buffer; dropped ones share a
        # spare place at the end, cut off below
        place = torch.where(kept, slot_expert * capacity + rank, n_places)
        place_token = slot_token.new_zeros(n_places + 1).scatter(0, place, slot_token)[:-1]
        place_weight = slot_weight.new_zeros(n_places + 1).scatter(0, place, slot_weight)[:-1]
        filled = kept.new_zeros(n_places + 1).scatter(0, place, kept)[:-1]
        inputs = tokens[place_token].reshape(self.n_experts, capacity, self.d_model)
        result = torch.cat([expert(inputs[e]) for e, expert in enumerate(self.experts)])
        weighted = result * place_weight.to(result.dtype)[:, None]
        # empty places ran the expert on token 0: masked, not merely weighted by 0
        weighted = torch.where(filled[:, None], weighted, torch.zeros_like(weighted))
        output = tokens.new_zeros(n_tokens, self.d_out)
        return output.index_add(0, place_token, weighted.to(output.dtype)), dropped
