"""The peers benchmark's figure: median seconds per call of every system in every cell, log
scale (needs matplotlib; without it nothing is drawn and the report says so)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

MARKERS = "os^vD<>ph*X"


def plot_medians(
    systems: Sequence[Any],
    cells: Sequence[Any],
    outcomes: Mapping[tuple[str, str], Any],
    path: Path,
    baseline: str,
) -> str:
    """One marker per timed (system, cell), cells along x; returns a line for the report."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no figure was drawn."
    fig, ax = plt.subplots(figsize=(max(8.0, 0.8 * len(cells) + 3), 5.5))
    drawn = 0
    for index, system in enumerate(systems):
        points = [
            (i, outcomes[(system.key, cell.key)].timing.median)
            for i, cell in enumerate(cells)
            if (system.key, cell.key) in outcomes
            and outcomes[(system.key, cell.key)].status == "timed"
        ]
        if not points:
            continue
        drawn += len(points)
        ax.plot(
            [i for i, _ in points],
            [t for _, t in points],
            marker=MARKERS[index % len(MARKERS)],
            linestyle="none",
            markersize=8 if system.key == baseline else 6,
            label=system.key,
        )
    if not drawn:
        plt.close(fig)
        return "No cell was timed: no figure was drawn."
    ax.set_yscale("log")
    ax.set_xticks(range(len(cells)))
    ax.set_xticklabels([cell.label for cell in cells], rotation=40, ha="right", fontsize="small")
    ax.set_ylabel("median seconds per call (log)")
    ax.grid(True, which="both", axis="y", alpha=0.3)
    ax.legend(fontsize="small", ncol=2)
    ax.set_title("qmoe and its peers, same cells (missing marker: not run, see the table)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"![median seconds per call, log scale]({path.name})"
