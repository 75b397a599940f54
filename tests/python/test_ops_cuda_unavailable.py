"""A build without CUDA kernels refuses CUDA tensors with an error that says why.

Such a build (this machine's: torch without CUDA) registers every circuit operator for
the CUDA dispatch key with a kernel that refuses (csrc/ops/cuda_unavailable/). torch
without CUDA cannot make a CUDA tensor, so the test enters that kernel directly by
redispatching CPU tensors to the CUDA key, which is where a CUDA tensor would land.
"""

from __future__ import annotations

import pytest
import torch

import qmoe_torch  # noqa: F401  (loads the operator library)

pytestmark = pytest.mark.skipif(
    torch.version.cuda is not None, reason="a CUDA torch may carry the real CUDA kernels"
)

CUDA_KEYS = torch._C.DispatchKeySet(torch._C.DispatchKey.CUDA)


def circuit_arguments() -> dict[str, tuple]:
    inputs = torch.zeros(3, 1, dtype=torch.float64)
    weights = torch.zeros(0, dtype=torch.float64)
    program: list[int] = []  # no operations: the kernel refuses before reading it
    z_masks = [1]
    return {
        "expval": (inputs, weights, None, program, [], 1, z_masks, "adjoint"),
        "probs": (inputs, weights, None, program, [], 1, "adjoint"),
        "circuit_forward": (
            inputs,
            weights,
            None,
            program,
            [],
            1,
            z_masks,
            False,
            "adjoint",
            False,
        ),
        "circuit_backward": (
            torch.zeros(3, 1, dtype=torch.float64),
            inputs,
            weights,
            None,
            program,
            [],
            1,
            z_masks,
            False,
            "adjoint",
            [True, True, False],
            None,
        ),
    }


@pytest.mark.parametrize("name", ["expval", "probs", "circuit_forward", "circuit_backward"])
def test_cuda_key_refuses_with_the_reason(name):
    overload = getattr(torch.ops.qmoe, name).default
    assert torch._C._dispatch_has_kernel_for_dispatch_key(overload.name(), "CUDA")
    with pytest.raises(NotImplementedError, match=rf"qmoe::{name}: this qmoe build has no CUDA"):
        overload.redispatch(CUDA_KEYS, *circuit_arguments()[name])


def test_cpu_kernels_still_answer():
    out = torch.ops.qmoe.expval(
        torch.zeros(3, 1, dtype=torch.float64),
        torch.zeros(0, dtype=torch.float64),
        None,
        [],
        [],
        1,
        [1],
        "adjoint",
    )
    torch.testing.assert_close(out, torch.ones(3, 1, dtype=torch.float64))
