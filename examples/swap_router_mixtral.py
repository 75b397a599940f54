#!/usr/bin/env python
"""Swap the routers of a tiny Mixtral for quantum ones and train it a few steps.

Builds a small randomly initialised Mixtral from a config (nothing is downloaded), replaces
the router of each of its MoE blocks by a QuantumGate-backed router with
``qmoe_torch.integrations.huggingface.replace_routers``, trains on synthetic token
sequences (a repeating pattern the model can learn) and prints the loss, the load-balancing
loss and each layer's per-expert load.

    python examples/swap_router_mixtral.py --steps 30
"""

from __future__ import annotations

import argparse

import torch
import transformers
from tqdm import tqdm

from qmoe_torch.integrations.huggingface import replace_routers


def synthetic_batch(
    batch: int, length: int, vocab: int, generator: torch.Generator
) -> torch.Tensor:
    """Sequences counting up from a random start, modulo the vocabulary."""
    start = torch.randint(0, vocab, (batch, 1), generator=generator)
    return (start + torch.arange(length)) % vocab


def expert_load(router_logits: torch.Tensor, top_k: int) -> list[float]:
    chosen = torch.topk(router_logits, top_k, dim=-1).indices.reshape(-1)
    counts = torch.bincount(chosen, minlength=router_logits.shape[-1])
    return (counts / counts.sum()).tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--experts", type=int, default=4)
    parser.add_argument("--qubits", type=int, default=None, help="default: from n_experts")
    parser.add_argument("--layers", type=int, default=2, help="entangling layers per router")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    config = transformers.MixtralConfig(
        vocab_size=128,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_local_experts=args.experts,
        num_experts_per_tok=2,
        max_position_embeddings=64,
        router_aux_loss_coef=0.02,
    )
    model = transformers.MixtralForCausalLM(config)
    replaced = replace_routers(model, n_qubits=args.qubits, layers=args.layers)
    print(f"replaced {len(replaced)} routers: {', '.join(replaced)}")
    gate = model.get_submodule(replaced[0]).quantum_gate
    print(f"each router: {gate.parameter_counts()} ({gate.n_qubits} qubits)")

    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(args.seed)
    progress = tqdm(range(args.steps), desc="training")
    for _ in progress:
        ids = synthetic_batch(8, 32, config.vocab_size, generator)
        out = model(ids, labels=ids, output_router_logits=True)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        progress.set_postfix(loss=f"{out.loss.item():.3f}", aux=f"{out.aux_loss.item():.3f}")

    model.eval()
    with torch.no_grad():
        ids = synthetic_batch(8, 32, config.vocab_size, generator)
        out = model(ids, labels=ids, output_router_logits=True)
    print(f"final loss {out.loss.item():.3f}, load-balancing loss {out.aux_loss.item():.3f}")
    for layer, logits in enumerate(out.router_logits):
        shares = expert_load(logits, config.num_experts_per_tok)
        load = ", ".join(f"{share:.2f}" for share in shares)
        print(f"layer {layer}: per-expert load {load}")


if __name__ == "__main__":
    main()
