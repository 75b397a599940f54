"""One language-model run: train a router's model for one seed, measure it on validation.

Per seed the batches are drawn from one ``torch.Generator(seed)``, so every router sees the
same windows in the same order, and :func:`.lm_model.build` gives it the same initial
experts. AdamW with a linear warm-up and cosine decay; the loss is the next-byte
cross-entropy plus ``aux_weight`` times the mean over layers of the load-balancing loss
(``RouterOutput.aux_loss``; Switch / Mixtral use 0.01 to 0.02). One intra-op thread (runs go
in parallel processes), so a seed gives the same numbers, bit for bit, on one machine.

Measured (on the validation windows, the same for every run):

- loss in nats per byte (perplexity ``exp(loss)``, bits per byte ``loss / ln 2``);
- load balance per layer: each expert's share of the ``T * k`` routing slots, its entropy
  divided by ``ln n_experts`` (1: uniform), the largest share times ``n_experts`` (1:
  uniform, ``n_experts / k``: every token to the same k experts), and the slots a
  ``capacity_factor`` layer (Switch's 1.25) would drop, counted per training-sized batch;
- routing stability: on a fixed probe of validation tokens, the fraction whose top-1
  expert is unchanged from one checkpoint to the next (StableMoE's routing fluctuation is
  one minus it);
- wall time and CPU time (this process's) per training step, medians: on a shared machine
  the wall time also counts the waits for a core, the CPU time does not.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from typing import Any

import torch
from torch import nn

from qmoe_torch.routing import expert_counts

from .lm_corpus import Corpus, load
from .lm_model import LMConfig, LMRouter, build
from .training import single_thread

CAPACITY_FACTOR = 1.25  # Switch Transformer's: the dropped-slot count is for this capacity


@dataclasses.dataclass(frozen=True)
class LMSettings:
    """Training length and sizes; ``eval_every`` steps between checkpoints."""

    steps: int = 200
    batch_size: int = 16
    lr: float = 3e-3
    warmup: int = 20
    weight_decay: float = 0.1
    aux_weight: float = 0.01
    eval_every: int = 25
    curve_windows: int = 32  # validation windows at each checkpoint (the curves)
    validation_windows: int = 256  # after training (the reported numbers)
    probe_windows: int = 8  # the first validation windows, for routing stability
    max_bytes: int | None = None  # per split (tests)

    def __post_init__(self) -> None:
        for name in (
            "steps",
            "batch_size",
            "eval_every",
            "curve_windows",
            "validation_windows",
            "probe_windows",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: expected at least 1")
        if not self.lr > 0:
            raise ValueError(f"lr={self.lr}: expected a positive learning rate")
        if self.warmup < 0 or self.aux_weight < 0 or self.weight_decay < 0:
            raise ValueError("warmup, aux_weight and weight_decay must be >= 0")


@dataclasses.dataclass(frozen=True)
class LMJob:
    router: LMRouter
    seed: int
    config: LMConfig
    settings: LMSettings
    corpus: str | None = None  # folder of *.txt (None: Vim's help)

    def cost(self) -> float:
        """Rough relative cost, to start the longest runs first."""
        return self.settings.steps * (1.0 + 0.05 * self.router.qubits)


def _schedule(step: int, settings: LMSettings) -> float:
    """Learning-rate factor: linear warm-up, then cosine decay to 10%."""
    if step < settings.warmup:
        return (step + 1) / settings.warmup
    progress = (step - settings.warmup) / max(1, settings.steps - settings.warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def _loss(model: nn.Module, windows: torch.Tensor) -> tuple[torch.Tensor, list]:
    logits, routed = model(windows[:, :-1])
    loss = nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), windows[:, 1:].reshape(-1)
    )
    return loss, routed


@torch.no_grad()
def evaluate(
    model: nn.Module, windows: torch.Tensor, batch_size: int, n_experts: int
) -> dict[str, Any]:
    """Validation loss, and per layer: expert shares, and slots over capacity per batch."""
    model.eval()
    total, count = 0.0, 0
    counts = None
    dropped = None
    slots = 0
    for begin in range(0, len(windows), batch_size):
        batch = windows[begin : begin + batch_size]
        loss, routed = _loss(model, batch)
        tokens = batch[:, :-1].numel()
        total += float(loss) * tokens
        count += tokens
        layer_counts = torch.stack([expert_counts(r.routing.indices, n_experts) for r in routed])
        k = routed[0].routing.indices.shape[-1]
        capacity = math.ceil(CAPACITY_FACTOR * tokens * k / n_experts)
        over = (layer_counts - capacity).clamp_min(0).sum(1)
        counts = layer_counts if counts is None else counts + layer_counts
        dropped = over if dropped is None else dropped + over
        slots += tokens * k
    model.train()
    shares = counts.double() / slots
    entropy = -(shares * shares.clamp_min(1e-300).log()).sum(1) / math.log(n_experts)
    return {
        "loss": total / count,
        "shares": shares.tolist(),  # [layer][expert]
        "load_entropy": entropy.tolist(),
        "max_load": (shares.max(1).values * n_experts).tolist(),
        "dropped_fraction": (dropped.double() / slots).tolist(),
    }


@torch.no_grad()
def top1(model: nn.Module, probe: torch.Tensor) -> torch.Tensor:
    """Every layer's top-1 expert of every probe token, ``[layers, tokens]``."""
    model.eval()
    _, routed = model(probe[:, :-1])
    model.train()
    return torch.stack([r.routing.indices[:, 0] for r in routed])


def run_lm_job(job: LMJob) -> dict[str, Any]:
    """Trains ``job``'s model; returns its curves and validation measurements."""
    with single_thread():
        corpus: Corpus = load(job.corpus, max_bytes=job.settings.max_bytes)
        config, settings = job.config, job.settings
        validation = corpus.validation_windows(settings.validation_windows, config.context)
        checkpoint_windows = validation[:: max(1, len(validation) // settings.curve_windows)]
        probe = validation[: settings.probe_windows]
        model = build(config, job.router, seed=job.seed)
        gate_parameters = (
            sum(sum(p.numel() for p in gate.parameters()) for gate in model.gates())
            // config.layers
        )
        parameters = sum(p.numel() for p in model.parameters())
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay, fused=True
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: _schedule(step, settings)
        )
        generator = torch.Generator().manual_seed(job.seed)
        curve: list[dict[str, float]] = []
        stability: list[dict[str, Any]] = []
        step_seconds: list[float] = []
        step_cpu_seconds: list[float] = []  # this process's CPU time: robust to a busy machine
        previous = top1(model, probe)
        train_losses: list[float] = []
        for step in range(1, settings.steps + 1):
            windows = corpus.batch(generator, settings.batch_size, config.context)
            start, cpu_start = time.perf_counter(), time.process_time()
            loss, routed = _loss(model, windows)
            aux = torch.stack([r.routing.aux_loss for r in routed]).mean()
            objective = loss + settings.aux_weight * aux
            optimizer.zero_grad()
            objective.backward()
            optimizer.step()
            scheduler.step()
            step_seconds.append(time.perf_counter() - start)
            step_cpu_seconds.append(time.process_time() - cpu_start)
            train_losses.append(float(loss.detach()))
            if step % settings.eval_every == 0 or step == settings.steps:
                measured = evaluate(
                    model, checkpoint_windows, settings.batch_size, config.n_experts
                )
                current = top1(model, probe)
                unchanged = (current == previous).double().mean(1)
                previous = current
                recent = train_losses[-settings.eval_every :]
                curve.append(
                    {
                        "step": step,
                        "train_loss": statistics.fmean(recent),
                        "validation_loss": measured["loss"],
                        "load_entropy": statistics.fmean(measured["load_entropy"]),
                    }
                )
                stability.append({"step": step, "unchanged": unchanged.tolist()})
        final = evaluate(model, validation, settings.batch_size, config.n_experts)
        later = [s for s in stability if s["step"] > settings.steps / 2] or stability[-1:]
        return {
            "router": job.router.key,
            "label": job.router.label,
            "seed": job.seed,
            "gate_parameters": gate_parameters,
            "parameters": parameters,
            "validation_loss": final["loss"],
            "perplexity": math.exp(final["loss"]),
            "bits_per_byte": final["loss"] / math.log(2),
            "shares": final["shares"],
            "load_entropy": statistics.fmean(final["load_entropy"]),
            "max_load": max(final["max_load"]),
            "dropped_fraction": statistics.fmean(final["dropped_fraction"]),
            "stability": statistics.fmean(statistics.fmean(s["unchanged"]) for s in later),
            "stability_curve": stability,
            "curve": curve,
            "step_seconds": statistics.median(step_seconds),
            "step_cpu_seconds": statistics.median(step_cpu_seconds),
            "train_seconds": sum(step_seconds),
            "tokens_per_step": settings.batch_size * config.context,
            "corpus": corpus.description,
        }
