"""Expert parallelism on gloo with 2 and 4 spawned processes: equal to the single-process
MoE (forward, losses, gradients; k = 1 and 2; uneven token counts; a rank with no tokens;
ranks whose experts receive none; capacity), bad configurations raised on every rank, a
checkpoint resumed at the same and at another world size with the same loss curve, and a
failed rank that leaves the others with a timeout, not a hang. The cases of one world
size share one spawn (starting processes is the slow part)."""

from __future__ import annotations

import distributed_workers
import pytest
import torch.distributed as dist
import torch.multiprocessing as mp

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="needs torch.distributed with gloo",
)


@pytest.mark.parametrize("world_size", [2, 4])
def test_expert_parallel_moe_on_gloo(world_size: int, tmp_path) -> None:
    mp.spawn(
        distributed_workers.run_all, args=(world_size, str(tmp_path)), nprocs=world_size, join=True
    )


def test_needs_an_initialised_process_group() -> None:
    from qmoe_torch.distributed import ExpertParallelMoE

    if dist.is_initialized():
        pytest.skip("a process group is already initialised in this process")
    with pytest.raises(RuntimeError, match="not initialised"):
        ExpertParallelMoE(4, 2, 4)
