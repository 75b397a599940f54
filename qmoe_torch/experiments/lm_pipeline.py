"""The language-model experiment: every router for every seed, then ``results.md``,
``results.json`` and two figures in one folder.

The routers (one gate per layer, the rest of the model the same for a seed): Mixtral's
``LinearGate``; ``MLPGate`` at the parameter budget of the 8-qubit ``QuantumGate``; and
``QuantumGate`` with 3 and 8 qubits. The comparisons are paired by seed (same data order,
same initial weights but the gates) with 95% t intervals, worded from the numbers.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import lm_figures
from .lm_corpus import load
from .lm_model import LMConfig, LMRouter, quantum_gate_parameters
from .lm_training import CAPACITY_FACTOR, LMJob, LMSettings, run_lm_job
from .pipeline import cpu_seconds
from .report import _table, machine
from .runner import Runner
from .stats import CONFIDENCE, mean_interval, paired

FIGURES = {"curves": "lm_loss_curves.png", "load": "lm_expert_load.png"}
LICENSE = (
    "Open Publication License v1.0 (OPL-1+, no options exercised; Debian package "
    "vim-runtime, /usr/share/doc/vim-runtime/copyright)"
)


def routers(config: LMConfig) -> list[LMRouter]:
    """Linear, MLP at the 8-qubit quantum gate's budget, quantum with 3 and 8 qubits."""
    budget = quantum_gate_parameters(config, 8)
    return [
        LMRouter("linear"),
        LMRouter("mlp", budget=budget),
        LMRouter("quantum", qubits=3),
        LMRouter("quantum", qubits=8),
    ]


# (first, second): the paired comparisons reported, by router key
PAIRS = (
    ("mlp", "linear"),
    ("quantum-3q", "linear"),
    ("quantum-8q", "linear"),
    ("quantum-8q", "mlp"),
    ("quantum-8q", "quantum-3q"),
)
# (result field, words, which direction is better): what each pair is compared on
MEASURES = (
    ("validation_loss", "validation loss", -1),
    ("load_entropy", "load entropy", 1),
    ("stability", "routing stability", 1),
)


@dataclasses.dataclass
class LMOutcome:
    out: Path
    results_md: Path
    results_json: Path
    figures: dict[str, Path]
    results: list[dict[str, Any]]
    wall_seconds: float


def _by_router(results: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        grouped.setdefault(result["router"], []).append(result)
    return grouped


def _mean_ci(values: Sequence[float], digits: int = 3) -> str:
    mean, low, high = mean_interval(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def comparisons(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every (pair, measure): the paired difference, its interval and its reading."""
    grouped = _by_router(results)
    found = []
    for first, second in PAIRS:
        if first not in grouped or second not in grouped:
            continue
        a, b = grouped[first], grouped[second]
        for field, words, better in MEASURES:
            result = paired({r["seed"]: r[field] for r in a}, {r["seed"]: r[field] for r in b})
            if result is None:
                continue
            if result.direction == 0:
                reading = f"no detectable difference in {words}"
            else:
                higher = result.direction > 0
                quality = "better" if (1 if higher else -1) == better else "worse"
                reading = f"{'higher' if higher else 'lower'} {words} ({quality})"
            found.append(
                {
                    "first": first,
                    "second": second,
                    "first_label": a[0]["label"],
                    "second_label": b[0]["label"],
                    "measure": field,
                    **dataclasses.asdict(result),
                    "n": result.n,
                    "direction": result.direction,
                    "interval": result.interval(4 if field == "validation_loss" else 3),
                    "record": result.record(),
                    "reading": reading,
                }
            )
    return found


def markdown(results: Sequence[dict[str, Any]], meta: dict[str, Any]) -> str:
    m = meta["machine"]
    config, settings = meta["config"], meta["settings"]
    grouped = _by_router(results)
    body = []
    for runs in grouped.values():
        first = runs[0]
        losses = [r["validation_loss"] for r in runs]
        body.append(
            [
                first["label"],
                f"{first['gate_parameters']:,}",
                _mean_ci(losses, 4),
                f"{statistics.fmean(r['perplexity'] for r in runs):.3f}",
                f"{statistics.fmean(r['bits_per_byte'] for r in runs):.3f}",
                _mean_ci([r["load_entropy"] for r in runs]),
                f"{statistics.fmean(r['max_load'] for r in runs):.2f}",
                f"{statistics.fmean(r['dropped_fraction'] for r in runs):.1%}",
                _mean_ci([r["stability"] for r in runs]),
                f"{statistics.median(r['step_seconds'] for r in runs) * 1000:.0f}",
                f"{statistics.median(r['step_cpu_seconds'] for r in runs) * 1000:.0f}",
            ]
        )
    table = _table(
        [
            "router (every layer)",
            "router params / layer",
            f"validation loss, nats/byte [{CONFIDENCE:.0%} CI]",
            "perplexity / byte",
            "bits / byte",
            "load entropy / ln E",
            "max load × E",
            f"slots over capacity {CAPACITY_FACTOR:g}",
            "routing stability",
            "ms / step (wall)",
            "ms / step (CPU)",
        ],
        body,
        "lrrrrrrrrrr",
    )
    found = comparisons(results)
    comparison_table = _table(
        ["first − second", "measure", f"difference [{CONFIDENCE:.0%} CI]", "w/t/l", "reading"],
        [
            [
                f"{c['first_label']} − {c['second_label']}",
                c["measure"].replace("_", " "),
                c["interval"],
                c["record"],
                c["reading"],
            ]
            for c in found
        ],
        "llrrl",
    )
    readings = [
        f"{c['first_label']} vs {c['second_label']}: {c['reading']}, {c['interval']} "
        f"({c['record']} of {c['n']} seeds)"
        for c in sorted(found, key=lambda c: c["direction"] == 0)
    ]
    seeds = meta["seeds"]
    lines = [
        "# Quantum routers in a small MoE language model",
        "",
        f"`{meta['command']}` — {meta['date']}, {m['cpu']} ({m['cores']} cores, "
        f"{meta['workers']} worker processes of one thread; load average "
        f"{meta['load_before']:.1f} before the run), torch {m['torch']}, qmoe kernels "
        f"{m['qmoe_isa']}. Total wall time **{meta['wall_seconds']:.0f} s** for "
        f"{len(results)} runs"
        + (
            f", CPU time of all its processes **{meta['cpu_seconds']:.0f} s** (about "
            f"{meta['cpu_seconds'] / meta['workers']:.0f} s of wall time on idle cores)."
            if meta.get("cpu_seconds")
            else "."
        ),
        "",
        f"**Corpus**: {meta['corpus']}; {LICENSE}.",
        "",
        f"**Model** (Mixtral-style, byte-level): d_model {config['d_model']}, "
        f"{config['layers']} layers, {config['heads']} heads with rotary positions, RMSNorm, "
        f"in each layer a `qmoe_torch.moe.MoE` of {config['n_experts']} SwiGLU experts "
        f"(hidden {config['d_hidden']}), top-{config['k']} (softmax over all experts, the "
        f"top {config['k']} renormalised), dropless; context {config['context']} bytes; "
        f"{results[0]['parameters']:,} parameters with the linear router. **Training**: "
        f"{settings['steps']} steps of {settings['batch_size']} windows "
        f"({results[0]['tokens_per_step']:,} tokens), AdamW lr {settings['lr']:g} "
        f"(warm-up {settings['warmup']}, cosine to 10%), weight decay "
        f"{settings['weight_decay']:g}, load-balancing loss weight {settings['aux_weight']:g} "
        f"for every router. Seeds {', '.join(map(str, seeds))}: a seed draws the batches "
        "(the same windows in the same order for every router) and every weight but the "
        "router's (the same initial experts, attention and embeddings for every router).",
        "",
        f"Measured on {settings['validation_windows']} validation windows "
        f"({settings['validation_windows'] * config['context']:,} bytes, the same for every "
        "run) after training. Load entropy: of each expert's share of the routing slots, "
        "over ln E (1 = uniform), mean over layers; max load × E: the largest share in any "
        "layer times E (1 = uniform); slots over capacity: the share of routing slots a "
        f"layer with capacity factor {CAPACITY_FACTOR:g} would drop (per batch of "
        f"{settings['batch_size']} windows); routing stability: probe tokens "
        f"({settings['probe_windows']} validation windows) whose top-1 expert is unchanged "
        "from one checkpoint to the next (every "
        f"{settings['eval_every']} steps), mean over layers and over the checkpoints of the "
        "second half of training; ms / step: median wall time and median CPU time of the "
        "training process per step (one thread; the wall time counts waits for a core on a "
        "busy machine, the CPU time does not). "
        "Intervals: 95% t intervals over the seeds; differences are paired by seed.",
        "",
        table,
        "",
        f"Paired by seed ({len(seeds)} seeds; a reading only where the interval excludes 0):",
        "",
        comparison_table,
        "",
        "## Readings",
        "",
        "Generated from the intervals: a difference is stated only where its 95% interval "
        "excludes 0.",
        "",
        *[f"- {r}." for r in readings],
        "",
        f"![loss and stability]({FIGURES['curves']})",
        "",
        f"![expert load]({FIGURES['load']})",
    ]
    return "\n".join(lines) + "\n"


def run(
    out: Path | str,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    config: LMConfig | None = None,
    settings: LMSettings | None = None,
    corpus: str | None = None,
    workers: int = 1,
    progress: bool = True,
    command: str = "",
) -> LMOutcome:
    """Trains every router for every seed and writes the results into ``out``."""
    if not seeds:
        raise ValueError("no seeds")
    config = config or LMConfig()
    settings = settings or LMSettings()
    description = load(corpus, max_bytes=settings.max_bytes).description  # fails early
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    cpu_before = cpu_seconds()
    start = time.perf_counter()
    jobs = [LMJob(r, s, config, settings, corpus) for r in routers(config) for s in seeds]
    with Runner(min(workers, len(jobs)), progress=progress, function=run_lm_job) as runner:
        results = runner.run(jobs, desc="language model runs")
    wall = time.perf_counter() - start
    cpu = cpu_seconds() - cpu_before
    meta = {
        "command": command or "qmoe_torch.experiments.lm_pipeline.run()",
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "machine": machine(),
        "workers": runner.workers,
        "load_before": load_before,
        "seeds": list(seeds),
        "config": dataclasses.asdict(config),
        "settings": dataclasses.asdict(settings),
        "corpus": description,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
    }
    figures = {
        "curves": lm_figures.curves(results, out / FIGURES["curves"]),
        "load": lm_figures.expert_load(results, out / FIGURES["load"]),
    }
    results_md = out / "results.md"
    results_md.write_text(markdown(results, meta))
    results_json = out / "results.json"
    results_json.write_text(
        json.dumps(
            {"meta": meta, "comparisons": comparisons(results), "runs": list(results)}, indent=1
        )
    )
    return LMOutcome(out, results_md, results_json, figures, list(results), wall)
