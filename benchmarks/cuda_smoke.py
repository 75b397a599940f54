#!/usr/bin/env python
"""A small forward + backward on the GPU, for compute-sanitizer (memcheck, racecheck)."""

import torch
from cells import router_circuit

from qmoe_torch import ops

# (n, batch, noisy): the noisy circuits run on the density-matrix kernels (buckets 2 and 6),
# one channel probability per sample (an input column, in [0, 1)) so that its gradient runs.
for n, batch, noisy in ((2, 300, False), (7, 129, False), (2, 300, True), (5, 33, True)):
    circuit = router_circuit(n)
    if noisy:
        circuit.phase_damping(0, input=0).depolarizing(n - 1, constant=0.1)
    x = torch.rand(batch, n, device="cuda", dtype=torch.float64, requires_grad=True)
    w = torch.rand(circuit.n_weights, device="cuda", dtype=torch.float64, requires_grad=True)
    out = ops.expval(
        x, w, circuit.program, n, [1 << q for q in range(n)], constants=circuit.constants
    )
    out.sum().backward()
torch.cuda.synchronize()
print("cuda_smoke: ok")
