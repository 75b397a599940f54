"""What each spawned rank of tests/python/test_distributed.py runs (gloo on CPU).

Every case builds a single-process ``MoE`` on every rank from the same seed as the oracle,
gives the expert-parallel layer this rank's slice of the oracle's tokens (in rank order),
and compares outputs, losses and gradients in float64.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh

from qmoe_torch import LinearGate, MoE, QuantumGate
from qmoe_torch.distributed import ExpertParallelMoE, load_checkpoint, save_checkpoint

TOLERANCE = dict(atol=1e-6, rtol=1e-6)
D_MODEL, D_HIDDEN = 6, 5


def init(rank: int, world_size: int, folder: str, timeout_s: float = 120.0) -> None:
    dist.init_process_group(
        "gloo",
        init_method=f"file://{folder}/store",
        rank=rank,
        world_size=world_size,
        timeout=datetime.timedelta(seconds=timeout_s),
    )
    torch.set_num_threads(1)


def make_moe(
    n_experts: int, k: int, *, quantum: bool, capacity: float | None, starve_from: int | None
) -> MoE:
    """The oracle layer; ``starve_from``: experts from this index on get a large negative
    bias, so that no token reaches them (and their owners receive no rows)."""
    gate = (
        QuantumGate(D_MODEL, n_experts, dtype=torch.float64)
        if quantum
        else LinearGate(D_MODEL, n_experts, bias=True, dtype=torch.float64)
    )
    if starve_from is not None:
        with torch.no_grad():
            gate.linear.bias[starve_from:] = -1e3
    return MoE(D_MODEL, n_experts, D_HIDDEN, k=k, gate=gate, capacity_factor=capacity).double()


def token_split(world_size: int) -> list[int]:
    """Uneven token counts, rank 1 with none."""
    return [7, 0, 11, 3][:world_size] if world_size <= 4 else [5] * world_size


def _loss(out, target: torch.Tensor) -> torch.Tensor:
    return (out.output * target).sum() + 0.3 * out.routing.aux_loss + 0.1 * out.routing.z_loss


def _grads(module: torch.nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    return {
        prefix + name: (p.grad if p.grad is not None else torch.zeros_like(p))
        for name, p in module.named_parameters()
    }


def check_equal_to_single_process(
    rank: int,
    world_size: int,
    k: int,
    quantum: bool,
    capacity: float | None,
    starve: bool,
    mesh: bool = False,
) -> None:
    n_experts = 2 * world_size
    torch.manual_seed(100 + 10 * k + quantum)
    moe = make_moe(
        n_experts, k, quantum=quantum, capacity=capacity, starve_from=2 if starve else None
    )
    split = token_split(world_size)
    hidden = torch.randn(sum(split), D_MODEL, dtype=torch.float64)
    target = torch.randn(sum(split), D_MODEL, dtype=torch.float64)
    start, stop = sum(split[:rank]), sum(split[: rank + 1])

    reference_hidden = hidden.clone().requires_grad_()
    reference = moe(reference_hidden)
    _loss(reference, target).backward()
    if capacity is not None:
        assert int(reference.dropped) > 0, "the capacity case must drop some slots"

    group = init_device_mesh("cpu", (world_size,)) if mesh else None
    layer = ExpertParallelMoE.from_moe(moe, group=group)
    # through a mesh, tokens as [tokens, 1, d_model]: leading dimensions are flattened
    local_hidden = hidden[start:stop, None] if mesh else hidden[start:stop]
    local_hidden = local_hidden.clone().requires_grad_()
    out = layer(local_hidden)
    assert out.output.shape == local_hidden.shape
    _loss(out, target[start:stop].reshape(out.output.shape)).backward()

    torch.testing.assert_close(
        out.output.reshape(-1, D_MODEL), reference.output[start:stop], **TOLERANCE
    )
    torch.testing.assert_close(
        local_hidden.grad.reshape(-1, D_MODEL), reference_hidden.grad[start:stop], **TOLERANCE
    )
    shares = torch.stack([out.routing.aux_loss, out.routing.z_loss]).detach()
    dist.all_reduce(shares)
    expected = torch.stack([reference.routing.aux_loss, reference.routing.z_loss]).detach()
    torch.testing.assert_close(shares, expected, **TOLERANCE)
    torch.testing.assert_close(out.routing.load, reference.routing.load, **TOLERANCE)
    assert int(out.dropped) == int(reference.dropped)
    torch.testing.assert_close(out.dropped_fraction, reference.dropped_fraction)

    # replicated router: every rank holds the gradient of the whole group's loss
    expected_router = _grads(moe.router)
    for name, grad in _grads(layer.router).items():
        torch.testing.assert_close(grad, expected_router[name], **TOLERANCE, msg=name)
    assert any(g.abs().sum() > 0 for g in expected_router.values())
    expected_experts = _grads(moe.experts)
    for name, grad in _grads(layer.experts).items():
        torch.testing.assert_close(grad, expected_experts[name], **TOLERANCE, msg=name)
    if starve and rank > 0:
        assert all(g.abs().sum() == 0 for g in _grads(layer.experts).values())


def check_gradient_accumulation(rank: int, world_size: int) -> None:
    """Two backwards before a step: the router's gradients are summed over the ranks once
    per backward, not twice for what the first one left in ``.grad``."""
    torch.manual_seed(5)
    moe = make_moe(2 * world_size, 2, quantum=True, capacity=None, starve_from=None)
    layer = ExpertParallelMoE.from_moe(moe)
    batches = [torch.randn(4 * world_size, D_MODEL, dtype=torch.float64) for _ in range(2)]
    targets = [torch.randn(4 * world_size, D_MODEL, dtype=torch.float64) for _ in range(2)]
    for hidden, target in zip(batches, targets, strict=True):
        _loss(moe(hidden), target).backward()
        mine = slice(4 * rank, 4 * rank + 4)
        _loss(layer(hidden[mine]), target[mine]).backward()
    expected = _grads(moe.router)
    for name, grad in _grads(layer.router).items():
        torch.testing.assert_close(grad, expected[name], **TOLERANCE, msg=name)


def expect_error_on_every_rank(make: Callable[[], object], match: str) -> None:
    try:
        make()
    except ValueError as error:
        assert match in str(error), f"{match!r} not in {error}"
        return
    raise AssertionError(f"no ValueError ({match!r}) on rank {dist.get_rank()}")


def check_bad_configurations(rank: int, world_size: int, folder: str) -> None:
    expect_error_on_every_rank(
        lambda: ExpertParallelMoE(D_MODEL, 2 * world_size + 1, D_HIDDEN),
        f"n_experts={2 * world_size + 1} is not divisible by the group's {world_size} ranks",
    )
    # one rank's router differs: every rank raises, naming the setting
    expect_error_on_every_rank(
        lambda: ExpertParallelMoE(D_MODEL, 2 * world_size, D_HIDDEN, k=1 if rank == 1 else 2),
        "k differs across ranks",
    )
    expect_error_on_every_rank(
        lambda: ExpertParallelMoE(
            D_MODEL,
            2 * world_size,
            D_HIDDEN,
            gate=QuantumGate(D_MODEL, 2 * world_size, layers=2 + (rank == world_size - 1)),
        ),
        "gate differs across ranks",
    )
    # a problem found on one rank only is raised on all of them
    expect_error_on_every_rank(
        lambda: ExpertParallelMoE(
            D_MODEL, 2 * world_size, D_HIDDEN, capacity_factor=-1.0 if rank == 0 else None
        ),
        "rank 0: capacity_factor must be > 0",
    )
    saved = ExpertParallelMoE(D_MODEL, 2 * world_size, D_HIDDEN)
    save_checkpoint(f"{folder}/small", saved)
    expect_error_on_every_rank(
        lambda: load_checkpoint(f"{folder}/small", ExpertParallelMoE(D_MODEL, 4 * world_size, 5)),
        f"n_experts={4 * world_size}, the checkpoint has {2 * world_size} experts",
    )
    expect_error_on_every_rank(
        lambda: load_checkpoint(f"{folder}/small", ExpertParallelMoE(D_MODEL, 2 * world_size, 7)),
        "in the checkpoint",
    )
    expect_error_on_every_rank(
        lambda: load_checkpoint(f"{folder}/missing", saved), "cannot read a checkpoint"
    )


def _train(layer, optimizer, hidden, target, steps: int, scale: float = 1.0) -> list[float]:
    """``steps`` Adam steps on the sum of the ranks' losses; the loss curve as floats."""
    losses = []
    for _ in range(steps):
        loss = _loss(layer(hidden), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total = loss.detach().clone()
        if dist.is_initialized() and isinstance(layer, ExpertParallelMoE):
            dist.all_reduce(total, group=layer.group)
        losses.append(float(total))
    return losses


def check_resume(rank: int, world_size: int, folder: str, save_world_size: int) -> None:
    """Four Adam steps on one MoE (the oracle curve) against two steps at
    ``save_world_size`` ranks, a checkpoint, and two more after loading it into a fresh
    layer and optimizer at ``world_size`` ranks."""
    n_experts, steps = 4, 4
    torch.manual_seed(7)
    moe = make_moe(n_experts, 2, quantum=True, capacity=1.5, starve_from=None)
    hidden = torch.randn(24, D_MODEL, dtype=torch.float64)
    target = torch.randn(24, D_MODEL, dtype=torch.float64)
    initial = {name: t.clone() for name, t in moe.state_dict().items()}
    oracle = _train(moe, torch.optim.Adam(moe.parameters(), lr=0.05), hidden, target, steps)

    def slice_of(tensor, group_rank, group_size):
        chunk = len(tensor) // group_size
        return tensor[group_rank * chunk : (group_rank + 1) * chunk]

    moe.load_state_dict(initial)
    savers = dist.new_group(list(range(save_world_size)))
    path = f"{folder}/resume-{save_world_size}-{world_size}"
    first = []
    if rank < save_world_size:
        layer = ExpertParallelMoE.from_moe(moe, group=savers)
        optimizer = torch.optim.Adam(layer.parameters(), lr=0.05)
        part = [slice_of(t, rank, save_world_size) for t in (hidden, target)]
        first = _train(layer, optimizer, *part, steps // 2)
        save_checkpoint(path, layer, optimizer, extra={"step": steps // 2}, group=savers)
    dist.barrier()

    torch.manual_seed(1234 + rank)  # a fresh layer, other weights than the saved ones
    fresh = ExpertParallelMoE.from_moe(
        make_moe(n_experts, 2, quantum=True, capacity=1.5, starve_from=None)
    )
    optimizer = torch.optim.Adam(fresh.parameters(), lr=0.05)
    extra = load_checkpoint(path, fresh, optimizer, extra={"step": 0})
    assert extra == {"step": steps // 2}
    part = [slice_of(t, rank, world_size) for t in (hidden, target)]
    second = _train(fresh, optimizer, *part, steps - steps // 2)
    if rank < save_world_size:
        curve = torch.tensor(first + second, dtype=torch.float64)
        torch.testing.assert_close(curve, torch.tensor(oracle, dtype=torch.float64), **TOLERANCE)
    torch.testing.assert_close(
        torch.tensor(second, dtype=torch.float64),
        torch.tensor(oracle[steps // 2 :], dtype=torch.float64),
        **TOLERANCE,
    )


def check_a_failed_rank_does_not_hang_the_others(rank: int, timeout_s: float) -> None:
    """The last rank fails before the collective construction and stays alive (waiting in
    another group); the others get the group's timeout as an error, not a wait forever."""
    group = dist.new_group(timeout=datetime.timedelta(seconds=timeout_s))
    if rank == dist.get_world_size() - 1:
        dist.barrier()  # this rank's gate "raised": it never reaches the constructor
        return
    began = time.monotonic()
    try:
        ExpertParallelMoE(D_MODEL, 4, D_HIDDEN, group=group)
    except RuntimeError as error:  # gloo's timeout (DistBackendError is a RuntimeError)
        waited = time.monotonic() - began
        assert waited < timeout_s + 30, f"waited {waited:.0f} s for a {timeout_s} s timeout"
        assert "timed out" in str(error).lower(), error
        dist.barrier()
        return
    raise AssertionError("the constructor returned without the failed rank")


def run_all(rank: int, world_size: int, folder: str) -> None:
    init(rank, world_size, folder)
    Path(folder).mkdir(exist_ok=True)
    cases = [  # k, quantum router, capacity factor, experts past the first two starved
        (1, False, None, False),
        (2, True, None, False),
        (2, False, 0.6, False),
        (1, True, 0.5, False),
        (2, False, None, True),
    ]
    if world_size > 2:  # the same paths again, with fewer cases: spawning is the slow part
        cases = cases[2:]
    for case in cases:
        check_equal_to_single_process(rank, world_size, *case)
    check_equal_to_single_process(rank, world_size, 2, True, None, False, mesh=True)
    check_gradient_accumulation(rank, world_size)
    check_bad_configurations(rank, world_size, folder)
    check_resume(rank, world_size, folder, save_world_size=2)
    if world_size == 2:  # once is enough: it waits for the timeout
        check_a_failed_rank_does_not_hang_the_others(rank, timeout_s=3.0)
