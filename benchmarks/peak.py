"""Measured FMA peak of this machine: builds and runs ``fma_peak.c`` (the yardstick for % peak).

The probe is compiled at run time with the system C compiler (``$CC``, else ``cc``, else
``gcc``) with ``-O2 -fopenmp`` and the ISA flags matching the ISA the qmoe library runs
(``qmoe_torch.ops.active_isa()``), into a temporary directory, and run as a subprocess with
``OMP_NUM_THREADS`` set to the benchmark's thread count. Without a working compiler,
:func:`measure_peak` returns ``None`` and a message; the benchmark then leaves out the peak
columns.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "fma_peak.c"
BASE_FLAGS = ("-O2", "-fopenmp")
ISA_FLAGS = {"avx512": ("-mavx512f",), "avx2": ("-mavx2", "-mfma"), "baseline": ()}
C_TYPES = {"float32": "float", "float64": "double"}


@dataclasses.dataclass(frozen=True)
class Peak:
    """Best sustained FMA rates, GFLOP/s (1 FMA = 2 flops), keyed by dtype name."""

    isa: str
    command: str
    compiler_version: str
    threads: int
    accumulators: int
    vector_bytes: int
    seconds: float
    repeats: int
    one_thread: dict[str, float]
    all_threads: dict[str, float]

    def combined(self, other: Peak | None) -> Peak:
        """The higher rate of two probes (a busy shared host only ever lowers a reading)."""
        if other is None:
            return self
        return dataclasses.replace(
            self,
            one_thread={k: max(v, other.one_thread[k]) for k, v in self.one_thread.items()},
            all_threads={k: max(v, other.all_threads[k]) for k, v in self.all_threads.items()},
        )


def find_compiler() -> str | None:
    """``$CC`` if set and found, else ``cc``, else ``gcc``; ``None`` when there is none."""
    for name in (os.environ.get("CC"), "cc", "gcc"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _version(compiler: str) -> str:
    try:
        out = subprocess.run(
            [compiler, "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.splitlines()[0].strip() if out else "unknown"


def measure_peak(
    isa: str, threads: int, seconds: float = 0.2, repeats: int = 3
) -> tuple[Peak | None, str]:
    """Compiles and runs the probe; ``(peak, "")`` or ``(None, why not)``. Never raises."""
    compiler = find_compiler()
    if compiler is None:
        return None, "no C compiler found ($CC, cc, gcc): peak probe and % peak left out"
    flags = [*BASE_FLAGS, *ISA_FLAGS.get(isa, ())]
    with tempfile.TemporaryDirectory(prefix="qmoe_fma_peak_") as tmp:
        binary = Path(tmp) / "fma_peak"
        build = [compiler, *flags, "-o", str(binary), str(SOURCE)]
        try:
            subprocess.run(build, capture_output=True, text=True, timeout=120, check=True)
        except subprocess.CalledProcessError as exc:
            tail = (exc.stderr or "").strip().splitlines()[-1:] or ["no output"]
            return None, f"peak probe did not compile (`{' '.join(build)}`: {tail[0]})"
        except (OSError, subprocess.SubprocessError) as exc:
            return None, f"peak probe did not compile: {exc}"
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        try:
            run = subprocess.run(
                [str(binary), f"{seconds:g}", str(repeats)],
                capture_output=True,
                text=True,
                timeout=60 + 8 * repeats * seconds,
                check=True,
                env=env,
            )
            data = json.loads(run.stdout)
        except (OSError, subprocess.SubprocessError, json.JSONDecodeError) as exc:
            return None, f"peak probe failed to run: {exc}"
    if data.get("isa") != isa:
        return None, f"peak probe built for {data.get('isa')!r}, not the library's {isa!r}"
    command = " ".join([Path(compiler).name, *flags])
    return Peak(
        isa=isa,
        command=command,
        compiler_version=_version(compiler),
        threads=int(data["threads"]),
        accumulators=int(data["accumulators"]),
        vector_bytes=int(data["vector_bytes"]),
        seconds=float(data["seconds"]),
        repeats=int(data["repeats"]),
        one_thread={d: float(data[c]["1"]) for d, c in C_TYPES.items()},
        all_threads={d: float(data[c]["all"]) for d, c in C_TYPES.items()},
    ), ""


def peak_section(first: Peak | None, last: Peak | None, message: str) -> list[str]:
    """Markdown lines: both probe readings and the combined peak that % peak refers to."""
    lines = ["## FMA peak (`benchmarks/fma_peak.c`)", ""]
    if first is None:
        return [*lines, f"Not measured: {message}.", ""]
    lines += [
        f"Built with `{first.command}` ({first.compiler_version}); ISA {first.isa} "
        f"({first.vector_bytes * 8}-bit vectors), {first.accumulators} independent FMA "
        f"accumulator chains per thread, best of {first.repeats} runs of ~{first.seconds:g} s; "
        "1 FMA = 2 flops (all-thread runs: the 1-thread run's length on every thread). "
        f'"All threads" = {first.threads} OpenMP threads (the benchmark\'s torch thread '
        "count). Probed before and after the benchmark; % peak below is against the higher "
        "reading of each column (a busy shared host only lowers a reading).",
        "",
    ]
    rows = [("before the benchmark", first), ("after the benchmark", last)]
    if last is not None:
        rows.append(("used for % peak", first.combined(last)))
    table = [
        "| probe | fp32 1 thread | fp32 all threads | fp64 1 thread | fp64 all threads |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, peak in rows:
        if peak is None:
            table.append(f"| {label} | not measured | | | |")
            continue
        cells = [
            f"{peak.one_thread['float32']:.1f}",
            f"{peak.all_threads['float32']:.1f}",
            f"{peak.one_thread['float64']:.1f}",
            f"{peak.all_threads['float64']:.1f}",
        ]
        table.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["GFLOP/s:", "", *table, ""]
    busy = [
        dtype
        for dtype in C_TYPES
        if first.all_threads[dtype] < 0.75 * first.threads * first.one_thread[dtype]
    ]
    if busy and first.threads > 1:
        lines += [
            f"**Warning**: before the benchmark, the all-thread {' and '.join(busy)} "
            f"rate was below 75% of {first.threads} × the 1-thread rate: other work was "
            "probably running on these cores, and may have slowed every timing of this run "
            "(the reference's multi-threaded PyTorch ops most of all).",
            "",
        ]
    return lines
