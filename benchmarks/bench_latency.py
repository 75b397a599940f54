#!/usr/bin/env python
"""Decode-time router latency: qmoe's routers against the native Mixtral router.

One router call at decoding sizes (1 and 16 tokens, d_model 512, 8 experts, float32), in
eval mode (``module.eval()``, autograd on, as a validation or a forward without
``no_grad`` runs), under ``torch.no_grad()`` (as ``generate()`` decodes) and under
``torch.inference_mode()`` (serving): ``nn.Linear`` (the floor of any
router: one matmul), transformers' ``MixtralTopKRouter`` (the reference of the ratios),
``QuantumGate(n_qubits=3)`` (logits only), ``TopKRouter(QuantumGate)`` and the router that
``qmoe_torch.integrations.huggingface.replace_routers`` puts into a tiny Mixtral. The
trivial ``torch.add`` of benchmarks/latency.py gives the per-call floor of the machine.

The routers are timed in rounds, each round every router once, so that a change of the
machine's load (it is shared) reaches all of them alike; a cell's median is over all its
calls of every round. Targets: QuantumGate <= 10 us; TopKRouter(QuantumGate) and the
swapped router <= 2x MixtralTopKRouter of the same run and mode.

    python benchmarks/bench_latency.py --out benchmarks/results/latency-cpu.md \\
        [--json now.json] [--baseline before.json]

``--baseline`` adds the medians of an earlier ``--json`` (another revision) beside them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from latency import trivial_workload
from timing import TimingPolicy, machine_info, markdown_table, measure
from transformers import MixtralConfig, MixtralForCausalLM
from transformers.models.mixtral.modeling_mixtral import MixtralTopKRouter

import qmoe_torch as qm
from qmoe_torch.integrations.huggingface import replace_routers

REPO = Path(__file__).resolve().parent.parent
NATIVE = "MixtralTopKRouter (native)"
MODES = ("eval", "no_grad", "inference")
TARGET_GATE_SECONDS = 10e-6
TARGET_RATIO = 2.0


def routers(d_model: int, n_experts: int, k: int, n_qubits: int) -> dict[str, torch.nn.Module]:
    """The routers timed, by row label, each in eval mode."""
    config = MixtralConfig(
        hidden_size=d_model,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=4,
        num_local_experts=n_experts,
        num_experts_per_tok=k,
        vocab_size=128,
    )
    model = MixtralForCausalLM(config)
    replaced = replace_routers(model, n_qubits=n_qubits)
    if not replaced:
        raise RuntimeError("replace_routers swapped nothing in the tiny Mixtral")
    swapped = model.get_submodule(replaced[0])
    table = {
        "nn.Linear (no bias)": torch.nn.Linear(d_model, n_experts, bias=False),
        NATIVE: MixtralTopKRouter(config),
        f"QuantumGate(n_qubits={n_qubits})": qm.QuantumGate(d_model, n_experts, n_qubits=n_qubits),
        f"TopKRouter(QuantumGate), k={k}": qm.TopKRouter(
            qm.QuantumGate(d_model, n_experts, n_qubits=n_qubits), k=k
        ),
        "replace_routers (swapped MixtralTopKRouter)": swapped,
    }
    return {name: module.eval() for name, module in table.items()}


def _mode(mode: str) -> contextlib.AbstractContextManager:
    if mode == "inference":
        return torch.inference_mode()
    return torch.no_grad() if mode == "no_grad" else contextlib.nullcontext()


def time_cells(
    calls: dict[str, Callable[[], object]], mode: str, rounds: int, policy: TimingPolicy
) -> dict[str, float]:
    """Median seconds per call of each callable, over ``rounds`` interleaved rounds."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    with _mode(mode):
        for call in calls.values():  # warm-up, outside the rounds
            measure(call, TimingPolicy(min_time=0.05, min_repeats=50))
        for _ in range(rounds):
            for name, call in calls.items():
                times[name].extend(measure(call, policy, warm=True).times)
    return {name: statistics.median(values) for name, values in times.items()}


def run(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Medians keyed ``"<tokens> <mode>"`` then router label (and ``torch.add``)."""
    torch.manual_seed(0)
    table = routers(args.d_model, args.experts, args.k, args.qubits)
    add = trivial_workload("add", "float32")
    policy = TimingPolicy(min_time=args.seconds / args.rounds, min_repeats=200)
    results = {}
    for tokens in args.tokens:
        hidden = torch.randn(tokens, args.d_model)
        calls = {name: (lambda m=module, h=hidden: m(h)) for name, module in table.items()}
        calls["torch.add (2 elements)"] = add
        for mode in MODES:
            results[f"{tokens} {mode}"] = time_cells(calls, mode, args.rounds, policy)
            print(f"{tokens} tokens, {mode}: done", file=sys.stderr)
    return results


def _target(name: str, median: float, native: float) -> str:
    if name.startswith("QuantumGate"):
        met = median <= TARGET_GATE_SECONDS
        return f"<= 10 µs: {'met' if met else 'missed'}"
    if name.startswith(("TopKRouter", "replace_routers")):
        met = median <= TARGET_RATIO * native
        return f"<= 2x native: {'met' if met else 'missed'}"
    return ""


def report(
    results: dict[str, dict[str, float]],
    baseline: dict[str, dict[str, float]] | None,
    info: list[tuple[str, str]],
    args: argparse.Namespace,
) -> list[str]:
    header = ["tokens", "mode", "router", "median µs", "x native"]
    if baseline:
        header += ["before µs", "before x native", "speed-up"]
    header.append("target")
    rows = []
    for cell, medians in results.items():
        tokens, mode = cell.split()
        native = medians[NATIVE]
        for name, median in medians.items():
            row = [tokens, mode, name, f"{median * 1e6:.1f}", f"{median / native:.2f}"]
            if baseline:
                before = baseline.get(cell, {}).get(name)
                before_native = baseline.get(cell, {}).get(NATIVE)
                row += (
                    ["", "", ""]
                    if before is None or before_native is None
                    else [
                        f"{before * 1e6:.1f}",
                        f"{before / before_native:.2f}",
                        f"{before / median:.2f}x",
                    ]
                )
            row.append(_target(name, median, native))
            rows.append(row)
    right = {0, 3, 4} | ({5, 6, 7} if baseline else set())
    lines = ["# Decode-time router latency (CPU)", ""]
    lines += [f"- {label}: {value}" for label, value in info]
    lines += [
        f"- command: `python benchmarks/bench_latency.py {' '.join(args.argv)}`",
        "",
        f"One router call, d_model {args.d_model}, {args.experts} experts, top-{args.k}, "
        f"float32; eval: `module.eval()` with autograd on; no_grad: under `torch.no_grad()`, "
        f"as `generate()` decodes; inference: under "
        f"`torch.inference_mode()`. Medians over {args.rounds} interleaved rounds of about "
        f"{args.seconds / args.rounds:.2f} s per cell each. x native: against "
        f"`{NATIVE}` of the same run, tokens and mode.",
        "",
        *markdown_table(header, rows, right=right),
        "",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--d-model", type=int, default=512)
    parser.add_argument("--experts", type=int, default=8)
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--qubits", type=int, default=3)
    parser.add_argument("--tokens", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0, help="per cell, all rounds")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads (decode calls use one)"
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument("--json", type=Path, help="write the medians (seconds) here")
    parser.add_argument("--baseline", type=Path, help="medians of an earlier --json run")
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    torch.set_num_threads(args.threads)

    results = run(args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    baseline = json.loads(args.baseline.read_text()) if args.baseline else None
    info = machine_info(REPO, qm.active_isa(), qm.supported_isas())
    text = "\n".join(report(results, baseline, info, args))
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
