"""A rank's routing decision, with the load and the auxiliary losses of the whole group."""

from __future__ import annotations

import dataclasses

import torch

from ..routing import RouterOutput


@dataclasses.dataclass
class GroupRouterOutput(RouterOutput):
    """:class:`~qmoe_torch.RouterOutput` for this rank's tokens, whose ``load`` is the
    group's and whose losses are this rank's shares of the group's.

    Attributes:
        global_counts: ``[E]`` routing slots per expert over the group (all-reduced).
        global_tokens: tokens over the group.

    ``load`` is ``global_counts / (global_tokens * k)``, the same on every rank.
    ``aux_loss`` is ``E * sum_e load_e * sum_{t on this rank} probs[t, e] / global_tokens``
    and ``z_loss`` is ``sum_{t on this rank} logsumexp(logits[t])**2 / global_tokens``: the
    global counts with this rank's probabilities, so the ranks' shares sum to the losses of
    one layer on all of the group's tokens (and a rank with no tokens has a share of 0).
    """

    global_counts: torch.Tensor = dataclasses.field(default_factory=lambda: torch.zeros(0))
    global_tokens: int = 0

    @property
    def load(self) -> torch.Tensor:
        slots = max(1, int(self.global_counts.sum()))
        return self.global_counts.to(torch.float32) / slots

    @property
    def aux_loss(self) -> torch.Tensor:
        n_experts = self.probs.shape[-1]
        load = self.load.to(self.probs.dtype)
        return n_experts * torch.sum(load * self.probs.sum(0)) / max(1, self.global_tokens)

    @property
    def z_loss(self) -> torch.Tensor:
        logits = self.logits
        wide = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
        return torch.logsumexp(wide, dim=-1).square().sum() / max(1, self.global_tokens)
