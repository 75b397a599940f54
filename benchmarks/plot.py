"""Samples/s against qubit count, one panel per batch size, as a PNG (needs matplotlib).

``pip install -r requirements-bench.txt`` installs matplotlib; without it
:func:`plot_samples_per_s` draws nothing and says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

Series = Mapping[str, Sequence[tuple[int, float | None]]]
"""Line label -> (n_qubits, samples/s or None where the cell was skipped)."""

STYLES = {  # by the label's kind part: colour, line style
    "op forward": ("tab:blue", "-"),
    "op fwd+bwd adjoint": ("tab:orange", "-"),
    "ref forward": ("tab:blue", ":"),
    "ref fwd+bwd (autograd)": ("tab:orange", ":"),
}
MARKERS = {"float32": "o", "float64": "s"}


def plot_samples_per_s(panels: Mapping[int, Series], path: Path, title: str) -> str:
    """Writes one panel per batch (log y) to ``path``; returns a message for the log."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -r requirements-bench.txt): no plot"
    if not panels:
        return "no batch to plot"
    fig, axes = plt.subplots(
        1, len(panels), figsize=(6.4 * len(panels), 4.8), squeeze=False, sharey=True
    )
    for ax, (batch, series) in zip(axes[0], sorted(panels.items()), strict=True):
        for label, points in series.items():
            kept = [(n, v) for n, v in points if v is not None and v > 0]
            if not kept:
                continue
            dtype, _, kind = label.partition(" ")
            colour, line = STYLES.get(kind, (None, "-"))
            ax.plot(
                [n for n, _ in kept],
                [v for _, v in kept],
                marker=MARKERS.get(dtype, "o"),
                color=colour,
                linestyle=line,
                alpha=1.0 if dtype == "float32" else 0.6,
                label=label,
            )
        ax.set_yscale("log")
        qubits = sorted({n for points in series.values() for n, _ in points})
        if qubits:
            ax.set_xticks(qubits)
            ax.set_xlim(qubits[0] - 0.5, qubits[-1] + 0.5)
        ax.set_xlabel("qubits")
        ax.set_title(f"batch {batch:,}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("samples / s")
    legend = {}  # label -> handle, over every panel (a line may be absent from one)
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    fig.suptitle(title)
    fig.tight_layout()
    fig.legend(
        list(legend.values()),
        list(legend),
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=2 * len(panels),
        fontsize="small",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return f"plot written to {path}"
