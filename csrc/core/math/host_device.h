// QMOE_HOST_DEVICE marks the math written once for the CPU kernels and the
// CUDA kernels: __host__ __device__ under nvcc, nothing elsewhere.
#pragma once

#if defined(__CUDACC__)
#define QMOE_HOST_DEVICE __host__ __device__
#else
#define QMOE_HOST_DEVICE
#endif

// For the few small inline functions of types shared by every build (layouts,
// readout widths): always inlined, so that no ISA's object emits an out-of-line copy
// the linker could merge into another's, even in an unoptimised or sanitizer build.
#if defined(__CUDACC__)
#define QMOE_INLINE_ALWAYS __forceinline__
#elif defined(__GNUC__)
#define QMOE_INLINE_ALWAYS inline __attribute__((always_inline))
#else
#define QMOE_INLINE_ALWAYS inline
#endif
