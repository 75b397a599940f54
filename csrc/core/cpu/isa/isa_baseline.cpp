#define QMOE_ISA_TAG isa_baseline
#define QMOE_ISA_ENTRY baseline_kernels
#define QMOE_ISA_NAME "baseline"
#include "qmoe/core/cpu/isa/isa_kernels.inc"
