"""Top-k routing over any gate's logits, with the usual auxiliary losses.

``TopKRouter(gate, k)`` turns ``gate(hidden) -> logits[..., n_experts]`` into the experts
each token goes to and their combine weights, as Switch / GShard / Mixtral style MoE
layers do, and computes the load-balancing loss and the router z-loss on the way.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch
from torch import nn

from . import _library

_library.load()

SoftmaxOrder = Literal["before", "after"]


@dataclasses.dataclass
class RouterOutput:
    """One routing decision for ``T`` tokens (leading dimensions of ``hidden`` flattened).

    Attributes:
        logits: ``[T, E]`` the gate's logits (after noise and jitter, in training).
        probs: ``[T, E]`` softmax of ``logits``, float32 or wider.
        weights: ``[T, k]`` combine weights of the selected experts.
        indices: ``[T, k]`` the selected experts, best first.

    Computed from those when read (a decoding step reads none of them, and they cost
    more than the routing itself at a few tokens), again on every read, so that each read
    follows the grad mode it is made in:

        load: ``[E]`` fraction of the ``T * k`` routing slots each expert received.
        aux_loss: load-balancing loss ``E * sum_e load_e * mean_t probs[t, e]`` (1 when
            perfectly balanced; Switch Transformer for k = 1, GShard-style for k > 1).
        z_loss: router z-loss ``mean_t logsumexp(logits[t])**2`` (ST-MoE), over the
            logits in float32 or wider.
    """

    logits: torch.Tensor
    probs: torch.Tensor
    weights: torch.Tensor
    indices: torch.Tensor

    @property
    def load(self) -> torch.Tensor:
        return expert_load(self.indices, self.probs.shape[-1])

    @property
    def aux_loss(self) -> torch.Tensor:
        return load_balancing_loss(self.probs, self.indices)

    @property
    def z_loss(self) -> torch.Tensor:
        return router_z_loss(_routing_precision(self.logits))


def _routing_precision(logits: torch.Tensor) -> torch.Tensor:
    """``logits`` in at least float32: routing decisions in float32 whatever the model's dtype."""
    return logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits


# a pytree node, so that torch.export can return it (torch.compile needs no registration);
# the serialized name lets a program that returns it be saved (torch.export.save, AOTI)
torch.export.register_dataclass(RouterOutput, serialized_type_name="qmoe_torch.RouterOutput")


def load_balancing_loss(probs: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """``E * sum_e f_e * P_e``: ``f_e`` the fraction of routing slots sent to expert ``e``
    (not differentiable), ``P_e`` the mean router probability of ``e`` (differentiable)."""
    n_experts = probs.shape[-1]
    load = expert_load(indices, n_experts).to(probs.dtype)
    return n_experts * torch.sum(load * probs.mean(dim=0))


def router_z_loss(logits: torch.Tensor) -> torch.Tensor:
    """``mean_t logsumexp(logits[t])**2``: keeps the logits small (ST-MoE)."""
    return torch.logsumexp(logits, dim=-1).square().mean()


def expert_counts(indices: torch.Tensor, n_experts: int) -> torch.Tensor:
    """Routing slots (int64 ``[n_experts]``) that go to each expert in ``indices``.

    A scatter-add into ``n_experts`` bins rather than ``torch.bincount``, whose output size
    depends on the largest index (data-dependent: a graph break under ``torch.compile``
    and a failure under ``torch.export``)."""
    flat = indices.reshape(-1)
    counts = torch.zeros(n_experts, dtype=torch.int64, device=indices.device)
    return counts.scatter_add(0, flat, torch.ones_like(flat, dtype=torch.int64))


def expert_load(indices: torch.Tensor, n_experts: int) -> torch.Tensor:
    """Fraction of the routing slots in ``indices[T, k]`` that go to each of ``n_experts``."""
    return expert_counts(indices, n_experts).to(torch.float32) / max(1, indices.numel())


def top_k_routing(
    logits: torch.Tensor, k: int, *, softmax: SoftmaxOrder = "before", renormalize: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(probs, weights, indices)`` of top-k routing over ``logits[T, E]``, as `TopKRouter`
    routes: ``probs`` the softmax over every expert (in float32 for float16 / bfloat16
    logits), ``weights`` and ``indices`` the ``k`` selected experts' combine weights and
    ids, best first (``softmax`` and ``renormalize`` as in `TopKRouter`).
    One call of ``torch.ops.qmoe.top_k_routing``."""
    if softmax not in ("before", "after"):
        raise ValueError(f"top_k_routing: softmax={softmax!r}, expected 'before' or 'after'")
    return _top_k_routing(logits, k, softmax == "before", renormalize)


_top_k_routing = torch.ops.qmoe.top_k_routing.default

_NOT_FINITE = "TopKRouter: the gate's logits contain NaN or infinity"


def _check_finite_logits(logits: torch.Tensor) -> None:
    finite = torch.isfinite(logits).all()
    if torch.compiler.is_compiling():  # torch.compile and torch.export: stays in the graph
        torch._assert_async(finite, _NOT_FINITE)
    elif not finite:
        raise ValueError(_NOT_FINITE)


class TopKRouter(nn.Module):
    """Top-k routing over ``gate``'s logits.

    Args:
        gate: a module mapping ``hidden[..., d_model]`` to ``logits[..., n_experts]`` with an
            ``n_experts`` attribute (QuantumGate, LinearGate, MLPGate, ...).
        k: experts per token, ``1 <= k <= n_experts``.
        softmax: ``"before"``: probabilities over all experts, the top k of them as weights
            (renormalised to sum to 1 if ``renormalize``; Mixtral, Switch); ``"after"``: the
            top k logits, softmax over those k only (GShard's top-2 dispatch).
        renormalize: see ``softmax="before"``.
        noise_std: noisy top-k gating (Shazeer et al.): Gaussian noise of this standard
            deviation added to the logits in training.
        jitter: multiplicative input jitter ``U(1 - jitter, 1 + jitter)`` on ``hidden`` in
            training (Switch Transformer).
        check_finite: check that the gate's logits are all finite, raising ``ValueError``
            ("the gate's logits contain NaN or infinity") if not. Off by default: the check
            reads a value computed on the device, which is a host-device sync every step on
            a GPU and a data-dependent branch that ``torch.compile(fullgraph=True)`` and
            ``torch.export`` cannot trace. Off, it costs nothing (no op at all, in eager or
            in a graph). On, eager raises ``ValueError``; inside ``torch.compile`` /
            ``torch.export`` the check becomes ``torch._assert_async`` in the graph (no graph
            break; a ``RuntimeError`` with the same message, on a GPU a device-side assert,
            which ends the CUDA context), so use it for debugging.

    Noise and jitter draw random numbers: a compiled router draws other ones than eager.
    """

    def __init__(
        self,
        gate: nn.Module,
        k: int = 2,
        *,
        softmax: SoftmaxOrder = "before",
        renormalize: bool = True,
        noise_std: float = 0.0,
        jitter: float = 0.0,
        check_finite: bool = False,
    ) -> None:
        super().__init__()
        n_experts = getattr(gate, "n_experts", None)
        if not isinstance(n_experts, int):
            raise TypeError("TopKRouter: gate must have an integer n_experts attribute")
        if not 1 <= k <= n_experts:
            raise ValueError(f"TopKRouter: k={k} must be between 1 and n_experts={n_experts}")
        if softmax not in ("before", "after"):
            raise ValueError(f"TopKRouter: softmax={softmax!r}, expected 'before' or 'after'")
        if noise_std < 0 or not 0 <= jitter < 1:
            raise ValueError(
                f"TopKRouter: noise_std must be >= 0 and jitter in [0, 1), got "
                f"{noise_std} and {jitter}"
            )
        self.gate, self.k, self.n_experts = gate, k, n_experts
        self.softmax, self.renormalize = softmax, renormalize
        self.noise_std, self.jitter = noise_std, jitter
        self.check_finite = check_finite

    def forward(self, hidden: torch.Tensor) -> RouterOutput:
        if self.training and self.jitter > 0:
            hidden = hidden * torch.empty_like(hidden).uniform_(1 - self.jitter, 1 + self.jitter)
        logits = self.gate(hidden)
        if logits.dim() != 2:  # a reshape costs a decoding step about a microsecond
            logits = logits.reshape(-1, self.n_experts)
        if self.check_finite:
            _check_finite_logits(logits)
        if self.training and self.noise_std > 0:
            logits = logits + torch.randn_like(logits) * self.noise_std
        # softmax, top-k and renormalisation in one operator call (made of the same ATen
        # calls: one Python dispatch instead of four is what a decoding step notices)
        probs, weights, indices = _top_k_routing(
            logits, self.k, self.softmax == "before", self.renormalize
        )
        return RouterOutput(logits=logits, probs=probs, weights=weights, indices=indices)
