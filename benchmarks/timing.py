"""Timing and machine-description helpers for the qmoe benchmarks.

Every timing here is wall-clock time of a synchronous CPU call measured with
``time.perf_counter``; the garbage collector is paused while a cell is timed.
"""

from __future__ import annotations

import dataclasses
import datetime
import gc
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch


@dataclasses.dataclass(frozen=True)
class TimingPolicy:
    """When to stop repeating a cell.

    After warm-up, calls are repeated until there are ``min_repeats`` of them *and*
    ``min_time`` seconds in total, or, for slow cells, until ``max_time`` seconds in total
    with at least ``slow_repeats`` calls.
    """

    min_time: float = 0.5
    min_repeats: int = 5
    max_time: float = 10.0
    slow_repeats: int = 3
    warmup_time: float = 0.05


@dataclasses.dataclass(frozen=True)
class Timing:
    """Times of one cell, in seconds per call."""

    times: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def min(self) -> float:
        return min(self.times)

    @property
    def repeats(self) -> int:
        return len(self.times)


def time_once(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(fn: Callable[[], object], policy: TimingPolicy, *, warm: bool = False) -> Timing:
    """Warm up (unless ``warm``: already called at this size), then time repeated calls."""
    gc.collect()
    if not warm:
        spent = 0.0
        while True:  # at least one call; cheap calls until warmup_time has passed
            spent += time_once(fn)
            if spent >= policy.warmup_time:
                break
    times: list[float] = []
    total = 0.0
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        while True:
            elapsed = time_once(fn)
            times.append(elapsed)
            total += elapsed
            if len(times) >= policy.min_repeats and total >= policy.min_time:
                break
            if total >= policy.max_time and len(times) >= policy.slow_repeats:
                break
    finally:
        if was_enabled:
            gc.enable()
    return Timing(tuple(times))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _physical_cores() -> int | None:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    cores = set()
    physical_id = core_id = None
    for line in text.splitlines() + [""]:
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            physical_id = value.strip()
        elif key == "core id":
            core_id = value.strip()
        elif not key:
            if core_id is not None:
                cores.add((physical_id, core_id))
            physical_id = core_id = None
    return len(cores) or None


def _git_revision(repo: Path) -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
        return rev + (" (with uncommitted changes)" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_info(repo: Path, isa: str, supported_isas: list[str]) -> list[tuple[str, str]]:
    """(label, value) pairs describing the machine and software of a run."""
    logical = os.cpu_count()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = logical
    physical = _physical_cores()
    cores = f"{logical} logical" + (f", {physical} physical" if physical else "")
    if usable != logical:
        cores += f", {usable} usable by this process"
    isa_text = isa + f" (supported: {', '.join(supported_isas)})"
    if os.environ.get("QMOE_ISA"):
        isa_text += f", QMOE_ISA={os.environ['QMOE_ISA']}"
    return [
        ("date", datetime.datetime.now().astimezone().isoformat(timespec="seconds")),
        ("CPU", _cpu_model()),
        ("cores", cores),
        ("platform", platform.platform()),
        ("python", sys.version.split()[0]),
        ("torch", torch.__version__),
        (
            "torch threads",
            f"{torch.get_num_threads()} intra-op, {torch.get_num_interop_threads()} inter-op",
        ),
        ("qmoe ISA", isa_text),
        ("qmoe revision", _git_revision(repo)),
        ("load average at start", _load_average()),
    ]


def _load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except (AttributeError, OSError):
        return "unknown"
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f} (1, 5, 15 min; busy cores skew timings)"


def format_seconds_ms(seconds: float) -> str:
    """Milliseconds with about 3-4 significant digits."""
    ms = seconds * 1e3
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.4f}"


def format_rate(per_second: float) -> str:
    """Samples per second with a thousands separator (or 3 significant digits below 100)."""
    if per_second >= 100:
        return f"{per_second:,.0f}"
    return f"{per_second:.3g}"


def markdown_table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """Markdown table lines; columns whose index is in ``right`` are right-aligned."""
    widths = [
        max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i])
        for i in range(len(header))
    ]

    def line(cells: list[str]) -> str:
        padded = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = ["-" * (w + 1) + ":" if i in right else "-" * (w + 2) for i, w in enumerate(widths)]
    return [line(header), "|" + "|".join(rule) + "|", *(line(r) for r in rows)]
