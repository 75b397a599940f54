"""Quantum routers in Hugging Face transformers MoE models, for every top-k router family.

``replace_routers(model, **gate_kwargs)`` finds the MoE blocks of ``model`` (modules with
an ``experts`` child), and in each the router whose logits are one linear projection of
the hidden state, read from the router's own source (:mod:`.router_source`). The router
keeps its class's code: only that projection is replaced, by a call of a
:class:`~qmoe_torch.QuantumGate` (or any gate from ``gate_factory``), so the family's
routing rule (softmax or sigmoid, ``e_score_correction_bias``, group-limited top-k,
routed scaling factor, renormalisation, top-k then softmax, extra forward arguments)
runs unchanged on the new logits. The router object stays where it is, under whatever
attribute name its block gives it (``gate``, ``router``, ...), as an instance of a
subclass of its native class, so the model's output hooks still collect
``router_logits`` for the load-balancing loss, and its buffers and attributes (the
correction bias, ``top_k``, ...) are untouched. The projection's parameters become
non-persistent zero buffers of the same shape and dtype (the family's code and
``initialize_weights`` may still read them; nothing trains or saves them).

A model whose MoE blocks have no such router raises a ``ValueError`` naming what was
found. transformers 4.x blocks whose ``gate`` is a plain ``nn.Linear`` get a QuantumGate
in its place.

Reloading a saved swapped model: ``from_pretrained(model_class, path)`` (this module)
builds ``model_class`` with its routers swapped before the weights load, from the gate
settings ``replace_routers`` recorded in ``config.qmoe_router_gate``.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..gates import QuantumGate
from .router_source import ProjectionSite, projection_sites, rewrite_methods

GateFactory = Callable[[torch.Tensor, "torch.Tensor | None"], nn.Module]

# the gate's name inside a swapped router, and the method the rewritten code calls
GATE_ATTRIBUTE = "quantum_gate"
LOGITS_METHOD = "gate_logits"
# the config attribute that records the gate settings for from_pretrained
CONFIG_ATTRIBUTE = "qmoe_router_gate"


class SwappedRouter(nn.Module):
    """Marker base of every swapped router: its logits come from ``self.quantum_gate``."""

    def gate_logits(self, hidden: torch.Tensor, out_dtype: torch.dtype | None = None):
        """What the native projection returned: the gate's logits for ``hidden``, in the
        dtype a Linear would give (``hidden``'s, or the autocast dtype)."""
        logits = _run_gate(getattr(self, GATE_ATTRIBUTE), hidden)
        return logits if out_dtype is None else logits.to(out_dtype)


def _run_gate(gate: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """``gate(hidden)``; a QuantumGate whose parameters were cast to bfloat16 / float16
    (``model.to(torch.bfloat16)``) runs on float32 copies of them, as the families'
    own routers upcast their weight, and the gradients flow back through the casts."""
    if not isinstance(gate, QuantumGate) or gate.circuit_weights.dtype in (
        torch.float32,
        torch.float64,
    ):
        return gate(hidden)
    upcast = {
        name: parameter.float() if parameter.is_floating_point() else parameter
        for name, parameter in gate.named_parameters()
    }
    return torch.func.functional_call(gate, upcast, (hidden,))


@dataclass(frozen=True)
class RouterPlan:
    """How one router is swapped: its path, the projection's sites and parameters."""

    path: str
    router: nn.Module
    sites: tuple[ProjectionSite, ...]
    weight: str  # attribute path of the projection's weight on the router
    bias: str | None

    @property
    def native_class(self) -> type:
        return type(self.router)


def _get(module: nn.Module, path: str):
    try:
        return operator.attrgetter(path)(module)
    except AttributeError:
        return None


def _site_parameters(router: nn.Module, site: ProjectionSite) -> tuple[str, str | None] | None:
    """(weight path, bias path) of a site, when it projects with a 2-D parameter."""
    if site.kind == "functional":
        weight, bias = site.weight, site.bias
    elif site.kind == "self":
        if not isinstance(router, nn.Linear):
            return None
        weight, bias = "weight", "bias" if router.bias is not None else None
    else:
        linear = _get(router, site.module)
        if not isinstance(linear, nn.Linear) or type(linear).forward is not nn.Linear.forward:
            return None
        weight = f"{site.module}.weight"
        bias = f"{site.module}.bias" if linear.bias is not None else None
    parameter = _get(router, weight)
    if not isinstance(parameter, nn.Parameter) or parameter.dim() != 2:
        return None
    if bias is not None and not isinstance(_get(router, bias), nn.Parameter):
        return None
    return weight, bias


def _expert_counts(router: nn.Module, experts: nn.Module) -> set[int]:
    """The sizes a router's logits may have: the number of experts, and the router's own
    integer attributes that count experts (routed + shared, + zero-compute, ...)."""
    counts = {
        value
        for name, value in vars(router).items()
        if "expert" in name and isinstance(value, int) and not isinstance(value, bool)
    }
    number = getattr(experts, "num_experts", None)
    if isinstance(number, int):
        counts.add(number)
    elif isinstance(experts, (nn.ModuleList, nn.ModuleDict)):
        counts.add(len(experts))
    else:
        counts.update(p.shape[0] for p in experts.parameters(recurse=False) if p.dim() == 3)
    return counts


def _plan_router(path: str, router: nn.Module, experts: nn.Module) -> RouterPlan | str:
    """The swap plan of a candidate router, or why it cannot be swapped."""
    name = type(router).__name__
    sites = projection_sites(type(router))
    resolved = [(site, _site_parameters(router, site)) for site in sites]
    linear = [(site, params) for site, params in resolved if params is not None]
    if not linear:
        return f"{path} ({name}): no linear projection of the hidden state in its methods"
    counts = _expert_counts(router, experts)
    onto_experts = [
        (site, params) for site, params in linear if _get(router, params[0]).shape[0] in counts
    ]
    if not onto_experts:
        found = "; ".join(
            f"{site.text} -> {_get(router, params[0]).shape[0]} outputs" for site, params in linear
        )
        return (
            f"{path} ({name}): its logits are not a linear projection onto the experts "
            f"(projections found: {found}; expert counts {sorted(counts)})"
        )
    distinct = {params for _, params in onto_experts}
    if len(distinct) > 1:
        return f"{path} ({name}): several projections onto the experts: {sorted(distinct)}"
    ((weight, bias),) = distinct
    return RouterPlan(path, router, tuple(site for site, _ in onto_experts), weight, bias)


def _children_to_examine(block: nn.Module):
    for name, child in block.named_children():
        if name == "experts" or type(child).__module__.startswith("torch"):
            continue
        yield name, child


def plan_routers(model: nn.Module) -> tuple[list[RouterPlan], list[tuple[str, nn.Module]]]:
    """(swap plans, legacy ``nn.Linear`` gates) for every MoE block of ``model``;
    ``ValueError`` naming what was found when a block has no router to swap."""
    plans, legacy, problems = [], [], []
    for block_path, block in model.named_modules():
        experts = getattr(block, "experts", None)
        if not isinstance(experts, nn.Module):
            continue
        prefix = f"{block_path}." if block_path else ""
        gate = getattr(block, "gate", None)
        if type(gate) is nn.Linear:  # transformers 4.x: the block routes from gate's logits
            legacy.append((f"{prefix}gate", block))
            continue
        found, reasons = [], []
        for name, child in _children_to_examine(block):
            if isinstance(child, SwappedRouter):
                found.append(None)
                continue
            plan = _plan_router(f"{prefix}{name}", child, experts)
            (found if isinstance(plan, RouterPlan) else reasons).append(plan)
        if len(found) == 1:
            if found[0] is not None:
                plans.append(found[0])
        elif found:
            paths = [plan.path for plan in found if plan is not None]
            problems.append(f"{block_path} ({type(block).__name__}): several routers {paths}")
        else:
            children = ", ".join(f"{n} ({type(c).__name__})" for n, c in block.named_children())
            detail = "; ".join(reasons) if reasons else "no child but the experts to route"
            problems.append(
                f"{block_path or 'model'} ({type(block).__name__}, children: {children}): {detail}"
            )
    if problems:
        raise ValueError(
            f"replace_routers: {type(model).__name__} has MoE blocks whose router logits are "
            "not one linear projection of the hidden state, so no gate can replace them: "
            + " | ".join(problems)
        )
    return plans, legacy


@functools.cache
def _swapped_class(native: type, sites: tuple[ProjectionSite, ...]) -> type:
    """A subclass of ``native`` whose methods are the native ones with the projection
    sites replaced by ``self.gate_logits(...)``."""
    methods = rewrite_methods(native, sites, LOGITS_METHOD)
    swapped = type(f"Quantum{native.__name__}", (native, SwappedRouter), methods)
    swapped.__module__ = __name__
    swapped.__doc__ = (
        f"{native.__name__} with its logits from ``{GATE_ATTRIBUTE}``; every other line "
        f"is {native.__name__}'s own code (rewritten: {', '.join(sorted(methods))})."
    )
    return swapped


def _freeze_into_buffer(router: nn.Module, path: str) -> None:
    """Turn the parameter at ``path`` into a non-persistent zero buffer of its shape."""
    owner_path, _, name = path.rpartition(".")
    owner = router.get_submodule(owner_path) if owner_path else router
    parameter = getattr(owner, name)
    delattr(owner, name)
    owner.register_buffer(name, torch.zeros_like(parameter.detach()), persistent=False)


def quantum_gate_factory(**gate_kwargs) -> GateFactory:
    """A gate factory making ``QuantumGate(in_features, out_features, **gate_kwargs)``."""

    def make(weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Module:
        return QuantumGate(weight.shape[1], weight.shape[0], **gate_kwargs)

    return make


def replace_routers(
    model: nn.Module, gate_factory: GateFactory | None = None, **gate_kwargs
) -> list[str]:
    """Replace where the router logits of every MoE block of ``model`` come from, in place.

    ``gate_factory(weight, bias)`` makes each router's gate from the native projection's
    weight ``[n_experts, d_model]`` and bias (or None); by default a
    :class:`~qmoe_torch.QuantumGate` with ``gate_kwargs`` (``n_qubits``, ``layers``,
    ``readout``, ...). Returns the qualified names of the swapped routers; an empty list
    means the model has no MoE block (or all are swapped already); a ``ValueError`` names
    the blocks whose router cannot be swapped, before anything is changed.
    """
    if gate_factory is not None and gate_kwargs:
        raise ValueError("replace_routers: give gate_factory or gate keyword arguments, not both")
    plans, legacy = plan_routers(model)
    factory = gate_factory or quantum_gate_factory(**gate_kwargs)
    replaced = []
    for plan in plans:
        router = plan.router
        weight = _get(router, plan.weight)
        bias = _get(router, plan.bias) if plan.bias else None
        gate = factory(weight.detach(), None if bias is None else bias.detach())
        router.__class__ = _swapped_class(plan.native_class, plan.sites)
        for path in (plan.weight, plan.bias):
            if path is not None:
                _freeze_into_buffer(router, path)
        setattr(router, GATE_ATTRIBUTE, gate.to(weight.device))
        replaced.append(plan.path)
    for path, block in legacy:
        linear = block.gate
        top_k = getattr(block, "top_k", getattr(block, "num_experts_per_tok", None))
        block.gate = QuantumLinearRouter(linear, top_k, **gate_kwargs).to(linear.weight.device)
        replaced.append(path)
    config = getattr(model, "config", None)
    if replaced and gate_factory is None and config is not None:
        _record_gate_settings(config, gate_kwargs)
    return replaced


def _record_gate_settings(config, gate_kwargs: dict) -> None:
    """Store the gate settings in the config (saved in config.json) when JSON can hold them."""
    try:
        json.dumps(gate_kwargs)
    except TypeError:
        return
    setattr(config, CONFIG_ATTRIBUTE, dict(gate_kwargs))


class QuantumLinearRouter(QuantumGate):
    """transformers 4.x: a QuantumGate standing in for the block's ``nn.Linear`` gate."""

    def __init__(self, linear: nn.Linear, top_k: int | None, **gate_kwargs) -> None:
        super().__init__(linear.in_features, linear.out_features, **gate_kwargs)
        self.num_experts = linear.out_features
        self.top_k = top_k


def _class_swapping_on_init(model_class: type, gate_factory: GateFactory | None) -> type:
    """``model_class`` whose ``__init__`` swaps the routers (with ``gate_factory``, or
    the gate settings in the config) before ``from_pretrained`` loads the weights."""

    def __init__(self, config, *args, **kwargs):
        model_class.__init__(self, config, *args, **kwargs)
        if gate_factory is not None:
            replace_routers(self, gate_factory)
        else:
            replace_routers(self, **getattr(config, CONFIG_ATTRIBUTE))

    # the family's module and name: transformers finds the checkpoint conversions that
    # undo its save-time key renaming from them
    namespace = {
        "__init__": __init__,
        "__module__": model_class.__module__,
        "__qualname__": model_class.__qualname__,
    }
    return type(model_class.__name__, (model_class,), namespace)


def from_pretrained(model_class: type, path, gate_factory: GateFactory | None = None, **kwargs):
    """Load a model saved after :func:`replace_routers`, its gate weights restored.

    ``model_class`` is the concrete transformers class it was (``MixtralForCausalLM``,
    ...); ``kwargs`` go to ``model_class.from_pretrained``. The gates are built with the
    settings ``replace_routers`` recorded in the saved config, or by ``gate_factory``
    when the model was swapped with one::

        model.save_pretrained(path)                   # after replace_routers(model, ...)
        model = from_pretrained(MixtralForCausalLM, path)
    """
    import transformers

    config = kwargs.pop("config", None) or transformers.AutoConfig.from_pretrained(path)
    if gate_factory is None and not hasattr(config, CONFIG_ATTRIBUTE):
        raise ValueError(
            f"from_pretrained: the config in {path} has no {CONFIG_ATTRIBUTE}: the model was "
            "not saved after replace_routers with gate keyword arguments; pass the "
            "gate_factory it was swapped with"
        )
    swapping = _class_swapping_on_init(model_class, gate_factory)
    model = swapping.from_pretrained(path, config=config, **kwargs)
    model.__class__ = model_class  # the same object layout: the swap is in its modules
    return model
