"""Do the readings survive a change of rounding? The same demo run under other kernel
instruction sets (``QMOE_ISA=avx2``, ``QMOE_ISA=baseline``) or thread counts rounds the
circuit simulations differently; chaotic training then takes other paths. This compares
the readings of several such runs, comparison by comparison: a reading that one run
states and another does not is not a conclusion.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .comparisons import evaluate
from .report import _table, summarize

_WORDS = {1: "higher", -1: "lower", 0: "no detectable difference"}


def _load(path: Path) -> dict[str, Any]:
    path = Path(path)
    return json.loads((path / "results.json" if path.is_dir() else path).read_text())


def _per_seed(runs: Sequence[dict[str, Any]]) -> dict[tuple[str, str, int], float]:
    return {(r["phase"], r["row"], r["seed"]): r["test_acc"] for r in runs}


def compare(runs: Sequence[tuple[str, Path]]) -> tuple[str, dict[str, Any]]:
    """``runs``: (label, results folder or results.json) of the same demo under different
    rounding. Returns the markdown and a summary (comparisons that agree / disagree)."""
    if len(runs) < 2:
        raise ValueError(f"compare: {len(runs)} runs given, expected at least 2")
    loaded = [(label, _load(path)) for label, path in runs]
    outcomes = {label: evaluate(summarize(data["runs"])) for label, data in loaded}
    first_label = loaded[0][0]
    keys = [o.comparison.key for o in outcomes[first_label]]
    by_key = {label: {o.comparison.key: o for o in found} for label, found in outcomes.items()}
    body, agree, disagree = [], [], []
    for key in keys:
        present = [by_key[label].get(key) for label, _ in loaded]
        if any(o is None for o in present):
            continue
        directions = {o.result.direction for o in present}
        same = len(directions) == 1
        (agree if same else disagree).append(key)
        first = present[0]
        body.append(
            [
                f"{first.comparison.phase.upper()}: {first.comparison.first.label} − "
                f"{first.comparison.second.label}",
                *[f"{o.result.interval()} {_WORDS[o.result.direction]}" for o in present],
                "agree" if same else "**differ: not a conclusion**",
            ]
        )
    # how much the single runs moved: (row, seed) pairs whose test accuracy changed
    base = _per_seed(loaded[0][1]["runs"])
    moved = []
    for label, data in loaded[1:]:
        other = _per_seed(data["runs"])
        shared = [k for k in base if k in other]
        changed = [k for k in shared if other[k] != base[k]]
        largest = max((abs(other[k] - base[k]) for k in shared), default=0.0)
        moved.append((label, len(changed), len(shared), largest))

    lines = [
        "# Do the readings survive a change of rounding?",
        "",
        "Runs of the same demo (same settings; the seeds of one number are the same in every "
        "run) under different rounding, or with more seeds: "
        + "; ".join(
            f"**{label}**: `{data['meta']['command']}`, {data['meta']['machine']['cpu']}, "
            f"qmoe kernels {data['meta']['machine']['qmoe_isa']}, "
            f"seeds {data['meta']['seeds'][0]}–{data['meta']['seeds'][-1]}"
            + (
                f", {data['meta']['cpu_seconds']:.0f} CPU-seconds"
                if data["meta"].get("cpu_seconds")
                else ""
            )
            for label, data in loaded
        )
        + ".",
        "",
        "Single runs move: "
        + "; ".join(
            f"against {first_label}, {label} changed the test accuracy of {changed} of "
            f"{shared} (row, seed) runs (largest change {largest:.3f})"
            for label, changed, shared, largest in moved
        )
        + ". Each comparison below is a paired-by-seed difference of test accuracy with "
        "its 95% interval, and its reading in each run; a reading is a conclusion only "
        "when every run gives it.",
        "",
        f"**{len(agree)} of {len(agree) + len(disagree)} readings agree** across the runs"
        + (
            "."
            if not disagree
            else "; these do not, and are not stated as conclusions: "
            + ", ".join(f"`{k}`" for k in disagree)
            + "."
        ),
        "",
        _table(
            ["comparison (first − second)", *[label for label, _ in loaded], "readings"],
            body,
            "l" + "r" * len(loaded) + "l",
        ),
    ]
    return "\n".join(lines) + "\n", {"agree": agree, "disagree": disagree, "moved": moved}
