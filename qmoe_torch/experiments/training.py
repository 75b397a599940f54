"""Training and evaluation: Adam on the cross-entropy of the mixture's logits, minibatches
in a seeded order, accuracy as the argmax of the logits.

Minibatches of 32 shuffled training points (``TrainConfig.batch_size``), as the authors'
Two Moons notebooks load them. Everything random is seeded, and a run uses one intra-op
thread (:func:`single_thread`), so the same seed gives the same numbers, bit for bit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator

import torch
from torch import nn

# From the modules that define them, not from qmoe_torch's __init__ that re-exports them:
# a module inside qmoe_torch importing the package itself is one re-export away from a cycle.
from qmoe_torch.moe import MoE, MoEOutput


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """``z_loss``: weight of the router z-loss (ST-MoE, ``RouterOutput.z_loss``) added to
    the cross-entropy; 0 in the paper."""

    epochs: int
    lr: float
    batch_size: int = 32
    z_loss: float = 0.0


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """One intra-op thread for the block (tiny models: threads only add overhead; several
    runs go in parallel processes instead), restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: TrainConfig, *, seed: int
) -> dict[str, float]:
    """Trains ``model`` in place; returns the wall time and the last epoch's mean loss."""
    generator = torch.Generator().manual_seed(seed)
    # fused: one kernel per step instead of one per parameter (a fifth of a step here)
    parameters = list(model.parameters())
    optimizer = torch.optim.Adam(parameters, lr=config.lr, fused=True)
    model.train()
    start = time.perf_counter()
    steps, last_loss = 0, float("nan")
    for _ in range(config.epochs):
        order = torch.randperm(len(x), generator=generator)
        total, count = 0.0, 0
        for begin in range(0, len(x), config.batch_size):
            batch = order[begin : begin + config.batch_size]
            out = model(x[batch])
            loss = nn.functional.cross_entropy(_logits(out), y[batch])
            if config.z_loss and isinstance(out, MoEOutput):
                loss = loss + config.z_loss * out.routing.z_loss
            # what optimizer.zero_grad() does (set_to_none), without its profiling hooks:
            # a twentieth of a step of these tiny models
            for parameter in parameters:
                parameter.grad = None
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
            count += len(batch)
            steps += 1
        last_loss = total / max(1, count)
    return {"seconds": time.perf_counter() - start, "steps": steps, "loss": last_loss}


def _logits(out: MoEOutput | torch.Tensor) -> torch.Tensor:
    """The class logits of a mixture's output, or of a plain model's (a lone expert)."""
    return out.output if isinstance(out, MoEOutput) else out


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor) -> MoEOutput | torch.Tensor:
    model.eval()
    return model(x)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of points whose largest logit is their label."""
    return float((_logits(predict(model, x)).argmax(-1) == y).double().mean())


def expert_shares(model: nn.Module, x: torch.Tensor) -> list[float]:
    """Fraction of the points ``x`` whose most probable expert is each expert (``[1.0]``
    for a model without a mixture)."""
    if not isinstance(model, MoE):
        return [1.0]
    routing = predict(model, x).routing
    counts = torch.bincount(routing.indices[:, 0], minlength=routing.probs.shape[1])
    return (counts.double() / len(x)).tolist()
