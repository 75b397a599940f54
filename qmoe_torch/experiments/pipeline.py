"""One call runs the chosen phases and writes everything: ``results.md``, ``results.json``
and the figures, into one folder."""

from __future__ import annotations

import dataclasses
import datetime
import os
import resource
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import figures, report
from .phases import PHASES, PRESETS, PhaseSettings, jobs_for_phase
from .runner import Runner

FIGURE_NAMES = {
    "2": "phase2_decision_boundaries.png",
    "3a": "phase3a_accuracy_vs_parameters.png",
    "3b": "phase3b_accuracy_vs_noise.png",
}


@dataclasses.dataclass
class Outcome:
    """Where the results went, and the runs themselves."""

    out: Path
    results_md: Path
    results_json: Path
    figures: dict[str, Path]
    results: list[dict[str, Any]]
    wall_seconds: float


def cpu_seconds() -> float:
    """User + system CPU time of this process and of its exited children (the workers):
    what the run costs whatever else the machine is doing."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def settings_for(preset: str, phase: str, **overrides: Any) -> PhaseSettings:
    """The preset's settings of ``phase`` with the given (non-None) fields replaced."""
    settings = PRESETS[preset][phase]
    changes = {k: v for k, v in overrides.items() if v is not None}
    return dataclasses.replace(settings, **changes) if changes else settings


def run(
    phases: Sequence[str],
    out: Path | str,
    *,
    preset: str = "paper",
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    test_size: float = 0.3,
    extras: bool = True,
    workers: int = 1,
    progress: bool = True,
    command: str = "",
    overrides: dict[str, Any] | None = None,
) -> Outcome:
    """Runs ``phases`` (of "1", "2", "3a", "3b") for every seed and writes the outputs."""
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        raise ValueError(f"unknown phases {unknown}, expected some of {list(PHASES)}")
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}, expected one of {list(PRESETS)}")
    if not seeds:
        raise ValueError("no seeds")
    if not 0 < test_size < 1:
        raise ValueError(f"test_size={test_size}: expected a fraction in (0, 1)")
    phases = [p for p in PHASES if p in phases]  # table order
    settings = {p: settings_for(preset, p, **(overrides or {})) for p in phases}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]  # the machine may be shared: say how busy it was
    cpu_before = cpu_seconds()
    start = time.perf_counter()
    jobs_by_phase = {
        p: jobs_for_phase(p, settings[p], list(seeds), test_size=test_size, extras=extras)
        for p in phases
    }
    every_job = [job for p in phases for job in jobs_by_phase[p]]
    # one queue for every phase, longest runs first: no worker idles at a phase's end
    with Runner(min(workers, len(every_job)), progress=progress) as runner:
        results = runner.run(every_job, desc="phases " + ", ".join(phases))
    # seconds of one process per phase: its runs' wall times, summed
    phase_seconds = {
        p: sum(r["train_seconds"] + r["eval_seconds"] for r in results if r["phase"] == p)
        for p in phases
    }

    summaries = report.summarize(results)
    drawn: dict[str, Path] = {}
    if "2" in phases:
        first = jobs_by_phase["2"][0]
        drawn["2"] = figures.decision_boundaries(
            [r for r in results if r["phase"] == "2"], first.data(), out / FIGURE_NAMES["2"]
        )
    if "3a" in phases:
        drawn["3a"] = figures.accuracy_vs_parameters(summaries["3a"], out / FIGURE_NAMES["3a"])
    if "3b" in phases:
        reference = next((r for r in summaries.get("3a", []) if r.row == "mlp-h4"), None)
        drawn["3b"] = figures.accuracy_vs_noise(
            summaries["3b"], out / FIGURE_NAMES["3b"], reference=reference
        )
    wall = time.perf_counter() - start
    cpu = cpu_seconds() - cpu_before  # the workers have exited: their time is counted
    meta = {
        "command": command or f"qmoe_torch.experiments.pipeline.run({list(phases)})",
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "machine": report.machine(),
        "workers": runner.workers,
        "preset": preset,
        "seeds": list(seeds),
        "test_size": test_size,
        "extras": extras,
        "settings": {p: dataclasses.asdict(s) for p, s in settings.items()},
        "data": {p: jobs_by_phase[p][0].data().description for p in phases},
        "phase_seconds": phase_seconds,
        "wall_seconds": wall,
        "load_before": load_before,
        "cpu_seconds": cpu,
    }
    results_md = report.write(out, results, meta, {p: f.name for p, f in drawn.items()})
    return Outcome(out, results_md, out / "results.json", drawn, results, wall)
