"""Figures of the language-model experiment: validation loss and routing stability over
training, and each expert's share of the routing slots per layer. matplotlib, Agg."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .figures import _pyplot

COLOURS = ("tab:gray", "tab:blue", "tab:purple", "tab:red", "tab:green", "tab:orange")


def _by_router(results: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        grouped.setdefault(result["router"], []).append(result)
    return grouped


def curves(results: Sequence[dict[str, Any]], path: Path) -> Path:
    """Left: validation loss (solid: mean over seeds, band: min to max) and training loss
    (dashed) against the step; right: the probe tokens whose top-1 expert is unchanged
    since the previous checkpoint (mean over layers and seeds)."""
    plt = _pyplot()
    fig, (loss_ax, stable_ax) = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
    for colour, runs in zip(COLOURS, _by_router(results).values(), strict=False):
        steps = [point["step"] for point in runs[0]["curve"]]
        validation = [
            [run["curve"][i]["validation_loss"] for run in runs] for i in range(len(steps))
        ]
        train = [[run["curve"][i]["train_loss"] for run in runs] for i in range(len(steps))]
        label = f"{runs[0]['label']} ({len(runs)} seeds)"
        loss_ax.plot(steps, [statistics.fmean(v) for v in validation], color=colour, label=label)
        loss_ax.fill_between(
            steps,
            [min(v) for v in validation],
            [max(v) for v in validation],
            color=colour,
            alpha=0.15,
        )
        loss_ax.plot(
            steps, [statistics.fmean(v) for v in train], color=colour, linestyle="--", alpha=0.6
        )
        stable = [
            statistics.fmean(
                statistics.fmean(run["stability_curve"][i]["unchanged"]) for run in runs
            )
            for i in range(len(steps))
        ]
        stable_ax.plot(steps, stable, color=colour, marker=".", label=runs[0]["label"])
    loss_ax.set_xlabel("training step")
    loss_ax.set_ylabel("loss (nats per byte)")
    loss_ax.set_title("validation loss (solid, band: min–max over seeds), training (dashed)")
    loss_ax.grid(alpha=0.3)
    loss_ax.legend(fontsize=8)
    stable_ax.set_xlabel("training step")
    stable_ax.set_ylabel("top-1 expert unchanged since the last checkpoint")
    stable_ax.set_title("routing stability (probe tokens, mean over layers and seeds)")
    stable_ax.set_ylim(0, 1.02)
    stable_ax.grid(alpha=0.3)
    stable_ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def expert_load(results: Sequence[dict[str, Any]], path: Path) -> Path:
    """Per router, each expert's share of the validation routing slots in each layer (mean
    over seeds); 1 / n_experts is a perfect balance."""
    plt = _pyplot()
    grouped = _by_router(results)
    fig, axes = plt.subplots(
        1, len(grouped), figsize=(3.6 * len(grouped), 3.6), squeeze=False, constrained_layout=True
    )
    image = None
    for ax, runs in zip(axes[0], grouped.values(), strict=True):
        layers, experts = len(runs[0]["shares"]), len(runs[0]["shares"][0])
        shares = [
            [statistics.fmean(run["shares"][layer][e] for run in runs) for e in range(experts)]
            for layer in range(layers)
        ]
        image = ax.imshow(shares, cmap="viridis", vmin=0, vmax=max(0.5, 2.5 / experts))
        for layer in range(layers):
            for e in range(experts):
                ax.text(
                    e,
                    layer,
                    f"{shares[layer][e]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if shares[layer][e] < 1.5 / experts else "black",
                )
        ax.set_xticks(range(experts))
        ax.set_yticks(range(layers))
        ax.set_xlabel("expert")
        ax.set_ylabel("layer")
        ax.set_title(runs[0]["label"], fontsize=9)
    if image is not None:
        fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="share of routing slots")
    fig.suptitle(f"Expert load on the validation text (uniform: {1 / experts:.3f})")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
