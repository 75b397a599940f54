"""The figures: routers' decision boundaries (phase 2), accuracy against router
parameters (3A), accuracy against noise (3B). matplotlib with the Agg backend."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .data import Split
from .report import Row, mean_std

CLASS_COLOURS = ("#1f77b4", "#d62728")
LEVELS = [i / 10 for i in range(11)]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def decision_boundaries(results: Sequence[dict[str, Any]], split: Split, path: Path) -> Path:
    """Per router: its P(expert 1) with the routing boundary (top), and the classifier's
    P(class 1) with its decision boundary (bottom); training points of the same seed."""
    plt = _pyplot()
    results = [r for r in results if "grid" in r]
    fig, axes = plt.subplots(
        2, len(results), figsize=(4.2 * len(results), 8.0), squeeze=False, constrained_layout=True
    )
    x, y = split.x_train.numpy(), split.y_train.numpy()
    for column, result in enumerate(results):
        grid = result["grid"]
        extent = (grid["axis"][0], grid["axis"][-1], grid["axis"][0], grid["axis"][-1])
        counts = result["parameters"]
        for row, (key, cmap, title) in enumerate(
            (
                ("p_expert1", "PuOr", "router: P(expert 1)"),
                ("p_class1", "RdBu_r", "MoE: P(class 1)"),
            )
        ):
            ax = axes[row][column]
            # ten flat bands: a PNG of flat colours stays small
            image = ax.contourf(
                grid["axis"], grid["axis"], grid[key], levels=LEVELS, cmap=cmap, alpha=0.75
            )
            ax.contour(
                grid["axis"], grid["axis"], grid[key], levels=[0.5], colors="k", linewidths=1.8
            )
            for label in (0, 1):
                ax.scatter(
                    x[y == label, 0],
                    x[y == label, 1],
                    s=7,
                    c=CLASS_COLOURS[label],
                    edgecolors="white",
                    linewidths=0.3,
                )
            ax.set_xlim(extent[:2])
            ax.set_ylim(extent[2:])
            ax.set_aspect("equal")
            ax.set_xlabel("feature 0 (scaled to [0, π])")
            if column == 0:
                ax.set_ylabel("feature 1")
            heading = f"{result['label']} ({counts['total']} params)\n" if row == 0 else ""
            ax.set_title(
                f"{heading}{title}; test acc {result['test_acc']:.3f}"
                if row == 1
                else f"{heading}{title}",
                fontsize=10,
            )
            if column == len(results) - 1:
                fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(
        f"Phase 2: routing and decision boundaries, seed {results[0]['seed']} "
        "(black: the 0.5 level)"
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _errorbar(
    ax, rows: Sequence[Row], xs: Sequence[float], colour: str, label: str, marker: str = "o"
) -> None:
    test = [mean_std(r.test) for r in rows]
    train = [mean_std(r.train) for r in rows]
    ax.errorbar(
        xs,
        [m for m, _ in test],
        yerr=[s for _, s in test],
        color=colour,
        marker=marker,
        capsize=3,
        label=f"{label}: test",
    )
    ax.plot(
        xs,
        [m for m, _ in train],
        color=colour,
        marker=marker,
        mfc="none",
        linestyle="--",
        alpha=0.6,
        label=f"{label}: train (mean)",
    )


def accuracy_vs_parameters(rows: Sequence[Row], path: Path) -> Path:
    """Test (solid) and training (dashed) accuracy, mean ± std over seeds, against the
    router's parameter count; the paper's training-set numbers as crosses."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10.5, 5.2), constrained_layout=True)
    for kind, z_loss, colour, label, marker in (
        ("mlp", False, "tab:blue", "MLP routers", "o"),
        ("mlp", True, "tab:cyan", "MLP routers + z-loss", "o"),
        ("quantum", False, "tab:purple", "quantum routers", "s"),
        ("quantum", True, "tab:pink", "quantum router + z-loss", "s"),
        ("linear", False, "tab:gray", "linear routers (4: no bias, 6: bias)", "D"),
    ):
        group = sorted(
            (r for r in rows if r.router_kind == kind and bool(r.z_loss) == z_loss),
            key=lambda r: r.parameters["total"],
        )
        if group:
            _errorbar(ax, group, [r.parameters["total"] for r in group], colour, label, marker)
    paper = [(r.parameters["total"], r.paper_accuracy) for r in rows if r.paper_accuracy]
    if paper:
        ax.scatter(
            *zip(*paper, strict=True),
            marker="x",
            s=60,
            color="k",
            zorder=5,
            label="paper (train, 1 seed)",
        )
    for r in rows:
        if r.router_kind == "quantum" and not r.z_loss:
            ax.annotate(
                f"{r.row.removeprefix('quantum-L')}L",
                (r.parameters["total"], mean_std(r.test)[0]),
                textcoords="offset points",
                xytext=(4, -12),
                fontsize=8,
                color="tab:purple",
            )
    ax.set_xscale("log")
    ax.set_xlabel("router parameters")
    ax.set_ylabel("accuracy")
    ax.set_title(
        f"Phase 3A: accuracy vs router size, test: mean ± std over {len(rows[0].seeds)} seeds"
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def accuracy_vs_noise(rows: Sequence[Row], path: Path, reference: Row | None = None) -> Path:
    """Left: accuracy against the channel probability (each router trained and evaluated
    under that noise); right: against shots. ``reference``: an equal-size classical router
    (its noiseless test accuracy as a band)."""
    plt = _pyplot()
    noiseless = next((r for r in rows if r.noise is None), None)
    shots = sorted((r for r in rows if r.noise == "shots"), key=lambda r: r.level)
    fig, axes = plt.subplots(
        1,
        2 if shots or (noiseless and noiseless.eval_shots) else 1,
        figsize=(12, 6.0),
        squeeze=False,
        constrained_layout=True,
    )
    ax = axes[0][0]
    for kind, colour, marker in (
        ("depolarizing", "tab:purple", "s"),
        ("amplitude_damping", "tab:green", "^"),
        ("depolarizing_after_every_gate", "tab:brown", "D"),
    ):
        group = sorted((r for r in rows if r.noise == kind), key=lambda r: r.level)
        if not group:
            continue
        group = ([noiseless] if noiseless else []) + group
        _errorbar(ax, group, [r.level for r in group], colour, kind.replace("_", " "), marker)
    paper = [
        (0.0 if r.noise is None else r.level, r.paper_accuracy)
        for r in rows
        if r.paper_accuracy is not None
    ]
    if paper:
        ax.scatter(
            *zip(*paper, strict=True),
            marker="x",
            s=60,
            color="k",
            zorder=5,
            label="paper, depolarizing (train, 1 seed)",
        )
    if reference is not None:
        mean, std = mean_std(reference.test)
        ax.axhspan(mean - std, mean + std, color="tab:blue", alpha=0.12)
        ax.axhline(
            mean,
            color="tab:blue",
            linestyle=":",
            label=f"{reference.label} ({reference.parameters['total']} params), noiseless: test",
        )
    ax.set_xlabel(
        "channel probability p (each qubit after the embedding and the ansatz, or after every gate)"
    )
    ax.set_ylabel("accuracy")
    ax.set_title("trained and evaluated under the noise")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    if axes.shape[1] > 1:
        ax = axes[0][1]
        if shots:
            _errorbar(
                ax,
                shots,
                [r.level for r in shots],
                "tab:orange",
                "trained and evaluated with shots",
                "o",
            )
        if noiseless and noiseless.eval_shots:
            counts = sorted(noiseless.eval_shots, key=int)
            values = [mean_std(noiseless.eval_shots[c]["test_acc"]) for c in counts]
            ax.errorbar(
                [int(c) for c in counts],
                [m for m, _ in values],
                yerr=[s for _, s in values],
                color="tab:red",
                marker="v",
                capsize=3,
                label="trained exactly, evaluated with shots: test",
            )
            mean, _ = mean_std(noiseless.test)
            ax.axhline(mean, color="k", linestyle=":", label="exact readout: test")
        ax.set_xscale("log")
        ax.set_xlabel("shots per ⟨Z⟩ estimate")
        ax.set_title("shot noise")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    fig.suptitle(
        f"Phase 3B: the quantum router under noise, test: mean ± std over "
        f"{len(rows[0].seeds)} seeds"
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
