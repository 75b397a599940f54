#!/usr/bin/env python3
"""Resource usage of the CUDA kernels, from `nvcc -Xptxas -v`, as a Markdown table.

Compiles the given .cu files for one architecture (no GPU needed) and writes, per
kernel: registers, spill stores/loads, shared memory, stack frame (the per-thread
local memory, where the thread-per-sample kernels keep their state) and the
parameter bank (cmem[0], where the by-value program lives).

    python3 cuda/ptxas_report.py --out benchmarks/results/cuda_resources.md \
        cuda/kernels/statevector_kernels.cu

The CMake target `qmoe_cuda_resources` runs it with the build's nvcc and include dir.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

ENTRY = re.compile(r"Compiling entry function '([^']+)' for '(\w+)'")
PROPERTIES = re.compile(r"Function properties for (\S+)")
FRAME = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
USED = re.compile(r"Used (\d+) registers")
SMEM = re.compile(r"(\d+) bytes smem")
CMEM0 = re.compile(r"(\d+) bytes cmem\[0\]")
BARRIERS = re.compile(r"used (\d+) barriers")


def include_dir(given: str | None, scratch: Path) -> Path:
    """The directory that maps qmoe/core and qmoe/cuda onto the sources."""
    if given:
        return Path(given)
    root = scratch / "include"
    (root / "qmoe").mkdir(parents=True)
    os.symlink(REPO / "csrc" / "core", root / "qmoe" / "core")
    os.symlink(REPO / "cuda", root / "qmoe" / "cuda")
    return root


def ptxas_output(nvcc: str, arch: str, includes: Path, source: Path, scratch: Path) -> str:
    command = [
        nvcc,
        "-std=c++17",
        f"-arch={arch}",
        "-Xptxas",
        "-v",
        f"-I{includes}",
        "-c",
        str(source),
        "-o",
        str(scratch / (source.stem + ".o")),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"nvcc failed on {source}:\n{result.stderr}")
    return result.stderr + result.stdout


def demangle(names: list[str]) -> dict[str, str]:
    tool = shutil.which("cu++filt") or shutil.which("c++filt")
    if tool is None or not names:
        return {name: name for name in names}
    out = subprocess.run([tool], input="\n".join(names), capture_output=True, text=True).stdout
    demangled = out.splitlines()
    if len(demangled) != len(names):  # keep the mangled names rather than mismatch them
        return {name: name for name in names}
    return dict(zip(names, demangled, strict=True))


def short_name(demangled: str) -> str:
    """statevector_forward_kernel<float, 4> from the full signature."""
    name = re.sub(r"\(anonymous namespace\)::|qmoe::cuda::", "", demangled)
    name = name.split("(", 1)[0]  # drop the parameter list
    name = re.sub(r"^void ", "", name)
    return name.replace("(int)", "")


def parse(text: str) -> list[dict]:
    kernels: list[dict] = []
    current: dict | None = None
    properties_of: str | None = None
    for line in text.splitlines():
        if m := ENTRY.search(line):
            current = {"mangled": m.group(1), "arch": m.group(2)}
            kernels.append(current)
            continue
        if m := PROPERTIES.search(line):
            properties_of = m.group(1)
            continue
        if (m := FRAME.search(line)) and current and properties_of == current["mangled"]:
            current["stack"], current["spill_stores"], current["spill_loads"] = map(int, m.groups())
            continue
        if (m := USED.search(line)) and current and "registers" not in current:
            current["registers"] = int(m.group(1))
            smem = SMEM.search(line)
            cmem = CMEM0.search(line)
            current["smem"] = int(smem.group(1)) if smem else 0
            if barriers := BARRIERS.search(line):
                current["barriers"] = int(barriers.group(1))
            if cmem:
                current["cmem0"] = int(cmem.group(1))
    return kernels


def nvcc_version(nvcc: str) -> str:
    out = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout
    lines = [line for line in out.splitlines() if "release" in line]
    return lines[0].strip() if lines else "unknown"


def natural_key(name: str) -> list:
    """Orders `kernel<float, 4>` before `kernel<float, 10>`."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def table(kernels: list[dict]) -> str:
    names = {m: short_name(d) for m, d in demangle([k["mangled"] for k in kernels]).items()}
    # ptxas of CUDA 13 no longer prints the parameter bank per kernel: a column only if seen.
    with_cmem = any("cmem0" in k for k in kernels)
    # Barriers: 1 for the kernels whose threads synchronise (the block-per-sample ones).
    with_barriers = any("barriers" in k for k in kernels)
    header = (
        "| kernel | registers | spill stores (B) | spill loads (B) | shared (B) | stack frame (B) |"
    )
    rows = [
        header + (" cmem[0] (B) |" if with_cmem else "") + (" barriers |" if with_barriers else ""),
        "|---|---:|---:|---:|---:|---:|"
        + ("---:|" if with_cmem else "")
        + ("---:|" if with_barriers else ""),
    ]
    for k in sorted(kernels, key=lambda k: natural_key(names[k["mangled"]])):
        row = (
            f"| `{names[k['mangled']]}` | {k.get('registers', '?')} "
            f"| {k.get('spill_stores', '?')} | {k.get('spill_loads', '?')} "
            f"| {k.get('smem', 0)} | {k.get('stack', '?')} |"
        )
        row += f" {k.get('cmem0', '?')} |" if with_cmem else ""
        row += f" {k.get('barriers', 0)} |" if with_barriers else ""
        rows.append(row)
    return "\n".join(rows)


# Sections of the report written by hand (counts no compiler gives), kept from the
# previous report when it is regenerated.
KEPT_HEADINGS = ("## Fused passes over global memory",)


def kept_sections(out: Path) -> str:
    if not out.exists():
        return ""
    previous = out.read_text()
    starts = [previous.find("\n" + heading) for heading in KEPT_HEADINGS]
    starts = [start for start in starts if start >= 0]
    return previous[min(starts) :] if starts else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sources", nargs="+", type=Path)
    parser.add_argument("--nvcc", default=shutil.which("nvcc") or "nvcc")
    parser.add_argument("--arch", default="sm_90")
    parser.add_argument("--include-dir", help="maps qmoe/core and qmoe/cuda (default: made here)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/cuda_resources.md")
    args = parser.parse_args()

    sections = []
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        includes = include_dir(args.include_dir, scratch)
        for source in args.sources:
            kernels = parse(ptxas_output(args.nvcc, args.arch, includes, source, scratch))
            if not kernels:
                sys.exit(f"no kernels found in the ptxas output of {source}")
            try:
                shown = source.resolve().relative_to(REPO)
            except ValueError:
                shown = source
            sections.append(f"## `{shown}`\n\n{table(kernels)}\n")

    text = f"""# CUDA kernel resources (ptxas)

Generated by `cuda/ptxas_report.py` (CMake target `qmoe_cuda_resources`) from
`nvcc -std=c++17 -arch={args.arch} -Xptxas -v` ({nvcc_version(args.nvcc)}); no GPU
involved. Static numbers per kernel: what the compiler allotted, not a measurement.

- *stack frame*: per-thread local memory. The thread-per-sample kernels keep their
  state there (`Complex<Real> psi[1 << MaxQubits]`, plus `lambda` in the adjoint and
  in the parameter shift, whose shifted runs and initial-state sweep share the two):
  2**MaxQubits x 8 B (float) or 16 B (double) per state; the rest is the spills and the
  28-byte scratch of the sin/cos argument reduction's slow path (large angles only).
  The density-matrix kernels (`density_kernels.cu`) keep `rho[4**MaxQubits]`, plus
  `lambda` and `density_checkpoint_slots(MaxQubits)` copies of rho (8, 2, 0) in the
  adjoint (the parameter shift's initial-state sweep reuses rho's buffer for lambda):
  4**MaxQubits x 8 B or 16 B each. At 5-6 qubits that is 32-128 KB per thread, and the
  driver reserves local memory for every thread that can be resident (frame x 2,048 per
  SM x SMs).
- *spill stores/loads*: a few bytes the register allocator chose; not forced by the
  launch bounds (128 threads per block allow 255 registers per thread).
- The by-value `DeviceProgram` + `DeviceReadout` + arguments (under 4 KB) are read in
  place from the parameter bank: they add nothing to the stack frame
  (`__grid_constant__` keeps it so wherever their address is taken).
- *shared* of the thread-per-sample statevector kernels: the block's table of shared
  half angles (cos/sin of t/2 for every weight or constant rotation, 384 entries: 3 KB
  float, 6 KB double), filled by the block's threads before a barrier, so a weight's
  sincos is taken once per block instead of once per sample.
- Block-per-sample kernels (`statevector_block_*_kernel<Real>`, n >= 7): one kernel per
  direction and precision, the qubit count a runtime argument. Their states are in
  *dynamic* shared memory, sized per launch (`BlockLayout`, cuda/kernels/block_layout.h)
  and so not in the *shared* column: a block-size scratch (256 x 4 or 8 B) plus 2**n x
  8 B (float) or 16 B (double) per state while the states fit the device's opt-in limit
  (n <= 13; the float64 backward at 13 keeps lambda in the global workspace); from 14
  qubits on the states are in a global workspace slot per block and the shared memory
  holds the fused passes' tiles (2**t amplitudes per state) and, in a backward, the
  gradient partials (16 x 256 x 4 or 8 B). *barriers*: the
  hardware barriers a block uses (1: `__syncthreads`; 0: its threads never wait).
- Lane-group-per-sample kernels (`statevector_lane_*_kernel<Real, R>`, n = 5..10,
  cuda/kernels/statevector_lane_sample.cuh): a group of 2**(n - R) lanes of one warp
  per sample, 2**R amplitudes per state in each lane's registers (psi; psi and lambda
  in a backward), gates between lanes by `__shfl_xor_sync`. Forward: no spills for
  R = 2..5 in either precision (246 registers at R = 5 in float64). Adjoint: none up to
  R = 3 in float64 (210 registers), 240/1448 B at R = 4 and 13/39 KB at R = 5; float32
  spills little up to R = 4 and 5/3 KB at R = 5. Parameter shift: clean to R = 4 in
  float64, spilling at R = 5. So the register states hold without spills for the
  backward up to 8 (float64) qubits in a warp; n = 10 in float64 backward spills
  heavily. The operators run them for n = 5..8 (R = 2, 3; statevector_decomposition);
  the launchers are compiled for R <= 3 only, since R = 4, 5 took most of the 23
  CPU-minutes and 5 GB of cicc + ptxas the file needed for one architecture with them
  (their rows above are from that build; a regenerated report drops them).
- Why the operators run a thread per sample only up to 4 qubits, lanes at 5..8 and a
  block from 9 (statevector_block_kernels.h): from 5 qubits a thread's state lives in
  its stack frame (runtime bit positions index it), 2-33 KB of local memory per thread
  at the 6-10 qubit buckets, while a lane group keeps it in registers (no float64
  spills to R = 3, a few dozen bytes in float32) and a block keeps one sample's state
  in 2-16 KB of shared memory with a stack frame of tens of bytes. Chosen from this
  report without a GPU; to be confirmed by measurement where one is lent.

{chr(10).join(sections)}"""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text += kept_sections(args.out)
    args.out.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
