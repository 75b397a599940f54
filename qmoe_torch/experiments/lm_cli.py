"""``python -m qmoe_torch.experiments lm``: quantum routers in a small MoE language model
(:mod:`.lm_pipeline`), from the command line."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys

from .lm_model import LMConfig
from .lm_training import LMSettings

LM_PRESETS: dict[str, tuple[LMConfig, LMSettings]] = {
    # 4 routers x 3 seeds: about 340 CPU-seconds (about 3 minutes on 2 idle cores)
    "full": (LMConfig(), LMSettings()),
    # for tests and smoke runs: seconds; the numbers mean nothing
    "tiny": (
        LMConfig(d_model=16, layers=2, heads=2, n_experts=8, d_hidden=16, context=16),
        LMSettings(
            steps=4,
            batch_size=2,
            warmup=1,
            eval_every=2,
            curve_windows=2,
            validation_windows=4,
            probe_windows=2,
            max_bytes=50_000,
        ),
    ),
}


def lm_parser(commands: argparse._SubParsersAction) -> None:
    lm = commands.add_parser(
        "lm",
        help="quantum routers in a small MoE language model (what `make experiment-lm` runs)",
        description="Train a byte-level Mixtral-style MoE language model on Vim's help files "
        "with LinearGate, MLPGate (equal budget) and QuantumGate (3 and 8 qubits) routers, "
        "several seeds each; write results.md, results.json and figures.",
    )
    lm.add_argument("--out", default="results/lm", help="results folder (default: %(default)s)")
    lm.add_argument("--preset", choices=sorted(LM_PRESETS), default="full", help="sizes")
    lm.add_argument("--seeds", type=int, default=3, help="number of seeds (default: %(default)s)")
    lm.add_argument("--first-seed", type=int, default=0, help="first seed (default: 0)")
    lm.add_argument("--steps", type=int, help="training steps (overrides the preset)")
    lm.add_argument("--batch-size", type=int, help="windows per step (overrides the preset)")
    lm.add_argument("--lr", type=float, help="AdamW peak learning rate (overrides the preset)")
    lm.add_argument("--corpus", help="folder of *.txt documents (default: Vim's help files)")
    lm.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="parallel worker processes, one thread each (default: %(default)s); results "
        "do not depend on it",
    )
    lm.add_argument("--no-progress", action="store_true", help="no progress bar")
    lm.add_argument("--quiet", action="store_true", help="do not print the table at the end")


def lm_main(args: argparse.Namespace) -> int:
    from .lm_pipeline import run

    if args.seeds < 1:
        print("python -m qmoe_torch.experiments lm: error: --seeds must be >= 1", file=sys.stderr)
        return 2
    config, settings = LM_PRESETS[args.preset]
    try:
        changes = {
            k: v
            for k, v in {"steps": args.steps, "batch_size": args.batch_size, "lr": args.lr}.items()
            if v is not None
        }
        settings = dataclasses.replace(settings, **changes)
        outcome = run(
            args.out,
            seeds=list(range(args.first_seed, args.first_seed + args.seeds)),
            config=config,
            settings=settings,
            corpus=args.corpus,
            workers=args.workers,
            progress=not args.no_progress,
            command="python -m qmoe_torch.experiments " + shlex.join(sys.argv[1:]),
        )
    except (ValueError, FileNotFoundError) as error:
        print(f"python -m qmoe_torch.experiments lm: error: {error}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(outcome.results_md.read_text())
    print(f"results: {outcome.results_md} (every run: {outcome.results_json})")
    print(f"wall time: {outcome.wall_seconds:.1f} s")
    return 0
