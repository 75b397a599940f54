#define QMOE_ISA_TAG isa_avx2
#define QMOE_ISA_ENTRY avx2_kernels
#define QMOE_ISA_NAME "avx2"
#include "isa_kernels.inc"
