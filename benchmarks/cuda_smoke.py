#!/usr/bin/env python
"""A small forward + backward on the GPU, for compute-sanitizer (memcheck, racecheck)."""

import torch
from cells import router_circuit

from qmoe_torch import ops

for n, batch in ((2, 300), (7, 129)):
    circuit = router_circuit(n)
    x = torch.rand(batch, n, device="cuda", dtype=torch.float64, requires_grad=True)
    w = torch.rand(circuit.n_weights, device="cuda", dtype=torch.float64, requires_grad=True)
    out = ops.expval(
        x, w, circuit.program, n, [1 << q for q in range(n)], constants=circuit.constants
    )
    out.sum().backward()
torch.cuda.synchronize()
print("cuda_smoke: ok")
