#define QMOE_ISA_TAG isa_avx512
#define QMOE_ISA_ENTRY avx512_kernels
#define QMOE_ISA_NAME "avx512"
#include "qmoe/core/cpu/isa/isa_kernels.inc"
