"""Checkpoints of an expert-parallel model with ``torch.distributed.checkpoint`` (DCP).

Each rank's state dict names its experts by their global index (``...experts.<e>...``), so
the experts are sharded state: every expert is written once, by its owner, and DCP never
merges two ranks' different experts under one name (it keeps one copy of a name that
several ranks hold, which is right for the replicated router and dense layers and would
be silently wrong for per-rank experts under a shared local name). Loading reads, on each
rank, the experts that rank owns now, so a checkpoint resumes at another world size.
Optimizer state goes through ``torch.distributed.checkpoint.state_dict``, keyed by the
same parameter names.
"""

from __future__ import annotations

import os
import re
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_state_dict,
    set_state_dict,
)

from .agreement import raise_unless_all_agree
from .expert_parallel import ExpertParallelMoE

_MODEL, _OPTIMIZER, _EXTRA = "model", "optimizer", "extra"


def _state(
    model: nn.Module, optimizer: torch.optim.Optimizer | None, extra: dict[str, Any] | None
) -> dict[str, Any]:
    if optimizer is None:
        state = {_MODEL: model.state_dict()}
    else:
        model_state, optimizer_state = get_state_dict(model, optimizer)
        state = {_MODEL: model_state, _OPTIMIZER: optimizer_state}
    if extra is not None:
        state[_EXTRA] = dict(extra)
    return state


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    extra: dict[str, Any] | None = None,
    group: dist.ProcessGroup | None = None,
) -> None:
    """Writes ``model`` (and ``optimizer``, and ``extra``: step counters, RNG states, ...)
    into the folder ``path``; collective over ``group``."""
    dcp.save(_state(model, optimizer, extra), checkpoint_id=str(path), process_group=group)


def _mismatches(path: str, model: nn.Module, optimizer_wanted: bool) -> list[str]:
    """What in ``model`` the checkpoint at ``path`` cannot fill: missing or differently
    shaped tensors, and expert-parallel layers whose expert count differs."""
    try:
        stored = dcp.FileSystemReader(path).read_metadata().state_dict_metadata
    except (OSError, ValueError, RuntimeError) as error:
        return [f"cannot read a checkpoint at {path!r}: {error}"]
    problems = []
    for name, tensor in model.state_dict().items():
        entry = stored.get(f"{_MODEL}.{name}")
        size = getattr(entry, "size", None)
        if entry is None:
            problems.append(f"the checkpoint has no {name!r}")
        elif size is not None and tuple(size) != tuple(tensor.shape):
            problems.append(
                f"{name!r} has shape {tuple(size)} in the checkpoint, {tuple(tensor.shape)} "
                f"in the model"
            )
    for prefix, module in model.named_modules():
        if isinstance(module, ExpertParallelMoE):
            head = f"{_MODEL}.{prefix + '.' if prefix else ''}experts."
            pattern = re.compile(re.escape(head) + r"(\d+)\.")
            indices = {int(m.group(1)) for key in stored if (m := pattern.match(key))}
            if indices != set(range(module.n_experts)):
                problems.append(
                    f"{prefix or 'the model'} has n_experts={module.n_experts}, the "
                    f"checkpoint has {len(indices)} experts there"
                )
    if optimizer_wanted and not any(key.startswith(f"{_OPTIMIZER}.") for key in stored):
        problems.append("the checkpoint holds no optimizer state")
    return problems[:8]


def _keep_saved_optimizer_state(optimizer_state: dict[str, Any], path: str) -> None:
    """Leaves out of ``optimizer_state`` the parameters that had no state when saved (an
    expert no token reached yet has no Adam moments): they stay without state, as in the
    run that saved them, instead of failing the load."""
    stored = dcp.FileSystemReader(path).read_metadata().state_dict_metadata
    per_parameter = optimizer_state.get("state", {})
    for name in list(per_parameter):
        if not all(f"{_OPTIMIZER}.state.{name}.{key}" in stored for key in per_parameter[name]):
            del per_parameter[name]


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    extra: dict[str, Any] | None = None,
    group: dist.ProcessGroup | None = None,
) -> dict[str, Any] | None:
    """Fills ``model`` (and ``optimizer``) from the checkpoint at ``path``, at this run's
    world size whatever the one that saved it; returns the saved ``extra`` (pass a dict of
    the same keys with placeholder values). A checkpoint that does not fit the model
    raises ``ValueError`` on every rank before anything is read."""
    path = str(path)
    group = group if group is not None else dist.group.WORLD
    raise_unless_all_agree(
        "load_checkpoint", {}, _mismatches(path, model, optimizer is not None), group
    )
    state = _state(model, optimizer, extra)
    if optimizer is not None:
        _keep_saved_optimizer_state(state[_OPTIMIZER], path)
    dcp.load(state, checkpoint_id=path, process_group=group)
    if optimizer is None:
        model.load_state_dict(state[_MODEL])
    else:
        # not strict: parameters left out above have no state to load (checked otherwise)
        set_state_dict(
            model,
            optimizer,
            model_state_dict=state[_MODEL],
            optim_state_dict=state[_OPTIMIZER],
            options=StateDictOptions(strict=False),
        )
    return state.get(_EXTRA)
