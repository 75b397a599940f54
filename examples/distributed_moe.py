#!/usr/bin/env python
"""Train a small MoE language model with its experts sharded over the ranks (torchrun).

A byte-level decoder (embeddings, pre-norm blocks of causal attention and an expert-parallel
MoE feed-forward routed by a QuantumGate) trained on a text file that ships with Debian,
/usr/share/common-licenses/GPL-3 by default. The experts of every block are split over the
ranks (qmoe_torch.distributed.ExpertParallelMoE); embeddings, attention, norms and routers
are replicated and their gradients summed over the ranks. Rank 0 shows a progress bar with
the loss, tokens/s and each block's per-expert load. Checkpoints go through
torch.distributed.checkpoint and resume at any world size that divides the experts.

Each step's global batch is drawn from the step number alone and split over the ranks, and
each rank's loss is its share of the global mean, so the loss curve does not depend on the
world size: a run resumed at another world size continues the same curve.

    torchrun --standalone --nproc_per_node=2 examples/distributed_moe.py --steps 50 \\
        --save-dir /tmp/qmoe-ckpt --save-every 25
    torchrun --standalone --nproc_per_node=4 examples/distributed_moe.py --steps 100 \\
        --resume /tmp/qmoe-ckpt/step-50
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from qmoe_torch import QuantumGate
from qmoe_torch.distributed import (
    ExpertParallelMoE,
    all_reduce_gradients,
    load_checkpoint,
    save_checkpoint,
)

VOCAB = 256  # bytes


class Block(nn.Module):
    """Pre-norm: ``x + attention(norm(x))``, then ``x + moe(norm(x))``."""

    def __init__(self, d_model: int, heads: int, n_experts: int, d_hidden: int, k: int) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(d_model)
        self.attention = nn.MultiheadAttention(d_model, heads, batch_first=True)
        self.moe_norm = nn.LayerNorm(d_model)
        gate = QuantumGate(d_model, n_experts, layers=2)
        self.moe = ExpertParallelMoE(d_model, n_experts, d_hidden, k=k, gate=gate)

    def forward(self, hidden: torch.Tensor, causal: torch.Tensor):
        normed = self.attention_norm(hidden)
        attended, _ = self.attention(normed, normed, normed, attn_mask=causal, need_weights=False)
        hidden = hidden + attended
        out = self.moe(self.moe_norm(hidden))
        return hidden + out.output, out.routing


class MoELanguageModel(nn.Module):
    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, args.d_model)
        self.position = nn.Embedding(args.seq_len, args.d_model)
        self.blocks = nn.ModuleList(
            Block(args.d_model, args.heads, args.experts, args.d_hidden, args.k)
            for _ in range(args.layers)
        )
        self.norm = nn.LayerNorm(args.d_model)
        self.head = nn.Linear(args.d_model, VOCAB, bias=False)

    def forward(self, tokens: torch.Tensor):
        length = tokens.shape[1]
        hidden = self.embedding(tokens) + self.position(torch.arange(length))
        causal = torch.triu(torch.full((length, length), float("-inf")), diagonal=1)
        routings = []
        for block in self.blocks:
            hidden, routing = block(hidden, causal)
            routings.append(routing)
        return self.head(self.norm(hidden)), routings


def replicated_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Every parameter but the experts' (sharded) and the routers' (summed by the layer)."""
    inside_moe = {
        id(p) for m in model.modules() if isinstance(m, ExpertParallelMoE) for p in m.parameters()
    }
    return [p for p in model.parameters() if id(p) not in inside_moe]


def global_batch(text: torch.Tensor, step: int, batch: int, length: int, seed: int) -> torch.Tensor:
    """``batch`` windows of ``length + 1`` bytes, drawn from ``(seed, step)`` only."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
    starts = torch.randint(0, len(text) - length - 1, (batch,), generator=generator)
    return torch.stack([text[s : s + length + 1] for s in starts.tolist()])


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--text", default="/usr/share/common-licenses/GPL-3")
    parser.add_argument("--steps", type=int, default=50, help="train up to this step")
    parser.add_argument("--batch", type=int, default=16, help="global sequences per step")
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--d-model", type=int, default=32)
    parser.add_argument("--d-hidden", type=int, default=64)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--experts", type=int, default=4)
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--aux-weight", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-dir", type=Path, help="write checkpoints step-N/ here")
    parser.add_argument("--save-every", type=int, default=0)
    parser.add_argument("--resume", type=Path, help="a step-N/ checkpoint folder")
    parser.add_argument("--losses-out", type=Path, help="rank 0 writes {step: loss} here")
    return parser.parse_args()


def main() -> None:
    args = parse_arguments()
    dist.init_process_group("gloo")
    rank, world_size = dist.get_rank(), dist.get_world_size()
    if args.batch % world_size:
        raise SystemExit(f"--batch={args.batch} must be divisible by the {world_size} ranks")
    text = torch.tensor(list(Path(args.text).read_bytes()), dtype=torch.long)

    torch.manual_seed(args.seed)  # replicated layers: the same on every rank
    model = MoELanguageModel(args)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    step = 0
    if args.resume is not None:
        step = load_checkpoint(args.resume, model, optimizer, extra={"step": 0})["step"]
    replicated = replicated_parameters(model)

    local = args.batch // world_size
    global_tokens = args.batch * args.seq_len
    losses: dict[int, float] = {}
    progress = tqdm(total=args.steps, initial=step, disable=rank != 0, desc=f"{world_size} ranks")
    while step < args.steps:
        began = time.perf_counter()
        window = global_batch(text, step, args.batch, args.seq_len, args.seed)
        window = window[rank * local : (rank + 1) * local]
        logits, routings = model(window[:, :-1])
        # this rank's share of the global mean: the shares sum to the step's loss
        loss = nn.functional.cross_entropy(
            logits.reshape(-1, VOCAB), window[:, 1:].reshape(-1), reduction="sum"
        ) / global_tokens + args.aux_weight * sum(r.aux_loss for r in routings)
        optimizer.zero_grad()
        loss.backward()
        all_reduce_gradients(replicated, dist.group.WORLD)
        optimizer.step()
        step += 1

        total = loss.detach().clone()
        dist.all_reduce(total)
        losses[step] = float(total)
        seconds = time.perf_counter() - began
        load = " | ".join(" ".join(f"{x:.2f}" for x in r.load.tolist()) for r in routings)
        progress.set_postfix_str(
            f"loss {total.item():.4f} tokens/s {global_tokens / seconds:,.0f} load {load}"
        )
        progress.update()
        if args.save_dir is not None and args.save_every and step % args.save_every == 0:
            save_checkpoint(args.save_dir / f"step-{step}", model, optimizer, extra={"step": step})
    progress.close()
    if rank == 0:
        print(
            f"final loss {losses.get(step, math.nan):.4f} after {step} steps on {world_size} ranks"
        )
        print(f"per-expert load: {load if losses else '-'}")
        if args.losses_out is not None:
            args.losses_out.write_text(json.dumps(losses))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
