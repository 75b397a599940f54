// Every header whose inline code is compiled once per instruction set lives in
// an inline namespace named by QMOE_ISA_TAG, so that the AVX-512 build of an
// inline function can never be merged by the linker into baseline code.
#pragma once

#ifndef QMOE_ISA_TAG
#define QMOE_ISA_TAG portable
#endif

// For small hot helpers the compiler otherwise keeps out of line in big kernels.
#if defined(__GNUC__)
#define QMOE_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define QMOE_ALWAYS_INLINE inline
#endif
