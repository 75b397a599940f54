#!/usr/bin/env python
"""What a quantum router adds to an MoE layer's training step.

One ``qmoe_torch.MoE`` step (forward, loss with the load-balancing and z losses,
backward) with ``d_model`` 512, 8 SwiGLU experts of hidden 1024, top-2, 4,096 tokens,
routed by a ``QuantumGate`` (several circuit sizes) and by the classical ``LinearGate``,
timed in the same run; the gate alone (forward + backward) beside it. The issue's target:
the quantum gate adds under 10% to the step.

    python benchmarks/bench_moe.py --out benchmarks/results/cpu_moe.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from timing import TimingPolicy, machine_info, markdown_table, measure

import qmoe_torch as qm

REPO = Path(__file__).resolve().parent.parent


def gates(d_model: int, n_experts: int) -> list[tuple[str, torch.nn.Module]]:
    return [
        ("LinearGate (nn.Linear, no bias)", qm.LinearGate(d_model, n_experts)),
        ("QuantumGate, 3 qubits x 3 layers, expval", qm.QuantumGate(d_model, n_experts)),
        (
            "QuantumGate, 8 qubits x 3 layers, expval",
            qm.QuantumGate(d_model, n_experts, n_qubits=8),
        ),
        (
            "QuantumGate, 3 qubits x 3 layers, probs",
            qm.QuantumGate(d_model, n_experts, readout="probs"),
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--d-model", type=int, default=512)
    parser.add_argument("--experts", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    hidden = torch.randn(args.tokens, args.d_model)
    target = torch.randn(args.tokens, args.d_model)
    policy = TimingPolicy(min_time=2.0, min_repeats=10)
    rows, baseline = [], None
    for name, gate in gates(args.d_model, args.experts):
        moe = qm.MoE(args.d_model, args.experts, args.hidden, k=args.k, gate=gate)

        def step(moe: qm.MoE = moe) -> None:
            out = moe(hidden)
            loss = (out.output - target).square().mean()
            (loss + 0.01 * out.routing.aux_loss + 1e-3 * out.routing.z_loss).backward()

        def gate_only(gate: torch.nn.Module = gate) -> None:
            gate(hidden).square().mean().backward()

        step_time = measure(step, policy).median
        gate_time = measure(gate_only, policy).median
        baseline = baseline if baseline is not None else step_time
        counts = gate.parameter_counts()
        rows.append(
            [
                name,
                f"{counts['classical']:,} + {counts['quantum']:,}",
                f"{gate_time * 1e3:.2f}",
                f"{step_time * 1e3:.1f}",
                f"{(step_time / baseline - 1) * 100:+.1f}%",
            ]
        )
        print(
            f"{name}: gate {gate_time * 1e3:.2f} ms, step {step_time * 1e3:.1f} ms", file=sys.stderr
        )

    isa = qm.active_isa()
    lines = ["# MoE layer step: quantum against classical router", ""]
    lines += [
        f"- {label}: {value}" for label, value in machine_info(REPO, isa, qm.supported_isas())
    ]
    command = " ".join(["python benchmarks/bench_moe.py", *(argv or sys.argv[1:])])
    lines += [f"- command: `{command}`", ""]
    lines += [
        f"One training step of `qmoe_torch.MoE`: d_model {args.d_model}, {args.experts} "
        f"SwiGLU experts of hidden {args.hidden}, top-{args.k}, {args.tokens:,} tokens, "
        "float32; forward, MSE + 0.01 aux + 0.001 z loss, backward. Medians of >= 10 "
        "steps and >= 2 s. Overhead: the step against the LinearGate step of the same "
        "run (target: under +10%).",
        "",
    ]
    lines += markdown_table(
        [
            "gate",
            "parameters (classical + quantum)",
            "gate fwd+bwd ms",
            "MoE step ms",
            "overhead vs LinearGate",
        ],
        rows,
        {1, 2, 3, 4},
    )
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
