#define QMOE_ISA_TAG isa_baseline
#define QMOE_ISA_ENTRY baseline_kernels
#define QMOE_ISA_NAME "baseline"
#include "isa_kernels.inc"
