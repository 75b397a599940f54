"""``python -m qmoe_torch.experiments``: the paper's phases from the command line."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from .lm_cli import lm_main, lm_parser
from .phases import PHASES, PRESETS

DEMO_PHASES = ("1", "2", "3a", "3b")
DEMO_SEEDS = 10  # enough that the paired intervals of the comparisons mean something


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m qmoe_torch.experiments",
        description="Reproduce arXiv 2512.22296 (Hybrid Quantum-Classical Mixture of Experts) "
        "with qmoe: train MoE classifiers with linear, MLP and quantum routers on "
        "Two Moons (and quantum experts on digits), over several seeds, with a "
        "held-out test split; write results.md, results.json and PNG figures.",
        epilog="Phases: "
        + "; ".join(f"{k}: {v}" for k, v in PHASES.items())
        + f". `demo` = `run --phase 1 2 3a 3b --preset paper --seeds {DEMO_SEEDS}`.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser, out: str, seeds: int) -> None:
        sub.add_argument("--out", default=out, help="results folder (default: %(default)s)")
        sub.add_argument(
            "--seeds", type=int, default=seeds, help="number of seeds (default: %(default)s)"
        )
        sub.add_argument(
            "--first-seed",
            type=int,
            default=0,
            help="seeds are first-seed, first-seed + 1, ... (default: 0)",
        )
        sub.add_argument(
            "--workers",
            type=int,
            default=os.cpu_count() or 1,
            help="parallel worker processes, one thread each (default: the "
            "number of CPUs, %(default)s); results do not depend on it",
        )
        sub.add_argument(
            "--test-size",
            type=float,
            default=0.3,
            help="held-out fraction of each data set (default: %(default)s)",
        )
        sub.add_argument(
            "--no-extras",
            action="store_true",
            help="only the paper's rows: no MLP router in phase 2, no linear or "
            "equal-budget quantum routers or z-loss in 3A, no amplitude "
            "damping, gate noise or shots in 3B",
        )
        sub.add_argument("--no-progress", action="store_true", help="no progress bar")
        sub.add_argument("--quiet", action="store_true", help="do not print the table at the end")

    demo = commands.add_parser(
        "demo",
        help="phases 1, 2, 3A and 3B at the paper's sizes (what `make demo` runs)",
        description="Phases 1, 2, 3A and 3B at the paper's sizes, with the reviewer's extras.",
    )
    common(demo, "results/demo", DEMO_SEEDS)

    run = commands.add_parser(
        "run", help="chosen phases, with a preset and overrides", description="Run chosen phases."
    )
    run.add_argument(
        "--phase",
        nargs="+",
        choices=[*PHASES, "all"],
        default=["all"],
        help="phases to run (default: all)",
    )
    run.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="paper",
        help="paper: the paper's data sizes, epochs and learning rates; tiny: a "
        "seconds-long smoke run (default: %(default)s)",
    )
    run.add_argument("--points", type=int, help="data points (overrides the preset)")
    run.add_argument("--epochs", type=int, help="epochs (overrides the preset)")
    run.add_argument("--lr", type=float, help="Adam learning rate (overrides the preset)")
    run.add_argument("--batch-size", type=int, help="minibatch size (default: 32)")
    common(run, "results/run", 5)

    compare = commands.add_parser(
        "compare",
        help="do the readings of several runs of the same demo agree? (rounding.md)",
        description="Compare the paired readings of runs of the same demo under other "
        "rounding (QMOE_ISA, thread counts, machines); a reading one run gives and "
        "another does not is not a conclusion.",
    )
    compare.add_argument(
        "runs",
        nargs="+",
        metavar="LABEL=FOLDER",
        help="a run's label and its results folder (or results.json)",
    )
    compare.add_argument("--out", required=True, help="markdown file to write")

    lm_parser(commands)
    commands.add_parser("list", help="print the phases and the presets' settings")
    return parser


def _compare(args: argparse.Namespace) -> int:
    from .rounding import compare

    runs = []
    for item in args.runs:
        label, sep, folder = item.partition("=")
        if not sep or not label or not folder:
            print(f"compare: {item!r}: expected LABEL=FOLDER", file=sys.stderr)
            return 2
        runs.append((label, Path(folder)))
    try:
        markdown, summary = compare(runs)
    except (ValueError, FileNotFoundError) as error:
        print(f"python -m qmoe_torch.experiments compare: error: {error}", file=sys.stderr)
        return 2
    Path(args.out).write_text(markdown)
    print(f"{len(summary['agree'])} readings agree, {len(summary['disagree'])} differ: {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "compare":
        return _compare(args)
    if args.command == "lm":
        return lm_main(args)
    if args.command == "list":
        for phase, title in PHASES.items():
            print(f"{phase:>3}  {title}")
            for name, settings in PRESETS.items():
                print(f"       {name}: {settings[phase]}")
        return 0

    from .pipeline import run

    if args.command == "demo":
        phases, preset, overrides = DEMO_PHASES, "paper", {}
    else:
        phases = list(PHASES) if "all" in args.phase else args.phase
        preset = args.preset
        overrides = {
            "points": args.points,
            "epochs": args.epochs,
            "lr": args.lr,
            "batch_size": args.batch_size,
        }
    if args.seeds < 1:
        raise SystemExit("--seeds must be >= 1")
    command = "python -m qmoe_torch.experiments " + shlex.join(
        sys.argv[1:] if argv is None else list(argv)
    )
    try:
        outcome = run(
            phases,
            args.out,
            preset=preset,
            seeds=list(range(args.first_seed, args.first_seed + args.seeds)),
            test_size=args.test_size,
            extras=not args.no_extras,
            workers=args.workers,
            progress=not args.no_progress,
            command=command,
            overrides=overrides,
        )
    except ValueError as error:  # bad settings: say which, without a traceback
        print(f"python -m qmoe_torch.experiments: error: {error}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(outcome.results_md.read_text())
    print(f"results: {outcome.results_md} (every run: {outcome.results_json})")
    for phase, path in outcome.figures.items():
        print(f"figure, phase {phase}: {path}")
    print(f"wall time: {outcome.wall_seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
