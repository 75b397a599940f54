#define QMOE_ISA_TAG isa_avx2
#define QMOE_ISA_ENTRY avx2_kernels
#define QMOE_ISA_NAME "avx2"
#include "qmoe/core/cpu/isa/isa_kernels.inc"
