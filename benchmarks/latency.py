"""Trivial PyTorch calls timed like the benchmark cells: the floor of a batch-1 op call.

Every PyTorch op call pays dispatcher, autograd and allocation costs whatever it computes;
these give that floor on this machine, so that a batch-1 circuit call can be read as a
multiple of it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from cells import DTYPES
from timing import Timing, TimingPolicy, measure

TRIVIAL = ("add", "linear_forward", "linear_backward")
TRIVIAL_LABELS = {
    "add": "`torch.add(x, y)`, x and y of 2 elements",
    "linear_forward": "`nn.Linear(2, 2)` forward, input [1, 2] (no grad)",
    "linear_backward": "`nn.Linear(2, 2)` forward + `out.backward(grad)`, input requiring grad",
}
SAME_PASS = {"forward": "linear_forward", "adjoint": "linear_backward"}
"""The nn.Linear call that does the same pass as an op kind."""


def trivial_workload(name: str, dtype_name: str) -> Callable[[], object]:
    """A zero-argument callable doing one trivial call ``name`` (one of ``TRIVIAL``)."""
    dtype = DTYPES[dtype_name]
    gen = torch.Generator().manual_seed(7)
    if name == "add":
        x = torch.rand(2, generator=gen, dtype=dtype)
        y = torch.rand(2, generator=gen, dtype=dtype)
        return lambda: torch.add(x, y)
    linear = torch.nn.Linear(2, 2, dtype=dtype)
    inputs = torch.rand(1, 2, generator=gen, dtype=dtype)
    if name == "linear_forward":

        def forward() -> object:
            with torch.no_grad():
                return linear(inputs)

        return forward
    if name != "linear_backward":
        raise ValueError(f"unknown trivial call {name!r}")
    x = inputs.requires_grad_(True)
    grad = torch.ones(1, 2, dtype=dtype)

    def backward() -> object:
        x.grad = None
        linear.zero_grad(set_to_none=True)
        out = linear(x)
        out.backward(grad)
        return out

    return backward


def measure_trivial(dtypes: list[str], policy: TimingPolicy) -> dict[tuple[str, str], Timing]:
    """Timings of every trivial call, keyed ``(name, dtype_name)``."""
    return {
        (name, dtype_name): measure(trivial_workload(name, dtype_name), policy)
        for dtype_name in dtypes
        for name in TRIVIAL
    }
