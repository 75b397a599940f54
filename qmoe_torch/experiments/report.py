"""Summaries (mean and spread over seeds) and the ``results.md`` / ``results.json`` files."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .phases import (
    COLLAPSE_SHARE,
    EQUAL_BUDGET,
    PAPER_PHASE1,
    PHASES,
    Z_LOSS,
)
from .rows import Row
from .stats import CONFIDENCE, paired


def summarize(results: Sequence[dict[str, Any]]) -> dict[str, list[Row]]:
    """Rows per phase, in the order their first run appears."""
    phases: dict[str, dict[str, Row]] = {}
    for result in results:
        rows = phases.setdefault(result["phase"], {})
        row = rows.get(result["row"])
        if row is None:
            row = rows[result["row"]] = Row(
                result["phase"],
                result["row"],
                result["label"],
                result["paper"],
                result["router_kind"],
                result["noise"],
                result["level"],
                result["parameters"],
                result["z_loss"],
            )
        row.seeds.append(result["seed"])
        row.train.append(result["train_acc"])
        row.test.append(result["test_acc"])
        row.seconds.append(result["train_seconds"])
        row.shares.append(result["expert_shares"])
        for shots, accuracies in result["eval_shots"].items():
            entry = row.eval_shots.setdefault(shots, {"train_acc": [], "test_acc": []})
            for key in entry:
                entry[key].append(accuracies[key])
    return {phase: list(rows.values()) for phase, rows in phases.items()}


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else 0.0


def fmt(values: Sequence[float], digits: int = 3) -> str:
    mean, std = mean_std(values)
    return f"{mean:.{digits}f}" if len(values) == 1 else f"{mean:.{digits}f} ± {std:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _label(row: Row) -> str:
    return row.label if row.paper else f"{row.label} †"


def _params(row: Row) -> str:
    counts = row.parameters
    return (
        f"{counts['total']} ({counts['quantum']} quantum)"
        if counts["quantum"]
        else str(counts["total"])
    )


def _paper(row: Row) -> str:
    value = row.paper_accuracy
    return "—" if value is None else f"{value:.3f}"


def _collapsed(row: Row) -> str:
    if row.router_kind == "none":
        return "—"
    return f"{row.collapsed}/{len(row.shares)}"


def phase_table(phase: str, rows: Sequence[Row]) -> str:
    if phase == "1":

        def paper(row: Row) -> str:
            if row.row not in PAPER_PHASE1:
                return "—"
            accuracy, seconds = PAPER_PHASE1[row.row]
            return f"{accuracy:.4f} in {seconds:,.0f} s"

        body = [
            [
                _label(r),
                str(r.parameters["total"]),
                str(r.parameters["experts"]),
                fmt(r.train),
                fmt(r.test),
                _collapsed(r),
                fmt(r.seconds, 2),
                paper(r),
            ]
            for r in rows
        ]
        return _table(
            [
                "model",
                "router params",
                "expert params",
                "train acc",
                "test acc",
                "collapsed",
                "train s/run",
                "paper (MNIST, 8 epochs): acc in time",
            ],
            body,
            "lrrrrrrr",
        )
    if phase == "3b":
        body = [
            [
                _label(r),
                "none" if r.noise is None else r.noise.replace("_", " "),
                "—" if r.noise is None else f"{r.level:g}",
                fmt(r.train),
                fmt(r.test),
                _paper(r),
                _collapsed(r),
                fmt(r.seconds, 2),
            ]
            for r in rows
        ]
        return _table(
            [
                "router",
                "noise",
                "p / shots",
                "train acc",
                "test acc",
                "paper (train acc)",
                "collapsed",
                "train s/run",
            ],
            body,
            "llrrrrrr",
        )
    body = [
        [
            _label(r),
            _params(r),
            fmt(r.train),
            fmt(r.test),
            _paper(r),
            _collapsed(r),
            fmt(r.seconds, 2),
        ]
        for r in rows
    ]
    return _table(
        [
            "router",
            "router params",
            "train acc",
            "test acc",
            "paper (train acc)",
            "collapsed",
            "train s/run",
        ],
        body,
        "lrrrrrr",
    )


def _paired(first: Row, second: Row) -> str:
    """``first - second`` test accuracy paired by seed: mean [95% interval] and the seeds
    first wins / ties / loses."""
    result = paired(first.test_by_seed(), second.test_by_seed())
    if result is None:
        return "—"
    return f"{result.interval()} ({result.record()})"


def equal_budget_table(rows: Sequence[Row]) -> str | None:
    """Phase 3A: MLP and quantum routers of (nearly) equal size, paired by seed."""
    by_key = {r.row: r for r in rows}
    body = []
    for hidden, layers in EQUAL_BUDGET:
        mlp, quantum = by_key.get(f"mlp-h{hidden}"), by_key.get(f"quantum-L{layers}")
        if mlp is None or quantum is None:
            continue
        mlp_z = by_key.get(f"mlp-h{hidden}+zloss{Z_LOSS:g}")
        body.append(
            [
                f"{mlp.parameters['total']} / {quantum.parameters['total']}",
                fmt(mlp.test),
                "—" if mlp_z is None else fmt(mlp_z.test),
                fmt(quantum.test),
                _paired(quantum, mlp),
                "—" if mlp_z is None else _paired(quantum, mlp_z),
            ]
        )
    if not body:
        return None
    return _table(
        [
            "params (MLP / quantum)",
            "MLP",
            f"MLP + z-loss {Z_LOSS:g}",
            "quantum",
            "quantum − MLP [95% CI] (wins/ties/losses)",
            "quantum − (MLP + z-loss) [95% CI] (wins/ties/losses)",
        ],
        body,
        "rrrrrr",
    )


def shots_table(rows: Sequence[Row]) -> str | None:
    """Phase 3B: the noiselessly trained router read out with finite shots."""
    body = []
    for row in rows:
        for shots, accuracies in row.eval_shots.items():
            body.append(
                [
                    f"{row.label}, evaluated with {shots} shots",
                    fmt(accuracies["train_acc"]),
                    fmt(accuracies["test_acc"]),
                ]
            )
    if not body:
        return None
    return _table(["router (trained exactly)", "train acc", "test acc"], body, "lrr")


def comparison_table(outcomes: Sequence[Any]) -> str:
    """One phase's comparisons: difference, interval, record and the reading it allows."""
    return _table(
        ["comparison (test accuracy)", "first − second [95% CI]", "wins/ties/losses", "reading"],
        [
            [
                f"{o.comparison.first.label} − {o.comparison.second.label}",
                o.result.interval(),
                o.result.record(),
                o.result.verdict("first higher", "first lower"),
            ]
            for o in outcomes
        ],
        "lrrl",
    )


def readings(outcomes: Sequence[Any]) -> list[str]:
    """The sentences the comparisons allow, detectable differences first, each with its
    phase."""
    ordered = sorted(outcomes, key=lambda o: o.result.direction == 0)
    return [f"phase {o.comparison.phase.upper()}: {o.sentence()}" for o in ordered]


def machine() -> dict[str, Any]:
    """What ran it: CPU model, cores, OS, Python, torch and the qmoe kernel ISA."""
    import torch

    from qmoe_torch.ops import active_isa

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "qmoe_isa": active_isa(),
    }


def _workers(count: int) -> str:
    return "runs in this process" if count == 1 else f"{count} worker processes"


def markdown(summaries: dict[str, list[Row]], meta: dict[str, Any], figures: dict[str, str]) -> str:
    from .comparisons import evaluate

    outcomes = evaluate(summaries)
    m = meta["machine"]
    settings = meta["settings"]
    lines = [
        "# qmoe: the experiments of arXiv 2512.22296, reproduced",
        "",
        f"`{meta['command']}` — {meta['date']}, {m['cpu']} ({m['cores']} cores, "
        f"{_workers(meta['workers'])}), torch {m['torch']}, qmoe kernels {m['qmoe_isa']}, "
        f"Python {m['python']}. Total wall time **{meta['wall_seconds']:.1f} s**"
        + " (runs of every phase in one queue); the runs' own times, summed per phase: "
        + ", ".join(f"phase {p} {s:.1f} s" for p, s in meta["phase_seconds"].items())
        + "."
        + (
            f" CPU time of all its processes **{meta['cpu_seconds']:.0f} s** (on idle cores, "
            f"about {meta['cpu_seconds'] / meta['workers']:.0f} s of wall time with "
            f"{meta['workers']} workers)."
            if meta.get("cpu_seconds")
            else ""
        )
        + (
            f" Load average {meta['load_before']:.1f} when it started (wall times on a "
            "shared machine are upper bounds)."
            if "load_before" in meta
            else ""
        )
        + (
            " Run as " + " and ".join(f"`{c}`" for c in meta["composed_of"]) + ", merged "
            "(every run is seeded on its own, so the numbers are those of one invocation)."
            if meta.get("composed_of")
            else ""
        ),
        "",
        f"Seeds {', '.join(map(str, meta['seeds']))}: a seed draws the data set, a stratified "
        f"{1 - meta['test_size']:.0%}/{meta['test_size']:.0%} train/test split, the initial "
        "weights and the minibatch order; every router of one seed sees the same data and "
        "starts from the same experts. Accuracies are mean ± sample standard deviation over "
        "the seeds; the paper's are training-set accuracies from one seed, shown for "
        "reference only (one seed cannot be paired, so no comparison is drawn with them). "
        "Adam, "
        "cross-entropy of the mixture's logits, soft routing (softmax over both experts), "
        "minibatches of the sizes below (32, the authors' Two Moons batch size). "
        "`train s/run`: wall time of one training run (one process, one thread). "
        "`collapsed`: seeds whose trained router "
        f"sends ≥ {COLLAPSE_SHARE:.0%} of the training points to one expert (the MoE is then "
        "in effect that one expert). `linear router with bias` is `LinearGate(bias=True)`, the "
        "paper's `nn.Linear(2, 2)`; `linear router` is bias-free, as in Mixtral-style models. "
        "MLP routers are `Linear(2, h)` → ReLU → `Linear(h, 2)`, as in the paper. † a "
        "reviewer's extra, not in the paper. Comparisons are paired by seed: the mean "
        f"difference of test accuracy, its {CONFIDENCE:.0%} paired t interval, and the seeds "
        "the first row wins / ties / loses; a difference is stated only where its interval "
        'excludes 0, and "no detectable difference" elsewhere (the wording is generated '
        "from the numbers).",
        "",
        _table(
            ["phase", "data points", "epochs", "Adam lr", "batch"],
            [
                [
                    p,
                    "all" if s["points"] is None else str(s["points"]),
                    str(s["epochs"]),
                    f"{s['lr']:g}",
                    str(s["batch_size"]),
                ]
                for p, s in settings.items()
            ],
            "lrrrr",
        ),
    ]
    for phase, rows in summaries.items():
        lines += [
            "",
            f"## {PHASES[phase]}",
            "",
            f"Data: {meta['data'][phase]}.",
            "",
            phase_table(phase, rows),
        ]
        if phase == "3a":
            table = equal_budget_table(rows)
            if table:
                lines += [
                    "",
                    "Equal parameter budgets: test accuracy, and the quantum "
                    "router's difference paired by seed (same data, same initial "
                    "experts):",
                    "",
                    table,
                ]
        if phase == "3b":
            table = shots_table(rows)
            if table:
                lines += [
                    "",
                    "The noiselessly trained router, read out with finite shots "
                    "(estimates of ⟨Z⟩ from that many samples per point):",
                    "",
                    table,
                ]
        mine = [o for o in outcomes if o.comparison.phase == phase]
        if mine:
            lines += [
                "",
                f"Comparisons, paired by seed ({mine[0].result.n} seeds):",
                "",
                comparison_table(mine),
            ]
        if phase in figures:
            lines += ["", f"![{PHASES[phase]}]({figures[phase]})"]
    if outcomes:
        lines += [
            "",
            "## Readings",
            "",
            f"Generated from the intervals above ({CONFIDENCE:.0%}, paired by seed): a "
            "difference is a reading only where its interval excludes 0.",
            "",
        ]
        lines += [f"- {sentence}." for sentence in readings(outcomes)]
    return "\n".join(lines) + "\n"


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if k != "grid"}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def write(
    out: Path, results: Sequence[dict[str, Any]], meta: dict[str, Any], figures: dict[str, str]
) -> Path:
    """``results.md`` (the tables) and ``results.json`` (every run) in ``out``."""
    summaries = summarize(results)
    path = out / "results.md"
    path.write_text(markdown(summaries, meta, figures))
    from .comparisons import evaluate

    comparisons = [
        {
            "key": o.comparison.key,
            **dataclasses.asdict(o.result),
            "direction": o.result.direction,
            "reading": o.sentence(),
        }
        for o in evaluate(summaries)
    ]
    (out / "results.json").write_text(
        json.dumps(
            {"meta": meta, "comparisons": comparisons, "runs": _jsonable(list(results))}, indent=1
        )
    )
    return path
