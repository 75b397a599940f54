#!/usr/bin/env python
"""Latency of a served quantum-routed MoE layer: C++ against Python.

The layer of ``examples/cpp_inference`` (``MoE(8, 4 experts, d_hidden 16, top-2)``
routed by ``QuantumGate(8, 4, n_qubits=4, layers=2)``), one forward without autograd at
1, 16 and 4,096 tokens, four ways on the same weights and the same number of threads:

- C++, AOTInductor: the exported package run by ``AOTIModelPackageLoader``;
- C++, qmoe::nn modules, eager;
- Python eager (``qmoe_torch.MoE``);
- Python ``torch.compile`` (``fullgraph=True``, dynamic token count).

Medians of single calls. The C++ side is benchmarks/cpp_latency, built against an
installed package (``--prefix``: ``cmake --install <build> --prefix <prefix>``).
Compiled and exported, the dropless layer runs the padded dispatch (every expert over
every token, static shapes); eager runs the sorted one.

    python benchmarks/bench_cpp.py --prefix build/cpp-package/prefix \\
        --out benchmarks/results/cpp-latency.md
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
from pathlib import Path

import torch
from timing import TimingPolicy, machine_info, markdown_table, measure

from qmoe_torch import ops
from qmoe_torch.libtorch import load_state_dict

REPO = Path(__file__).resolve().parent.parent
TOKENS = (1, 16, 4096)


def _export_model():
    path = REPO / "examples" / "cpp_inference" / "export_model.py"
    spec = importlib.util.spec_from_file_location("export_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_cpp(prefix: Path, build: Path, jobs: str) -> Path:
    prefixes = f"{prefix.resolve()};{torch.utils.cmake_prefix_path}"
    subprocess.run(
        ["cmake", "-S", str(REPO / "benchmarks" / "cpp_latency"), "-B", str(build),
         "-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_PREFIX_PATH={prefixes}"],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(["cmake", "--build", str(build), "-j", jobs], check=True)
    return build / "qmoe_cpp_latency"


def cpp_medians(
    program: Path, model: Path, min_time: float, threads: int
) -> dict[tuple[str, int], float]:
    # LibTorch takes its intra-op thread count from OMP_NUM_THREADS
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    result = subprocess.run(
        [str(program), str(model / "moe.pt2"), str(model / "moe_weights.pt"), str(min_time)]
        + [str(t) for t in TOKENS],
        check=True, capture_output=True, text=True, env=env,
    )  # fmt: skip
    medians = {}
    for line in result.stdout.splitlines():
        kind, tokens, seconds, _ = line.split()
        medians[(kind, int(tokens))] = float(seconds)
    return medians


def python_medians(model: Path, min_time: float) -> dict[tuple[str, int], float]:
    export_model = _export_model()
    layer = load_state_dict(export_model.build_model(), model / "moe_weights.pt").eval()
    compiled = torch.compile(layer, fullgraph=True, dynamic=True)
    policy = TimingPolicy(min_time=min_time, min_repeats=10)
    medians = {}
    with torch.no_grad():
        for tokens in TOKENS:
            hidden = torch.randn(tokens, export_model.D_MODEL)
            medians[("python", tokens)] = measure(
                lambda hidden=hidden: layer(hidden), policy
            ).median
            for _ in range(3):  # compiles for this size first
                compiled(hidden)
            medians[("compile", tokens)] = measure(
                lambda hidden=hidden: compiled(hidden), policy
            ).median
    return medians


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prefix", type=Path, required=True, help="installed qmoe package")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "bench-cpp")
    parser.add_argument(
        "--model", type=Path, help="an export_model.py folder to use instead of exporting"
    )
    parser.add_argument("--min-time", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3, help="C++/Python rounds, interleaved")
    parser.add_argument("--jobs", default="2")
    # one by default: on a shared, loaded machine a second OpenMP thread that is not
    # scheduled stalls every parallel region (milliseconds per call)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads, both sides")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    model = args.model or args.work / "model"
    if args.model is None:
        subprocess.run(
            [sys.executable, str(REPO / "examples" / "cpp_inference" / "export_model.py"),
             "--out", str(model)],
            check=True,
        )  # fmt: skip
    program = build_cpp(args.prefix, args.work / "build", args.jobs)
    torch.set_num_threads(args.threads)
    info = machine_info(REPO, ops.active_isa(), ops.supported_isas())
    # rounds alternate the processes, so that a change of the machine's load hits both
    rounds: list[dict[tuple[str, int], float]] = []
    for _ in range(args.runs):
        rounds.append({**cpp_medians(program, model, args.min_time, args.threads),
                       **python_medians(model, args.min_time)})  # fmt: skip
    median = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}

    columns = [("aoti", "C++ AOTInductor"), ("eager", "C++ qmoe::nn eager"),
               ("python", "Python eager"), ("compile", "Python torch.compile")]  # fmt: skip
    header = ["tokens"] + [name for _, name in columns] + ["Python eager / C++ AOTI"]
    rows = []
    for tokens in TOKENS:
        cells = [f"{median[(kind, tokens)] * 1e3:.3f} ms" for kind, _ in columns]
        ratio = median[("python", tokens)] / median[("aoti", tokens)]
        rows.append([f"{tokens:,}"] + cells + [f"{ratio:.2f}x"])
    lines = [
        "# Serving latency: C++ (AOTInductor, qmoe::nn) against Python",
        "",
        "One forward without autograd of examples/cpp_inference's layer (MoE, 8 -> 4",
        "SwiGLU experts of hidden 16, top-2, QuantumGate 4 qubits x 2 layers), median of",
        f"single calls (>= {args.min_time:g} s and >= 10 calls per cell), median over "
        f"{args.runs} interleaved rounds; {args.threads} intra-op thread(s) on both sides.",
        "`python benchmarks/bench_cpp.py` (`make bench-cpp`).",
        "",
        *markdown_table(header, rows, right=set(range(1, len(header)))),
        "",
        *[f"- {label}: {value}" for label, value in info],
        f"- load average at end: {open('/proc/loadavg').read().split()[:3]}",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
