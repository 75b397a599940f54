"""Quantum routers in Hugging Face transformers MoE models (Mixtral, Qwen2-MoE, OLMoE, ...).

``replace_routers(model, **gate_kwargs)`` swaps the router of every MoE block for one
whose logits come from a :class:`~qmoe_torch.QuantumGate`, leaving every other weight as
it is, and returns the names of the routers it replaced.

transformers 5.x: a block's ``gate`` is a router module (``MixtralTopKRouter``, ...)
returning ``(router_logits, top_k_weights, top_k_index)``, and the model collects
``router_logits`` for its load-balancing loss with a hook on that router class. The
replacement is a subclass of the native router class, so the hook still finds it and
``output_router_logits=True`` still yields the auxiliary loss. transformers 4.x: the
``gate`` is an ``nn.Linear(hidden, n_experts, bias=False)`` returning logits; the
replacement is a QuantumGate with the same contract.
"""

from __future__ import annotations

import torch
from torch import nn

from ..gates import QuantumGate

_ROUTER_CLASSES: dict[type, type] = {}


def _is_native_router(module: nn.Module) -> bool:
    """A transformers 5.x top-k router: top_k, num_experts, hidden_dim and a weight."""
    weight = getattr(module, "weight", None)
    return (
        all(hasattr(module, name) for name in ("top_k", "num_experts", "hidden_dim"))
        and isinstance(weight, torch.Tensor)
        and tuple(weight.shape) == (module.num_experts, module.hidden_dim)
    )


def _quantum_router_class(native: type) -> type:
    """A subclass of the native router class whose logits come from a QuantumGate."""
    if native in _ROUTER_CLASSES:
        return _ROUTER_CLASSES[native]

    class QuantumRouter(native):
        def __init__(self, router: nn.Module, **gate_kwargs) -> None:
            nn.Module.__init__(self)  # the native __init__ wants a config and makes a weight
            self.top_k = router.top_k
            self.num_experts = router.num_experts
            self.hidden_dim = router.hidden_dim
            # Mixtral always renormalises its top-k weights; Qwen2-MoE and OLMoE say so
            self.norm_topk_prob = getattr(router, "norm_topk_prob", True)
            self.quantum_gate = QuantumGate(self.hidden_dim, self.num_experts, **gate_kwargs)
            # the model's weight initialisation touches `weight` of every router it knows
            self.register_buffer(
                "weight", torch.empty(self.num_experts, self.hidden_dim), persistent=False
            )

        def forward(self, hidden_states: torch.Tensor):
            hidden_states = hidden_states.reshape(-1, self.hidden_dim)
            router_logits = self.quantum_gate(hidden_states)
            probs = torch.softmax(router_logits.float(), dim=-1)
            top_value, top_index = torch.topk(probs, self.top_k, dim=-1)
            if self.norm_topk_prob:
                top_value = top_value / top_value.sum(dim=-1, keepdim=True)
            return router_logits, top_value.to(router_logits.dtype), top_index

    QuantumRouter.__name__ = QuantumRouter.__qualname__ = f"Quantum{native.__name__}"
    _ROUTER_CLASSES[native] = QuantumRouter
    return QuantumRouter


class QuantumLinearRouter(QuantumGate):
    """transformers 4.x: a QuantumGate standing in for the block's ``nn.Linear`` gate."""

    def __init__(self, linear: nn.Linear, top_k: int | None, **gate_kwargs) -> None:
        super().__init__(linear.in_features, linear.out_features, **gate_kwargs)
        self.num_experts = linear.out_features
        self.top_k = top_k


def replace_routers(model: nn.Module, **gate_kwargs) -> list[str]:
    """Replace the router of every MoE block of ``model`` by a quantum one, in place.

    ``gate_kwargs`` go to :class:`~qmoe_torch.QuantumGate` (``n_qubits``, ``layers``,
    ``readout``, ...). Returns the qualified names of the replaced routers; an empty list
    means the model has no MoE block this function knows.
    """
    replaced = []
    for name, block in list(model.named_modules()):
        router = getattr(block, "gate", None)
        if not isinstance(router, nn.Module) or "Quantum" in type(router).__name__:
            continue
        if _is_native_router(router):
            new = _quantum_router_class(type(router))(router, **gate_kwargs)
            device = router.weight.device
        elif isinstance(router, nn.Linear) and hasattr(block, "experts"):
            top_k = getattr(block, "top_k", getattr(block, "num_experts_per_tok", None))
            new = QuantumLinearRouter(router, top_k, **gate_kwargs)
            device = router.weight.device
        else:
            continue
        block.gate = new.to(device)
        replaced.append(f"{name}.gate" if name else "gate")
    # the model hooks the router modules it has seen once: let it hook the new ones
    for module in model.modules():
        if hasattr(module, "_output_capturing_hooks_installed"):
            module._output_capturing_hooks_installed = False
    return replaced
