"""Trains a small quantum-routed MoE layer in Python and exports it for C++ serving.

The model: ``MoE(d_model=8, n_experts=4, d_hidden=16, k=2)`` routed by a
``QuantumGate(8, 4, n_qubits=4, layers=2)``, trained for a few Adam steps to imitate a
random teacher. Written to ``--out``:

- ``moe.pt2``: ``torch.export`` + ``aoti_compile_and_package`` of the layer returning
  ``(output, combine weights, chosen experts)`` for any number of tokens (1 .. 4,096);
- ``moe_weights.pt``: its state dict (``qmoe_torch.libtorch``), for ``qmoe::nn::MoE``;
- ``batch.pt`` and ``expected.pt``: a batch of tokens and Python's eager outputs on it.

Usage: ``python examples/cpp_inference/export_model.py --out build/cpp_inference_model``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

from qmoe_torch import MoE, QuantumGate
from qmoe_torch.libtorch import save_state_dict

D_MODEL, N_EXPERTS, D_HIDDEN, K = 8, 4, 16, 2
MAX_TOKENS = 4096


def build_model(seed: int = 0) -> MoE:
    """The layer, freshly initialised from ``seed`` (C++: the same options, see serve.cpp)."""
    torch.manual_seed(seed)
    gate = QuantumGate(D_MODEL, N_EXPERTS, n_qubits=4, layers=2)
    return MoE(D_MODEL, N_EXPERTS, D_HIDDEN, k=K, gate=gate)


class Served(nn.Module):
    """What a server returns per token: the layer's output, the combine weights and the
    chosen experts (best first)."""

    def __init__(self, moe: MoE) -> None:
        super().__init__()
        self.moe = moe

    def forward(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.moe(hidden)
        return out.output, out.routing.weights, out.routing.indices


def train(model: MoE, steps: int, seed: int) -> float:
    """Adam on the squared error against a random teacher plus the load-balancing loss."""
    generator = torch.Generator().manual_seed(seed)
    teacher = torch.randn(D_MODEL, D_MODEL, generator=generator) / D_MODEL**0.5
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        hidden = torch.randn(64, D_MODEL, generator=generator)
        out = model(hidden)
        loss = nn.functional.mse_loss(out.output, torch.tanh(hidden @ teacher))
        optimizer.zero_grad()
        (loss + 0.01 * out.routing.aux_loss).backward()
        optimizer.step()
    return float(loss)


def export_package(model: MoE, path: Path) -> Path:
    """AOTInductor package of ``Served(model)`` with a dynamic number of tokens."""
    served = Served(model).eval()
    example = torch.randn(16, D_MODEL)
    tokens = torch.export.Dim("tokens", min=1, max=MAX_TOKENS)
    with torch.no_grad():
        program = torch.export.export(served, (example,), dynamic_shapes={"hidden": {0: tokens}})
        return Path(torch._inductor.aoti_compile_and_package(program, package_path=str(path)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write into")
    parser.add_argument("--steps", type=int, default=40, help="Adam steps in Python")
    parser.add_argument("--tokens", type=int, default=8, help="tokens of the sample batch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-package", action="store_true", help="weights and batch only")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    model = build_model(args.seed)
    loss = train(model, args.steps, args.seed)
    model.eval()
    save_state_dict(model, args.out / "moe_weights.pt")
    hidden = torch.randn(args.tokens, D_MODEL, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        output, weights, indices = Served(model)(hidden)
    torch.save({"hidden": hidden}, args.out / "batch.pt")
    torch.save({"output": output, "weights": weights, "indices": indices}, args.out / "expected.pt")
    print(f"trained {args.steps} steps (loss {loss:.4f}); weights and batch in {args.out}")
    if not args.no_package:
        print(f"package: {export_package(model, args.out / 'moe.pt2')}")


if __name__ == "__main__":
    main()
