#!/usr/bin/env python
"""Tokens/s of an expert-parallel MoE training step at 1, 2 and 4 CPU processes (gloo).

One step of ``qmoe_torch.distributed.ExpertParallelMoE`` (forward, loss with the
load-balancing loss, backward with the router's gradient all-reduce, Adam step), a fixed
global batch split over the ranks (strong scaling), QuantumGate router, SwiGLU experts split
over the ranks; beside it the single-process ``qmoe_torch.MoE`` step on the same global batch.
A step's time is the slowest rank's (each step starts after a barrier). Then, in separate
instrumented steps, how much of a step the exchanges take: the token all-to-alls (forward
and their backward), the count exchange (all-to-all of the split sizes and all-reduce of the
global counts) and the router's gradient all-reduce, timed on each rank with
``time.perf_counter`` around them (in backward by autograd nodes on both sides of the
exchange); they include waiting for slower ranks, which is what an exchange costs a rank.

    python benchmarks/bench_distributed.py --out benchmarks/results/distributed-cpu.md
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from timing import machine_info, markdown_table

import qmoe_torch as qm
from qmoe_torch.distributed import ExpertParallelMoE, expert_parallel, replicated

REPO = Path(__file__).resolve().parent.parent


class _Clock:
    """Seconds spent in each kind of exchange during the instrumented steps."""

    def __init__(self) -> None:
        self.seconds = {"token all-to-all": 0.0, "count exchange": 0.0, "router all-reduce": 0.0}
        self._backward_began = 0.0

    def timed(self, kind: str, fn):
        def run(*args, **kwargs):
            began = time.perf_counter()
            result = fn(*args, **kwargs)
            self.seconds[kind] += time.perf_counter() - began
            return result

        return run


CLOCK = _Clock()


class _BackwardEnds(torch.autograd.Function):
    """Identity; its backward (after the exchange's backward) stops the clock."""

    @staticmethod
    def forward(ctx, rows: torch.Tensor) -> torch.Tensor:
        return rows.view_as(rows)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        CLOCK.seconds["token all-to-all"] += time.perf_counter() - CLOCK._backward_began
        return grad


class _BackwardBegins(torch.autograd.Function):
    """Identity; its backward (before the exchange's backward) starts the clock."""

    @staticmethod
    def forward(ctx, rows: torch.Tensor) -> torch.Tensor:
        return rows.view_as(rows)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        CLOCK._backward_began = time.perf_counter()
        return grad


def instrument() -> None:
    """Times the exchanges of ExpertParallelMoE from here on (this process only)."""
    exchange_rows = CLOCK.timed("token all-to-all", expert_parallel.exchange_rows)

    def timed_rows(rows, *args):
        return _BackwardBegins.apply(exchange_rows(_BackwardEnds.apply(rows), *args))

    expert_parallel.exchange_rows = timed_rows
    expert_parallel.exchange_counts = CLOCK.timed("count exchange", expert_parallel.exchange_counts)
    summer = replicated.GradientSummer
    summer._reduce = CLOCK.timed("router all-reduce", summer._reduce)


def build(args: argparse.Namespace, distributed: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    gate = qm.QuantumGate(args.d_model, args.experts)
    moe = qm.MoE(args.d_model, args.experts, args.hidden, k=args.k, gate=gate)
    return ExpertParallelMoE.from_moe(moe) if distributed else moe


def step_function(layer: torch.nn.Module, hidden: torch.Tensor, target: torch.Tensor):
    optimizer = torch.optim.Adam(layer.parameters(), lr=1e-3)

    def step() -> None:
        out = layer(hidden)
        loss = (out.output - target).square().sum() / target.numel() + 0.01 * out.routing.aux_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def worker(rank: int, world_size: int, args: argparse.Namespace, folder: str) -> None:
    dist.init_process_group(
        "gloo", init_method=f"file://{folder}/store", rank=rank, world_size=world_size
    )
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(1)
    hidden = torch.randn(args.tokens, args.d_model, generator=generator)
    target = torch.randn(args.tokens, args.d_model, generator=generator)
    local = args.tokens // world_size
    hidden, target = (t[rank * local : (rank + 1) * local] for t in (hidden, target))

    def timed_steps(step, repeats: int) -> list[float]:
        times = []
        for _ in range(repeats):
            dist.barrier()
            began = time.perf_counter()
            step()
            slowest = torch.tensor([time.perf_counter() - began], dtype=torch.float64)
            dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
            times.append(float(slowest))
        return times

    results = {}
    if world_size == 1:  # the single-process layer, same tokens
        step = step_function(build(args, distributed=False), hidden, target)
        timed_steps(step, args.warmup)
        results["MoE"] = timed_steps(step, args.repeats)
    step = step_function(build(args, distributed=True), hidden, target)
    timed_steps(step, args.warmup)
    results["ExpertParallelMoE"] = timed_steps(step, args.repeats)
    instrument()
    CLOCK.seconds = dict.fromkeys(CLOCK.seconds, 0.0)
    began = time.perf_counter()
    for _ in range(args.repeats):
        step()
    dist.barrier()
    total = time.perf_counter() - began
    shares = torch.tensor([CLOCK.seconds[k] / total for k in CLOCK.seconds], dtype=torch.float64)
    dist.all_reduce(shares)  # the mean over the ranks
    results["shares"] = dict(zip(CLOCK.seconds, (shares / world_size).tolist(), strict=True))
    if rank == 0:
        Path(folder, f"world-{world_size}.json").write_text(json.dumps(results))
    dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--experts", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=2048, help="global tokens per step")
    parser.add_argument("--worlds", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per process (1: on a loaded 2-core host, OpenMP threads that "
        "wait for each other cost more than they bring)",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)  # as in the workers, so that the header says so
    info = machine_info(REPO, qm.active_isa(), qm.supported_isas())
    rows, measured = [], {}
    for world_size in args.worlds:
        with tempfile.TemporaryDirectory() as folder:
            mp.spawn(worker, args=(world_size, args, folder), nprocs=world_size, join=True)
            measured[world_size] = json.loads(Path(folder, f"world-{world_size}.json").read_text())
    single = statistics.median(measured[1]["MoE"]) if 1 in measured else None
    for world_size, result in measured.items():
        entries = [("MoE (one process)", result["MoE"])] if "MoE" in result else []
        entries.append(("ExpertParallelMoE", result["ExpertParallelMoE"]))
        for name, times in entries:
            median = statistics.median(times)
            shares = result["shares"] if name == "ExpertParallelMoE" else None
            rows.append(
                [
                    str(world_size),
                    name,
                    f"{median * 1e3:.1f}",
                    f"{args.tokens / median:,.0f}",
                    f"{single / median:.2f}x" if single else "-",
                    f"{shares['token all-to-all']:.1%}" if shares else "-",
                    f"{shares['count exchange']:.1%}" if shares else "-",
                    f"{shares['router all-reduce']:.1%}" if shares else "-",
                ]
            )
    header = [
        "processes",
        "layer",
        "step ms (median)",
        "tokens/s",
        "vs MoE at 1",
        "token all-to-all",
        "count exchange",
        "router all-reduce",
    ]
    lines = ["# Expert-parallel MoE training step on CPU (gloo)", ""]
    lines += [f"- {label}: {value}" for label, value in info]
    lines += [
        f"- load average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- finished: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- command: `python {' '.join(['benchmarks/bench_distributed.py', *sys.argv[1:]])}`",
        "",
        f"One training step (forward, MSE + 0.01 aux loss, backward, Adam) of a MoE layer: "
        f"d_model {args.d_model}, {args.experts} SwiGLU experts of hidden {args.hidden}, "
        f"top-{args.k}, QuantumGate router, {args.tokens:,} tokens per step in all, split "
        f"evenly over the processes, float32, {args.threads} torch thread(s) per "
        f"process (4 processes oversubscribe 2 cores). Step time: the slowest rank's, median of "
        f"{args.repeats} steps after {args.warmup} warm-up steps. Shares: time in each "
        f"exchange over the step time, mean over the ranks, in {args.repeats} further "
        f"instrumented steps; an exchange's time includes waiting for the slowest rank "
        f"(the router all-reduce at the end of backward is where the ranks meet).",
        "",
        *markdown_table(header, rows, right={0, 2, 3, 4, 5, 6, 7}),
        "",
        "The processes share one machine's cores (and, on a shared host, other users' "
        "load: see the load averages above), so more processes bring no more compute: the "
        "table is the cost of the exchange and of the smaller per-rank batches, not a "
        "speed-up. Expert parallelism pays when the experts do not fit one device. On one "
        "GPU there is nothing to shard (one rank would hold every expert and the "
        "all-to-all would be a copy), so there is no GPU row: use `qmoe_torch.MoE` there.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
