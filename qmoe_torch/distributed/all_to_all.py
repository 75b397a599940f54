"""The two exchanges of an expert-parallel step: per-expert token counts, then the tokens.

Counts go first, without gradient, so that every rank knows how many rows it sends to and
receives from each other rank before the tokens move; the tokens then go through an
autograd-aware ``all_to_all_single`` whose backward is the reverse exchange (the one
torchtitan's expert parallelism uses: ``_functional_collectives.all_to_all_single_autograd``;
``torch.distributed.nn.functional.all_to_all_single`` is deprecated in its favour).
"""

from __future__ import annotations

import dataclasses

import torch
import torch.distributed as dist
from torch.distributed import _functional_collectives as functional_collectives


@dataclasses.dataclass
class ExchangedCounts:
    """What every rank knows after the count exchange.

    Attributes:
        received: ``[world, local_experts]`` rows each source rank sends to each of this
            rank's experts, source ranks in group order.
        global_counts: ``[n_experts]`` routing slots per expert over the whole group.
        send_splits: rows this rank sends to each rank (its tokens sorted by expert).
        receive_splits: rows this rank receives from each rank.
    """

    received: list[list[int]]
    global_counts: torch.Tensor
    send_splits: list[int]
    receive_splits: list[int]


def exchange_counts(
    local_counts: torch.Tensor, world_size: int, group: dist.ProcessGroup
) -> ExchangedCounts:
    """``local_counts[n_experts]`` (int64): this rank's slots per expert, experts owned in
    contiguous blocks of ``n_experts // world_size`` by the ranks in group order.

    Two collectives, called by every rank whatever its token count: an ``all_to_all_single``
    that gives each rank the counts for its own experts, and an ``all_reduce`` for the
    global counts (the load-balancing loss and the capacity). The split sizes are read on
    the host: the token exchange needs them as Python ints (one sync on a GPU, as in every
    all-to-all dispatcher)."""
    local_counts = local_counts.detach().to(torch.int64).contiguous()
    local_experts = local_counts.numel() // world_size
    global_counts = local_counts.clone()
    reduction = dist.all_reduce(global_counts, group=group, async_op=True)
    received = torch.empty_like(local_counts)
    dist.all_to_all_single(received, local_counts, group=group)
    reduction.wait()
    received = received.view(world_size, local_experts)
    return ExchangedCounts(
        received=received.tolist(),
        global_counts=global_counts,
        send_splits=local_counts.view(world_size, local_experts).sum(1).tolist(),
        receive_splits=received.sum(1).tolist(),
    )


def exchange_rows(
    rows: torch.Tensor,
    receive_splits: list[int],
    send_splits: list[int],
    group: dist.ProcessGroup,
) -> torch.Tensor:
    """Sends ``rows[send_splits[r] rows for rank r, ...]`` and returns the rows received,
    ``receive_splits[r]`` from rank r, in rank order. Differentiable: the gradient goes back
    by the same exchange with the splits swapped. Zero-row splits (and zero rows in all)
    are fine; every rank of the group must call it."""
    received = functional_collectives.all_to_all_single_autograd(
        rows.contiguous(), receive_splits, send_splits, group
    )
    # functional collectives return an async tensor; wait so that the rows are ready
    return functional_collectives.wait_tensor(received)
