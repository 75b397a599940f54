"""Gradients of replicated parameters (the router, an LM's embeddings and attention), summed
over the ranks as DDP does, so that every replica takes the same optimizer step."""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.distributed as dist
from torch import nn


def all_reduce_gradients(
    parameters: Iterable[nn.Parameter],
    group: dist.ProcessGroup,
    op: dist.ReduceOp.RedOpType = dist.ReduceOp.SUM,
) -> None:
    """Reduces the ``.grad`` of ``parameters`` over ``group`` in one flat collective (a
    missing gradient counts as zeros, so that every rank sends the same sizes). Call it
    after ``backward()`` on every rank with the parameters in the same order."""
    parameters = [p for p in parameters if p.requires_grad]
    if not parameters:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=op, group=group)
    pieces = flat.split([p.numel() for p in parameters])
    for parameter, reduced in zip(parameters, pieces, strict=True):
        parameter.grad = reduced.view_as(parameter).clone()


class GradientSummer:
    """Sums the gradients that one ``backward()`` adds to ``parameters`` over ``group``.

    A tensor hook on each parameter keeps the gradient this backward computes for it; the
    layer's output passes through :meth:`mark`, whose backward queues :meth:`_reduce` to
    run once when the whole backward is done (as DDP's reducer and FSDP do). Then one flat
    all-reduce sums those fresh gradients, and each ``.grad`` gets the others' share added,
    so gradients accumulated over earlier backwards are not reduced twice."""

    def __init__(self, parameters: Iterable[nn.Parameter], group: dist.ProcessGroup) -> None:
        self.parameters = [p for p in parameters if p.requires_grad]
        self.group = group
        self._fresh: dict[int, torch.Tensor] = {}
        self._queued = False
        for index, parameter in enumerate(self.parameters):
            parameter.register_hook(self._keeper(index))

    def _keeper(self, index: int):
        def keep(grad: torch.Tensor) -> torch.Tensor:
            if index in self._fresh:  # the parameter is used twice in the graph
                self._fresh[index] = self._fresh[index] + grad
            else:
                self._fresh[index] = grad
            return grad

        return keep

    def mark(self, output: torch.Tensor) -> torch.Tensor:
        """``output`` unchanged; its backward schedules the all-reduce."""
        if not (torch.is_grad_enabled() and output.requires_grad and self.parameters):
            return output
        return _QueueAtEndOfBackward.apply(self, output)

    def _queue(self) -> None:
        if not self._queued:
            self._queued = True
            # runs after every node of this backward, AccumulateGrad included
            torch.autograd.Variable._execution_engine.queue_callback(self._reduce)

    def _reduce(self) -> None:
        fresh = [
            self._fresh.get(i, torch.zeros_like(p)).reshape(-1)
            for i, p in enumerate(self.parameters)
        ]
        self._fresh, self._queued = {}, False
        local = torch.cat(fresh)
        total = local.clone()
        dist.all_reduce(total, group=self.group)
        others = (total - local).split([p.numel() for p in self.parameters])
        for parameter, share in zip(self.parameters, others, strict=True):
            share = share.view_as(parameter).to(parameter.dtype)
            parameter.grad = share.clone() if parameter.grad is None else parameter.grad + share


class _QueueAtEndOfBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, summer: GradientSummer, output: torch.Tensor) -> torch.Tensor:
        ctx.summer = summer
        return output.view_as(output)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        ctx.summer._queue()
        return None, grad
