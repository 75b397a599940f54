// Every header of csrc/core/math/ compiled by nvcc into device code: the math
// the CPU kernels use is the math the CUDA kernels will use, so it must stay
// host+device (no intrinsics, no containers, no OpenMP). Nothing here runs; the
// build is the test. Each function is instantiated for float and double.
#include "qmoe/core/math/channels.h"
#include "qmoe/core/math/fixed_two_qubit.h"
#include "qmoe/core/math/gate_math.h"
#include "qmoe/core/math/gate_types.h"
#include "qmoe/core/math/host_device.h"
#include "qmoe/core/math/isa_tag.h"
#include "qmoe/core/math/parity.h"
#include "qmoe/core/math/pauli_string.h"
#include "qmoe/core/program/opcodes.h"

namespace qmoe::core::device_check {

template <class Real>
__device__ Real exercise_math(const Real* in, int64_t index) {
  Real a0r = in[0], a0i = in[1], a1r = in[2], a1i = in[3];
  const Matrix2<Real> rotation = rotation_matrix<Real>(Pauli::kY, in[4], in[5]);
  const Matrix2<Real> fused =
      multiply(adjoint(rotation),
               multiply(fixed_gate_matrix<Real>(Opcode::kH), pauli_matrix<Real>(Pauli::kX)));
  apply_matrix2(fused, a0r, a0i, a1r, a1i);
  Real sum = imag_generator_product(fused, a0r, a0i, a1r, a1i, in[0], in[1], in[2], in[3]);
  sum += (conj(fused.m00) * fused.m11 + identity_matrix<Real>().m00).re;
  sum += parity_sign<Real>(index, in[6] > 0 ? 5 : 3);
  int re = 0, im = 0;
  pauli_phase(pauli_action(PauliString::kYY, 1, 0), index, re, im);
  const StringAction string = string_action(PauliString::kXX);
  sum += static_cast<Real>(re + im) + static_cast<Real>(string.even_sign);
  sum += static_cast<Real>(quad_offset(exchanged_with_10(Opcode::kCnot), 4, 1));
  const Superoperator<Real> s = channel_superoperator<Real>(Opcode::kAmplitudeDamping, in[7]);
  const Superoperator<Real> d =
      channel_superoperator_derivative<Real>(Opcode::kDepolarizing, in[7]);
  sum += transpose(s).m[0][3] + d.m[1][1];
  sum += static_cast<Real>(is_two_qubit(Opcode::kSwap) + takes_parameter(Opcode::kRx) +
                           is_channel(Opcode::kBitFlip) + opcode_wires(Opcode::kCz));
  return sum + a0r + a0i + a1r + a1i;
}

template <class Real>
__global__ void math_headers_kernel(const Real* in, Real* out) {
  const int64_t index = blockIdx.x * blockDim.x + threadIdx.x;
  out[index] = exercise_math<Real>(in + 8 * index, index);
}

// Instantiated so device code is emitted for both precisions.
template __global__ void math_headers_kernel<float>(const float*, float*);
template __global__ void math_headers_kernel<double>(const double*, double*);

}  // namespace qmoe::core::device_check
