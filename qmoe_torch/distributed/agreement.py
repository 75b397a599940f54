"""Every rank reaches the same verdict: a configuration problem found on any rank is raised,
with the same message, on all of them, instead of leaving the others blocked in the next
collective (the hang DeepSpeed's issue 6809 describes came from ranks that disagreed)."""

from __future__ import annotations

from typing import Any

import torch.distributed as dist


def raise_unless_all_agree(
    what: str,
    description: dict[str, Any],
    problems: list[str],
    group: dist.ProcessGroup,
) -> None:
    """Gathers each rank's ``description`` (settings that must be equal everywhere) and
    ``problems`` (what this rank found wrong by itself) and raises ``ValueError`` on every
    rank if any rank had a problem or any setting differs between ranks. One
    ``all_gather_object``: every rank must call it (it times out with the group, never
    waits forever, if one rank does not)."""
    gathered: list[Any] = [None] * dist.get_world_size(group)
    dist.all_gather_object(gathered, (description, problems), group=group)
    messages = []
    for rank, (_, rank_problems) in enumerate(gathered):
        messages += [f"rank {rank}: {problem}" for problem in rank_problems]
    reference = gathered[0][0]
    for key in sorted(set().union(*(d.keys() for d, _ in gathered))):
        values = [d.get(key) for d, _ in gathered]
        if any(value != reference.get(key) for value in values):
            by_rank = ", ".join(f"rank {rank}: {value!r}" for rank, value in enumerate(values))
            messages.append(f"{key} differs across ranks ({by_rank})")
    if messages:
        raise ValueError(f"{what}: " + "; ".join(messages))
