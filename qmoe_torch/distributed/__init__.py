"""Expert parallelism on torch.distributed: :class:`ExpertParallelMoE` shards a MoE layer's
experts over a process group (gloo on CPU, NCCL on GPU) and exchanges tokens with
``all_to_all_single``; :mod:`.checkpoint` saves and resumes it with
``torch.distributed.checkpoint``, also at another world size."""

from .agreement import raise_unless_all_agree
from .all_to_all import ExchangedCounts, exchange_counts, exchange_rows
from .checkpoint import load_checkpoint, save_checkpoint
from .expert_parallel import ExpertParallelMoE, resolve_group
from .group_routing import GroupRouterOutput
from .replicated import GradientSummer, all_reduce_gradients

__all__ = [
    "ExchangedCounts",
    "ExpertParallelMoE",
    "GradientSummer",
    "GroupRouterOutput",
    "all_reduce_gradients",
    "exchange_counts",
    "exchange_rows",
    "load_checkpoint",
    "raise_unless_all_agree",
    "resolve_group",
    "save_checkpoint",
]
