// QMOE_HOST_DEVICE marks the math written once for the CPU kernels and the
// CUDA kernels: __host__ __device__ under nvcc, nothing elsewhere.
#pragma once

#if defined(__CUDACC__)
#define QMOE_HOST_DEVICE __host__ __device__
#else
#define QMOE_HOST_DEVICE
#endif
