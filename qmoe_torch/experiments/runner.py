"""Runs jobs: one :func:`run_job` per (row, seed), in this process or in a pool of worker
processes (one intra-op thread each), with a progress bar. Results do not depend on the
number of workers: every job seeds everything it draws."""

from __future__ import annotations

import math
import multiprocessing
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any

import torch

from .models import NoiseSpec, make_model, reroute, router_parameters
from .phases import Job
from .training import accuracy, expert_shares, predict, single_thread, train

GRID_MARGIN = 0.3  # decision grids span [-margin, pi + margin] in both scaled features


def decision_grid(model, resolution: int) -> dict[str, Any]:
    """The classifier's P(class 1) and the router's P(expert 1) on a square grid over the
    scaled feature plane (rows: feature 1, columns: feature 0)."""
    axis = torch.linspace(-GRID_MARGIN, math.pi + GRID_MARGIN, resolution)
    f1, f0 = torch.meshgrid(axis, axis, indexing="ij")
    points = torch.stack([f0.reshape(-1), f1.reshape(-1)], dim=1)
    out = predict(model, points)
    shape = (resolution, resolution)
    return {
        "axis": axis.numpy(),
        "p_class1": torch.softmax(out.output, -1)[:, 1].reshape(shape).numpy(),
        "p_expert1": out.routing.probs[:, 1].reshape(shape).numpy(),
    }


def run_job(job: Job) -> dict[str, Any]:
    """Trains ``job``'s model on its seed's training split; returns its accuracies on the
    training and test splits, parameter counts and wall times (plus shot evaluations and
    decision grids when the job asks)."""
    with single_thread():
        split = job.data()
        model = make_model(
            job.router,
            job.experts,
            d_model=split.n_features,
            n_experts=job.n_experts,
            seed=job.seed,
        )
        fit = train(model, split.x_train, split.y_train, job.train_config, seed=job.seed)
        start = time.perf_counter()
        result: dict[str, Any] = {
            "phase": job.phase,
            "row": job.row,
            "label": job.label,
            "seed": job.seed,
            "paper": job.paper,
            "noise": None if job.router.noise is None else job.router.noise.family,
            "level": 0.0 if job.router.noise is None else job.router.noise.level,
            "router_kind": job.router.kind,
            "experts": job.experts,
            "train_points": len(split.x_train),
            "test_points": len(split.x_test),
            "train_acc": accuracy(model, split.x_train, split.y_train),
            "test_acc": accuracy(model, split.x_test, split.y_test),
            "parameters": router_parameters(model),
            "expert_shares": expert_shares(model, split.x_train),
            "z_loss": job.z_loss,
            "train_seconds": fit["seconds"],
            "steps": fit["steps"],
            "final_loss": fit["loss"],
            "data": split.description,
        }
        shots = {}
        for n_shots in job.eval_shots:
            measured = reroute(
                model, job.router.with_noise(NoiseSpec("shots", n_shots)), seed=job.seed
            )
            shots[str(n_shots)] = {
                "train_acc": accuracy(measured, split.x_train, split.y_train),
                "test_acc": accuracy(measured, split.x_test, split.y_test),
            }
        result["eval_shots"] = shots
        result["eval_seconds"] = time.perf_counter() - start
        if job.grid:
            result["grid"] = decision_grid(model, job.grid)
    return result


def _init_worker() -> None:
    torch.set_num_threads(1)


def _progress(total: int, desc: str):
    try:
        from tqdm.auto import tqdm
    except ImportError:  # no progress bar without tqdm
        return None
    return tqdm(total=total, desc=desc, unit="run", leave=True, dynamic_ncols=True)


class Runner:
    """``with Runner(workers) as runner: results = runner.run(jobs, "phase 2")``.

    ``workers > 1`` starts that many spawned worker processes once, for every ``run``.
    ``function`` runs one job (a module-level function, so that workers can import it; the
    jobs need a ``cost()``): :func:`run_job` for the paper's phases.
    """

    def __init__(
        self,
        workers: int = 1,
        *,
        progress: bool = True,
        function: Callable[[Any], dict[str, Any]] = run_job,
    ) -> None:
        self.workers = max(1, int(workers))
        self.progress = progress
        self.function = function
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Runner:
        if self.workers > 1:
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def _completed(
        self, jobs: Sequence[Job], order: list[int]
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        if self._pool is None:
            for index in order:
                yield index, self.function(jobs[index])
            return
        futures: dict[Future, int] = {self._pool.submit(self.function, jobs[i]): i for i in order}
        for future in as_completed(futures):
            yield futures[future], future.result()

    def run(self, jobs: Iterable[Any], desc: str = "runs") -> list[dict[str, Any]]:
        """Every job's result, in the order of ``jobs`` (longest jobs start first)."""
        jobs = list(jobs)
        order = sorted(range(len(jobs)), key=lambda i: -jobs[i].cost())
        results: list[dict[str, Any] | None] = [None] * len(jobs)
        bar = _progress(len(jobs), desc) if self.progress else None
        try:
            for index, result in self._completed(jobs, order):
                results[index] = result
                if bar is not None:
                    bar.update()
        finally:
            if bar is not None:
                bar.close()
        return results  # type: ignore[return-value]
