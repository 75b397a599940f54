"""An expert-parallel MoE layer: experts sharded over a process group, tokens exchanged by
all-to-all, the router replicated."""

from __future__ import annotations

import copy
import math

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.device_mesh import DeviceMesh

from ..experts import ExpertKind, make_expert
from ..gates import LinearGate
from ..moe import MoE, MoEOutput
from ..routing import SoftmaxOrder, TopKRouter, expert_counts
from .agreement import raise_unless_all_agree
from .all_to_all import ExchangedCounts, exchange_counts, exchange_rows
from .group_routing import GroupRouterOutput
from .replicated import GradientSummer


def resolve_group(group: dist.ProcessGroup | DeviceMesh | None) -> dist.ProcessGroup:
    """The process group of ``group``: itself, a 1-D ``DeviceMesh``'s group, or the default
    group for ``None``."""
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError(
            "ExpertParallelMoE: torch.distributed is not initialised "
            "(call torch.distributed.init_process_group first, e.g. under torchrun)"
        )
    if isinstance(group, DeviceMesh):
        if group.ndim != 1:
            raise ValueError(
                f"ExpertParallelMoE: group must be a 1-D DeviceMesh, got {group.ndim} dimensions"
            )
        return group.get_group()
    return group if group is not None else dist.group.WORLD


def _gate_settings(gate: nn.Module) -> dict[str, object]:
    """What makes two replicas of a gate the same router: its class, its scalar settings
    and the names, shapes and dtypes of its parameters and buffers."""
    scalars = {
        name: value
        for name, value in sorted(vars(gate).items())
        if not name.startswith("_") and isinstance(value, (bool, int, float, str))
    }
    tensors = [(name, tuple(t.shape), str(t.dtype)) for name, t in gate.state_dict().items()]
    return {"class": type(gate).__qualname__, "settings": scalars, "tensors": tensors}


class ExpertParallelMoE(nn.Module):
    """:class:`~qmoe_torch.MoE` with its experts sharded over the ranks of ``group``.

    Rank ``r`` of a group of ``W`` owns experts ``r * E / W`` to ``(r + 1) * E / W - 1``
    (registered under their global index, ``experts.<e>``, so that a state dict names each
    expert once across the group); the router is replicated. Each rank routes its own
    tokens, sorts the routing slots by expert, exchanges the per-expert counts, sends each
    slot's token to the expert's owner (``all_to_all_single``), runs its experts on what it
    received (reordered from rank-major to expert-major), and sends the results back, where
    the routing weights are applied. Every rank calls every collective, also with no tokens.

    Given the same tokens split over the ranks in rank order, the layer computes what one
    ``MoE`` on all of them computes: the same outputs; with ``capacity_factor``, the same
    capacity ``ceil(capacity_factor * T * k / E)`` from the global token count ``T`` and the
    same first-come-first-served drops in global token order (decided by each expert's
    owner, so all ranks agree); ``dropped`` counted over the group. ``routing`` is a
    :class:`GroupRouterOutput`: the group's ``load``, and ``aux_loss`` and ``z_loss`` as this
    rank's shares (global counts with this rank's probabilities, over the global token
    count), which summed over the ranks are the losses of ``MoE`` on all tokens.

    Gradients: those of the sum of the ranks' losses, as for one ``MoE`` given that sum. The
    experts get every rank's share through the backward of the exchange; the router's
    gradients are summed over the ranks by one all-reduce when ``backward()`` ends (every
    rank must run backward through the layer). For the mean over the ranks' batches (as
    DDP), divide each rank's loss by the world size.

    Construction is collective: router settings and the layer's sizes are checked to agree
    on every rank (a ``ValueError`` on all ranks otherwise, never a hang), and the router's
    parameters are broadcast from the group's first rank, as DDP does.

    Args:
        d_model, n_experts, d_hidden, k, gate, expert, d_out, capacity_factor, softmax,
            renormalize, noise_std, jitter, check_finite: as for :class:`~qmoe_torch.MoE`.
        experts: this rank's experts (``n_experts / W`` modules), instead of ``expert``.
        group: a process group or 1-D ``DeviceMesh`` (default: the default group);
            ``n_experts`` must be divisible by its size. gloo (CPU) or NCCL (GPU).
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
        group: dist.ProcessGroup | DeviceMesh | None = None,
    ) -> None:
        super().__init__()
        self.group = resolve_group(group)
        self.world_size = dist.get_world_size(self.group)
        self.rank = dist.get_rank(self.group)
        self.d_model, self.n_experts, self.k = d_model, n_experts, k
        self.d_out = d_out or d_model
        self.capacity_factor = capacity_factor
        self.local_experts = n_experts // self.world_size
        self.first_expert = self.rank * self.local_experts

        # Problems found here are not raised yet: the other ranks would wait for this one
        # in the agreement below. They are gathered and raised on every rank together.
        problems = []
        if n_experts % self.world_size != 0:
            problems.append(
                f"n_experts={n_experts} is not divisible by the group's {self.world_size} ranks"
            )
        if capacity_factor is not None and capacity_factor <= 0:
            problems.append(f"capacity_factor must be > 0, got {capacity_factor}")
        elif experts is not None and len(experts) != self.local_experts:
            problems.append(
                f"{len(experts)} experts given, expected this rank's n_experts / world_size "
                f"= {self.local_experts}"
            )
        router = None
        try:
            gate = gate if gate is not None else LinearGate(d_model, n_experts)
            if getattr(gate, "n_experts", n_experts) != n_experts:
                raise ValueError(f"the gate routes to {gate.n_experts} experts")
            router = TopKRouter(
                gate,
                k,
                softmax=softmax,
                renormalize=renormalize,
                noise_std=noise_std,
                jitter=jitter,
                check_finite=check_finite,
            )
        except (ValueError, TypeError) as error:
            problems.append(str(error))
        description = {
            "d_model": d_model,
            "n_experts": n_experts,
            "d_hidden": d_hidden,
            "d_out": self.d_out,
            "k": k,
            "expert": expert if experts is None else "given",
            "capacity_factor": capacity_factor,
            "softmax": softmax,
            "renormalize": renormalize,
            "noise_std": noise_std,
            "jitter": jitter,
            "check_finite": check_finite,
            "gate": _gate_settings(gate) if router is not None else None,
        }
        raise_unless_all_agree("ExpertParallelMoE", description, problems, self.group)

        self.router = router
        source = dist.get_global_rank(self.group, 0)
        with torch.no_grad():
            for tensor in self.router.state_dict().values():
                dist.broadcast(tensor, src=source, group=self.group)
        if experts is None:
            experts = [
                make_expert(expert, d_model, d_hidden, self.d_out)
                for _ in range(self.local_experts)
            ]
        self.experts = nn.ModuleDict(
            {str(self.first_expert + j): module for j, module in enumerate(experts)}
        )
        self._router_gradients = GradientSummer(self.router.parameters(), self.group)

    @classmethod
    def from_moe(
        cls, moe: MoE, group: dist.ProcessGroup | DeviceMesh | None = None
    ) -> ExpertParallelMoE:
        """This rank's shard of a single-process ``moe``: a copy of its router and of the
        experts this rank owns (every rank must pass the same ``moe``)."""
        group = resolve_group(group)
        world_size, rank = dist.get_world_size(group), dist.get_rank(group)
        local = moe.n_experts // world_size if moe.n_experts % world_size == 0 else 0
        router = moe.router
        return cls(
            moe.d_model,
            moe.n_experts,
            0,
            k=moe.k,
            gate=copy.deepcopy(router.gate),
            experts=[copy.deepcopy(moe.experts[rank * local + j]) for j in range(local)],
            d_out=moe.d_out,
            capacity_factor=moe.capacity_factor,
            softmax=router.softmax,
            renormalize=router.renormalize,
            noise_std=router.noise_std,
            jitter=router.jitter,
            check_finite=router.check_finite,
            group=group,
        )

    @property
    def gate(self) -> nn.Module:
        return self.router.gate

    def owned_experts(self) -> range:
        """The global indices of this rank's experts."""
        return range(self.first_expert, self.first_expert + self.local_experts)

    def forward(self, hidden: torch.Tensor) -> MoEOutput:
        if hidden.shape[-1] != self.d_model:
            raise ValueError(
                f"ExpertParallelMoE: hidden must have d_model={self.d_model} as its last "
                f"dimension, got shape {tuple(hidden.shape)}"
            )
        routing = self.router(hidden)
        tokens = hidden.reshape(-1, self.d_model)
        n_tokens = tokens.shape[0]
        slot_expert = routing.indices.reshape(-1)
        slot_token = torch.arange(n_tokens, device=tokens.device).repeat_interleave(self.k)
        order = torch.argsort(slot_expert, stable=True)
        sorted_token = slot_token[order]
        counts = exchange_counts(
            expert_counts(slot_expert, self.n_experts), self.world_size, self.group
        )
        global_slots = int(counts.global_counts.sum())
        capacity = None
        if self.capacity_factor is not None:
            capacity = math.ceil(self.capacity_factor * global_slots / self.n_experts)
        received = exchange_rows(
            tokens[sorted_token], counts.receive_splits, counts.send_splits, self.group
        )
        results = self._run_experts(received, counts, capacity)
        returned = exchange_rows(results, counts.send_splits, counts.receive_splits, self.group)
        weights = routing.weights.reshape(-1)[order].to(returned.dtype)[:, None]
        output = tokens.new_zeros(n_tokens, self.d_out)
        output = output.index_add(0, sorted_token, (returned * weights).to(output.dtype))
        output = self._router_gradients.mark(output)

        global_counts = counts.global_counts
        dropped = torch.zeros((), dtype=torch.int64, device=tokens.device)
        if capacity is not None:
            dropped = (global_counts - capacity).clamp(min=0).sum().to(tokens.device)
        return MoEOutput(
            output=output.reshape(*hidden.shape[:-1], self.d_out),
            routing=GroupRouterOutput(
                logits=routing.logits,
                probs=routing.probs,
                weights=routing.weights,
                indices=routing.indices,
                global_counts=global_counts.to(tokens.device),
                global_tokens=global_slots // self.k,
            ),
            dropped=dropped,
            dropped_fraction=dropped.to(torch.float32) / max(1, global_slots),
        )

    def _run_experts(
        self, received: torch.Tensor, counts: ExchangedCounts, capacity: int | None
    ) -> torch.Tensor:
        """The expert results for ``received`` (rank-major: each source's rows, sorted by
        expert), in the same order. Each expert runs once on all of its rows, taken
        expert-major (sources in rank order, so in global token order); with a capacity,
        rows past it are dropped and send zeros back."""
        device = received.device
        blocks = torch.tensor(counts.received, dtype=torch.int64).reshape(-1)
        # block b = (source, expert): rows in rank-major order; expert-major key of each row
        block_of_row = torch.repeat_interleave(torch.arange(blocks.numel()), blocks)
        source, expert = block_of_row // self.local_experts, block_of_row % self.local_experts
        expert_major = torch.argsort(expert * self.world_size + source, stable=True).to(device)
        rows = received[expert_major]
        per_expert = blocks.view(self.world_size, self.local_experts).sum(0).tolist()
        pieces, start = [], 0
        for j, count in enumerate(per_expert):
            kept = count if capacity is None else min(count, capacity)
            if kept > 0:
                result = self.experts[str(self.first_expert + j)](rows[start : start + kept])
                pieces.append(result.to(received.dtype))
            if count > kept:
                pieces.append(received.new_zeros(count - kept, self.d_out))
            start += count
        results = torch.cat(pieces) if pieces else received.new_zeros(0, self.d_out)
        if torch.is_grad_enabled():
            # The backward of both exchanges is a collective: every rank must run it, also
            # one whose experts got no rows (their results would depend neither on the rows
            # received nor on a parameter). An empty slice of the rows and a throwaway leaf
            # tie both in at no cost, and leave unused experts without a gradient (None, as
            # in MoE: a zero gradient would still move them under Adam's momentum).
            anchor = received[:0].sum() + received.new_zeros((), requires_grad=True)
            results = results + anchor.to(results.dtype)
        # back to rank-major: the inverse of the expert-major permutation
        inverse = torch.empty_like(expert_major)
        inverse[expert_major] = torch.arange(len(expert_major), device=device)
        return results[inverse]
