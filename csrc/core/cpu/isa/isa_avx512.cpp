#define QMOE_ISA_TAG isa_avx512
#define QMOE_ISA_ENTRY avx512_kernels
#define QMOE_ISA_NAME "avx512"
#include "isa_kernels.inc"
