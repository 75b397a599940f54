// The single-wire noise channels, with PennyLane's Kraus operators, as 4x4
// real superoperators acting on one wire's block (rho00, rho01, rho10, rho11)
// (first index the row bit). Every channel here is real in that form: its
// Kraus operators are real or, for Y, purely imaginary.
#pragma once

#include <cmath>

#include "qmoe/core/math/host_device.h"
#include "qmoe/core/math/isa_tag.h"
#include "qmoe/core/program/opcodes.h"

namespace qmoe::core {

template <class Real>
struct Superoperator {
  Real m[4][4];
};

inline namespace QMOE_ISA_TAG {

// Depolarizing(p): sqrt(1-p) I, sqrt(p/3) X, Y, Z.  AmplitudeDamping(g):
// [[1,0],[0,sqrt(1-g)]], [[0,sqrt(g)],[0,0]].  PhaseDamping(g): [[1,0],[0,sqrt(1-g)]],
// [[0,0],[0,sqrt(g)]].  BitFlip(p): sqrt(1-p) I, sqrt(p) X.
template <class Real>
QMOE_HOST_DEVICE inline Superoperator<Real> channel_superoperator(Opcode channel, Real p) {
  Superoperator<Real> s{};
  switch (channel) {
    case Opcode::kDepolarizing: {
      // p/3 (X rho X + Y rho Y + Z rho Z) = p/3 (2 tr(rho) I - rho)
      const Real keep = 1 - 2 * p / 3, move = 2 * p / 3, coherence = 1 - 4 * p / 3;
      s.m[0][0] = keep, s.m[0][3] = move;
      s.m[3][0] = move, s.m[3][3] = keep;
      s.m[1][1] = coherence, s.m[2][2] = coherence;
      break;
    }
    case Opcode::kAmplitudeDamping: {
      const Real coherence = std::sqrt(1 - p);
      s.m[0][0] = 1, s.m[0][3] = p, s.m[3][3] = 1 - p;
      s.m[1][1] = coherence, s.m[2][2] = coherence;
      break;
    }
    case Opcode::kPhaseDamping: {
      const Real coherence = std::sqrt(1 - p);
      s.m[0][0] = 1, s.m[3][3] = 1;
      s.m[1][1] = coherence, s.m[2][2] = coherence;
      break;
    }
    default: {  // bit flip
      const Real keep = 1 - p;
      s.m[0][0] = keep, s.m[0][3] = p, s.m[3][0] = p, s.m[3][3] = keep;
      s.m[1][1] = keep, s.m[1][2] = p, s.m[2][1] = p, s.m[2][2] = keep;
      break;
    }
  }
  return s;
}

// d/dp of channel_superoperator (infinite for the damping channels at p = 1,
// where sqrt(1 - p) has no derivative).
template <class Real>
QMOE_HOST_DEVICE inline Superoperator<Real> channel_superoperator_derivative(Opcode channel,
                                                                             Real p) {
  Superoperator<Real> s{};
  switch (channel) {
    case Opcode::kDepolarizing:
      s.m[0][0] = Real(-2) / 3, s.m[0][3] = Real(2) / 3;
      s.m[3][0] = Real(2) / 3, s.m[3][3] = Real(-2) / 3;
      s.m[1][1] = Real(-4) / 3, s.m[2][2] = Real(-4) / 3;
      break;
    case Opcode::kAmplitudeDamping: {
      const Real coherence = -1 / (2 * std::sqrt(1 - p));
      s.m[0][3] = 1, s.m[3][3] = -1;
      s.m[1][1] = coherence, s.m[2][2] = coherence;
      break;
    }
    case Opcode::kPhaseDamping: {
      const Real coherence = -1 / (2 * std::sqrt(1 - p));
      s.m[1][1] = coherence, s.m[2][2] = coherence;
      break;
    }
    default:
      s.m[0][0] = -1, s.m[0][3] = 1, s.m[3][0] = 1, s.m[3][3] = -1;
      s.m[1][1] = -1, s.m[1][2] = 1, s.m[2][1] = 1, s.m[2][2] = -1;
      break;
  }
  return s;
}

template <class Real>
QMOE_HOST_DEVICE inline Superoperator<Real> transpose(const Superoperator<Real>& s) {
  Superoperator<Real> t{};
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) t.m[i][j] = s.m[j][i];
  }
  return t;
}

}  // namespace QMOE_ISA_TAG
}  // namespace qmoe::core
