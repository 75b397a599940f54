"""Markdown sections of the circuit benchmark report, read from a measured :class:`Bench`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from cells import LABELS, N_LAYERS, Bench, Result
from flops import circuit_flops
from latency import SAME_PASS, TRIVIAL, TRIVIAL_LABELS
from peak import Peak
from timing import Timing, format_rate, format_seconds_ms, markdown_table

SPEEDUP_TARGET = 50.0
PEAK_TARGET = 30.0  # % of the fp32 all-thread FMA peak, fwd+bwd adjoint
PEAK_TARGET_QUBITS = (2, 12)
JUDGED_DTYPE = "float32"


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    n_qubits: int
    batch: int
    kind: str
    max_seconds: float


def targets(router_batch: int, wide_qubits: int, wide_batch: int) -> list[Target]:
    """The issue's headline targets (median per call)."""
    router, wide = "paper router (2 qubits)", f"{wide_qubits} qubits × {N_LAYERS} layers"
    return [
        Target(f"{router}: forward", 2, router_batch, "forward", 0.1e-3),
        Target(f"{router}: fwd+bwd adjoint", 2, router_batch, "adjoint", 0.5e-3),
        Target(f"{wide}: forward", wide_qubits, wide_batch, "forward", 2e-3),
        Target(f"{wide}: fwd+bwd adjoint", wide_qubits, wide_batch, "adjoint", 7e-3),
    ]


def measure_targets(bench: Bench, goals: Sequence[Target], dtypes: Sequence[str]) -> None:
    """Measures the headline cells and their reference cells (reference first)."""
    for goal in goals:
        for dtype_name in dtypes:
            reference = "ref_forward" if goal.kind == "forward" else "ref_backward"
            bench.cell(goal.n_qubits, goal.batch, dtype_name, reference)
            bench.cell(goal.n_qubits, goal.batch, dtype_name, goal.kind)


# ---------------------------------------------------------------------- cell formatting
def speedup_text(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f}×" if value >= 10 else f"{value:.2f}×"


def gflops_text(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.3g}" if value < 1000 else f"{value:.0f}"


def percent(
    bench: Bench, peak: Peak | None, n: int, batch: int, dtype: str, kind: str
) -> float | None:
    """% of the all-thread FMA peak of the cell's precision, or None."""
    value = bench.gflops(n, batch, dtype, kind)
    if value is None or peak is None:
        return None
    return 100.0 * value / peak.all_threads[dtype]


def percent_text(value: float | None) -> str:
    if value is None:
        return ""
    if value < 0.995:
        return f"{value:.2g}%"
    return f"{value:.1f}%" if value < 10 else f"{value:.0f}%"


def microseconds(seconds: float) -> str:
    us = seconds * 1e6
    return f"{us:.0f}" if us >= 100 else f"{us:.1f}" if us >= 10 else f"{us:.2f}"


def result_cells(result: Result | None, batch: int) -> list[str]:
    """median ms, min ms, samples/s, reps (or the reason it was skipped)."""
    if result is None:
        return ["not measured", "", "", ""]
    if result.timing is None:
        return [f"skipped ({result.skipped})", "", "", ""]
    t = result.timing
    return [
        format_seconds_ms(t.median),
        format_seconds_ms(t.min),
        format_rate(batch / t.median),
        str(t.repeats),
    ]


def verdict(ok: bool | None, judged: bool) -> str:
    if not judged:
        return "—"
    return "not measured" if ok is None else ("met" if ok else "**missed**")


# ---------------------------------------------------------------------- sections
def flops_section(bench: Bench, qubits: Sequence[int], doc_link: str) -> list[str]:
    rows = []
    for n in qubits:
        counts = circuit_flops(bench.circuit(n))
        rows.append(
            [
                str(n),
                str(len(bench.circuit(n))),
                str(counts.shifted),
                f"{counts.forward:,}",
                f"{counts.adjoint:,}",
                f"{counts.parameter_shift:,}",
            ]
        )
    header = ["n", "ops", "angles S", "forward", "fwd+bwd adjoint", "fwd+bwd param-shift"]
    return [
        "## Flop count",
        "",
        "GFLOP/s = flops per sample × batch / median time, with the yardstick of "
        f"[docs/flops.md]({doc_link}) (`benchmarks/flops.py`): the useful arithmetic "
        "of a straightforward statevector simulation (a non-permutation one-qubit gate "
        "16·2^n flops, CNOT 0, readout (3 + masks)·2^n; adjoint backward = forward again + "
        "every gate un-applied to ψ and λ + 4·2^n per angle; parameter shift = 2S + 1 "
        "forward runs), not what qmoe's kernels execute: fusion and shortcuts show as a "
        "higher rate, above 100% of the FMA peak where they save more than the kernels "
        "lose. The reference's autograd fwd+bwd is credited with the adjoint count. "
        "% peak: against the all-thread FMA peak of the same precision (batch-1 calls "
        "may run on one thread).",
        "",
        "Flops per sample:",
        "",
        *markdown_table(header, rows, right={0, 1, 2, 3, 4, 5}),
        "",
    ]


def targets_section(
    bench: Bench,
    peak: Peak | None,
    goals: Sequence[Target],
    dtypes: Sequence[str],
    quick: bool,
) -> list[str]:
    header = [
        "target",
        "dtype",
        "batch",
        "median ms",
        "min ms",
        "samples/s",
        "reps",
        "GFLOP/s",
        "% peak",
        "target ms",
        "met (ms)",
        "reference median ms",
        "speed-up vs reference",
        "target speed-up",
        "met (speed-up)",
    ]
    rows = []
    for goal in goals:
        for dtype_name in dtypes:
            key = (goal.n_qubits, goal.batch, dtype_name)
            result = bench.results.get((*key, goal.kind))
            t = None if result is None else result.timing
            reference = "ref_forward" if goal.kind == "forward" else "ref_backward"
            ref = bench.results.get((*key, reference))
            ref_text = "not measured" if ref is None else result_cells(ref, goal.batch)[0]
            speedup = bench.speedup(*key, goal.kind)
            judged = dtype_name == JUDGED_DTYPE and not quick
            rows.append(
                [
                    goal.name,
                    dtype_name,
                    f"{goal.batch:,}",
                    *result_cells(result, goal.batch),
                    gflops_text(bench.gflops(*key, goal.kind)),
                    percent_text(percent(bench, peak, *key, goal.kind)),
                    f"≤ {goal.max_seconds * 1e3:g}",
                    verdict(None if t is None else t.median <= goal.max_seconds, judged),
                    ref_text,
                    speedup_text(speedup),
                    f"≥ {SPEEDUP_TARGET:g}×",
                    verdict(None if speedup is None else speedup >= SPEEDUP_TARGET, judged),
                ]
            )
    if peak is None:
        header, rows = _drop_column(header, rows, "% peak")
    note = (
        "--quick: smaller batches than the targets name, so nothing is judged."
        if quick
        else f"Judged on {JUDGED_DTYPE} (the training precision); other precisions are shown "
        "for comparison."
    )
    lines = [
        "## Targets",
        "",
        f"Circuit: RX angle embedding, {N_LAYERS} StronglyEntanglingLayers, <Z> on every "
        "wire, through `qmoe_torch.ops.expval` (program list built once); fwd+bwd = forward + "
        "`out.backward(grad)` with inputs and weights requiring grad. Reference: "
        "`qmoe_torch.reference.expval` (forward under no_grad; fwd+bwd by autograd). "
        f"Met: median ≤ target ms; speed-up ≥ target. {note}",
        "",
        *markdown_table(header, rows, right=_right_aligned(header, ("target", "dtype"))),
        "",
    ]
    return lines + peak_target_lines(bench, peak, quick)


def peak_target_lines(bench: Bench, peak: Peak | None, quick: bool) -> list[str]:
    """≥ PEAK_TARGET % of the fp32 FMA peak, fwd+bwd adjoint, at every n in 2..12."""
    low, high = PEAK_TARGET_QUBITS
    qubits = sorted({k[0] for k in bench.results if low <= k[0] <= high})
    title = (
        f"Fraction of the fp32 FMA peak, fwd+bwd adjoint (target ≥ {PEAK_TARGET:g}% at "
        f"{low}–{high} qubits; per n, the best batch measured; % of the all-thread peak):"
    )
    if peak is None:
        return [title, "", "Not judged: no FMA peak was measured.", ""]
    rows, oks = [], []
    for n in qubits:
        cells = [
            (percent(bench, peak, n, b, JUDGED_DTYPE, "adjoint"), b)
            for (m, b, d, k) in bench.results
            if m == n and d == JUDGED_DTYPE and k == "adjoint"
        ]
        cells = [(p, b) for p, b in cells if p is not None]
        if not cells:
            rows.append([str(n), "not measured", "", "", "", verdict(None, not quick)])
            continue
        best, batch = max(cells)
        oks.append(best >= PEAK_TARGET)
        rows.append(
            [
                str(n),
                f"{batch:,}",
                gflops_text(bench.gflops(n, batch, JUDGED_DTYPE, "adjoint")),
                percent_text(best),
                f"≥ {PEAK_TARGET:g}%",
                verdict(best >= PEAK_TARGET, not quick),
            ]
        )
    missing = [n for n in range(low, high + 1, 2) if n not in qubits]
    overall = all(oks) if oks and not missing else None
    rows.append(
        ["all", "", "", "", f"≥ {PEAK_TARGET:g}%", verdict(overall, not quick)]
        if not missing
        else ["all", f"n = {', '.join(map(str, missing))} not measured", "", "", "", "—"]
    )
    header = ["n", "best batch", "GFLOP/s", "% fp32 peak", "target", "met"]
    return [title, "", *markdown_table(header, rows, right={0, 1, 2, 3}), ""]


def latency_section(
    bench: Bench,
    trivial: Mapping[tuple[str, str], Timing],
    qubits: Sequence[int],
    dtypes: Sequence[str],
) -> list[str]:
    header = ["call", "dtype", "median µs", "min µs", "reps", "× torch.add", "× nn.Linear"]
    rows = []
    for dtype_name in dtypes:
        add = trivial[("add", dtype_name)].median
        for name in TRIVIAL:
            t = trivial[(name, dtype_name)]
            rows.append(
                [
                    TRIVIAL_LABELS[name],
                    dtype_name,
                    microseconds(t.median),
                    microseconds(t.min),
                    str(t.repeats),
                    f"{t.median / add:.1f}×",
                    "",
                ]
            )
        for n in qubits:
            for kind in SAME_PASS:
                t = bench.timing(n, 1, dtype_name, kind)
                label = f"{LABELS[kind]}, {n} qubits, batch 1"
                if t is None:
                    rows.append([label, dtype_name, "skipped", "", "", "", ""])
                    continue
                linear = trivial[(SAME_PASS[kind], dtype_name)].median
                rows.append(
                    [
                        label,
                        dtype_name,
                        microseconds(t.median),
                        microseconds(t.min),
                        str(t.repeats),
                        f"{t.median / add:.1f}×",
                        f"{t.median / linear:.1f}×",
                    ]
                )
    return [
        "## Batch-1 latency against trivial PyTorch calls",
        "",
        "Same timing policy as the cells. × nn.Linear: against the nn.Linear call doing the "
        "same pass (forward under no_grad, or forward + backward).",
        "",
        *markdown_table(header, rows, right={2, 3, 4, 5, 6}),
        "",
    ]


def grid_section(
    bench: Bench,
    peak: Peak | None,
    qubits: Sequence[int],
    batches: Sequence[int],
    dtypes: Sequence[str],
    kinds: Sequence[str],
) -> list[str]:
    header = [
        "batch",
        "dtype",
        "what",
        "median ms",
        "min ms",
        "samples/s",
        "reps",
        "GFLOP/s",
        "% peak",
        "speed-up vs reference",
    ]
    lines = [
        "## All cells",
        "",
        "Speed-up: reference median / op median for the same cell (op forward vs ref "
        "forward, op fwd+bwd vs ref fwd+bwd). GFLOP/s and % peak: see Flop count above.",
        "",
    ]
    for n in qubits:
        rows = []
        for batch in batches:
            for dtype_name in dtypes:
                for kind in kinds:
                    key = (n, batch, dtype_name, kind)
                    rows.append(
                        [
                            f"{batch:,}",
                            dtype_name,
                            LABELS[kind],
                            *result_cells(bench.results.get(key), batch),
                            gflops_text(bench.gflops(*key)),
                            percent_text(percent(bench, peak, *key)),
                            speedup_text(bench.speedup(*key)),
                        ]
                    )
        table_header, table_rows = (header, rows)
        if peak is None:
            table_header, table_rows = _drop_column(header, rows, "% peak")
        right = _right_aligned(table_header, ("dtype", "what"))
        lines += [f"### {n} qubits", "", *markdown_table(table_header, table_rows, right), ""]
    return lines


def _right_aligned(header: list[str], left: tuple[str, ...]) -> set[int]:
    """Right-align every column but the text ones named in ``left`` and the verdicts."""
    return {i for i, h in enumerate(header) if h not in left and not h.startswith("met")}


def _drop_column(
    header: list[str], rows: list[list[str]], name: str
) -> tuple[list[str], list[list[str]]]:
    i = header.index(name)
    return header[:i] + header[i + 1 :], [r[:i] + r[i + 1 :] for r in rows]
