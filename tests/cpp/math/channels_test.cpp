// The noise channels of channels.h against PennyLane's Kraus operators, written
// out here: each superoperator is sum_k K_k (x) conj(K_k) on the row-major vector
// (rho00, rho01, rho10, rho11) (first index the row bit), which must come out real;
// the Kraus sets are checked complete (sum K^dagger K = I) so that a typo here
// cannot agree with one there. Also pinned: trace preservation (rows 0 and 3 sum
// to (1, 0, 0, 1), and to 0 for the derivative), valid density matrices out of
// valid ones, channel_superoperator_derivative against central differences (and
// infinite for the damping channels at p = 1, as documented), the float version
// within float precision, and transpose as the transpose.
#include "qmoe/core/math/channels.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <complex>
#include <limits>
#include <string>
#include <vector>

#include "test_support.h"

namespace qmoe::core {
namespace {

using test_support::Cplx;
using test_support::Rng;

using Kraus = std::array<Cplx, 4>;  // row-major 2x2
using Super = std::array<std::array<Cplx, 4>, 4>;

const Opcode kChannels[] = {Opcode::kDepolarizing, Opcode::kAmplitudeDamping, Opcode::kPhaseDamping,
                            Opcode::kBitFlip};

std::string name(Opcode channel) {
  switch (channel) {
    case Opcode::kDepolarizing:
      return "Depolarizing";
    case Opcode::kAmplitudeDamping:
      return "AmplitudeDamping";
    case Opcode::kPhaseDamping:
      return "PhaseDamping";
    default:
      return "BitFlip";
  }
}

// PennyLane's Kraus operators (qml.DepolarizingChannel, AmplitudeDamping,
// PhaseDamping, BitFlip).
std::vector<Kraus> kraus_operators(Opcode channel, double p) {
  const Cplx i(0, 1);
  switch (channel) {
    case Opcode::kDepolarizing: {
      const double a = std::sqrt(1 - p), b = std::sqrt(p / 3);
      return {Kraus{a, 0, 0, a}, Kraus{0, b, b, 0}, Kraus{0, -i * b, i * b, 0}, Kraus{b, 0, 0, -b}};
    }
    case Opcode::kAmplitudeDamping:
      return {Kraus{1, 0, 0, std::sqrt(1 - p)}, Kraus{0, std::sqrt(p), 0, 0}};
    case Opcode::kPhaseDamping:
      return {Kraus{1, 0, 0, std::sqrt(1 - p)}, Kraus{0, 0, 0, std::sqrt(p)}};
    default:
      return {Kraus{std::sqrt(1 - p), 0, 0, std::sqrt(1 - p)},
              Kraus{0, std::sqrt(p), std::sqrt(p), 0}};
  }
}

// vec(K rho K^dagger)[2i + j] = sum_kl K_ik conj(K_jl) rho_kl.
Super superoperator_from_kraus(const std::vector<Kraus>& operators) {
  Super s{};
  for (const Kraus& k : operators) {
    for (int i = 0; i < 2; ++i) {
      for (int j = 0; j < 2; ++j) {
        for (int a = 0; a < 2; ++a) {
          for (int b = 0; b < 2; ++b) {
            s[2 * i + j][2 * a + b] += k[2 * i + a] * std::conj(k[2 * j + b]);
          }
        }
      }
    }
  }
  return s;
}

std::vector<double> probabilities(uint64_t seed) {
  std::vector<double> ps = {0.0, 1e-3, 0.1, 0.25, 0.5, 0.75, 0.999, 1.0};
  Rng rng(seed);
  for (int i = 0; i < 12; ++i) ps.push_back(rng.unit());
  return ps;
}

TEST(NoiseChannels, SuperoperatorIsTheKrausSum) {
  for (Opcode channel : kChannels) {
    for (double p : probabilities(1)) {
      SCOPED_TRACE(name(channel) + " p=" + std::to_string(p));
      const auto kraus = kraus_operators(channel, p);
      // The Kraus set written here is complete: sum K^dagger K = I.
      for (int r = 0; r < 2; ++r) {
        for (int c = 0; c < 2; ++c) {
          Cplx sum = 0;
          for (const Kraus& k : kraus) {
            for (int m = 0; m < 2; ++m) sum += std::conj(k[2 * m + r]) * k[2 * m + c];
          }
          EXPECT_NEAR(std::abs(sum - Cplx(r == c ? 1.0 : 0.0)), 0.0, 1e-15);
        }
      }
      const Super expected = superoperator_from_kraus(kraus);
      const Superoperator<double> s = channel_superoperator<double>(channel, p);
      // In float, against the Kraus sum at p rounded to float (1 - p is ill-conditioned
      // near p = 1 whatever the code does).
      const auto p_float = static_cast<float>(p);
      const Super expected_float =
          superoperator_from_kraus(kraus_operators(channel, static_cast<double>(p_float)));
      const Superoperator<float> f = channel_superoperator<float>(channel, p_float);
      for (int r = 0; r < 4; ++r) {
        for (int c = 0; c < 4; ++c) {
          EXPECT_NEAR(expected[r][c].imag(), 0.0, 1e-16) << r << c;
          EXPECT_NEAR(s.m[r][c], expected[r][c].real(), 1e-15) << r << c;
          EXPECT_NEAR(f.m[r][c], expected_float[r][c].real(), 2e-7) << r << c;
        }
      }
    }
  }
}

TEST(NoiseChannels, PreserveTheTrace) {
  for (Opcode channel : kChannels) {
    for (double p : probabilities(2)) {
      SCOPED_TRACE(name(channel) + " p=" + std::to_string(p));
      const Superoperator<double> s = channel_superoperator<double>(channel, p);
      for (int c = 0; c < 4; ++c) {
        EXPECT_NEAR(s.m[0][c] + s.m[3][c], c == 0 || c == 3 ? 1.0 : 0.0, 1e-15) << c;
      }
      if (p >= 1) continue;  // the damping channels' derivative is infinite there
      const Superoperator<double> d = channel_superoperator_derivative<double>(channel, p);
      for (int c = 0; c < 4; ++c) EXPECT_NEAR(d.m[0][c] + d.m[3][c], 0.0, 1e-15) << c;
    }
  }
}

TEST(NoiseChannels, MapDensityMatricesToDensityMatrices) {
  Rng rng(3);
  for (Opcode channel : kChannels) {
    for (double p : probabilities(4)) {
      SCOPED_TRACE(name(channel) + " p=" + std::to_string(p));
      // rho = |v><v| / <v|v> mixed with the identity: Hermitian, trace 1, positive.
      const Cplx v0(rng.uniform(-1, 1), rng.uniform(-1, 1));
      const Cplx v1(rng.uniform(-1, 1), rng.uniform(-1, 1));
      const double norm = std::norm(v0) + std::norm(v1), mix = rng.unit();
      const Cplx rho[4] = {mix * std::norm(v0) / norm + (1 - mix) / 2,
                           mix * v0 * std::conj(v1) / norm, mix * v1 * std::conj(v0) / norm,
                           mix * std::norm(v1) / norm + (1 - mix) / 2};
      const Superoperator<double> s = channel_superoperator<double>(channel, p);
      Cplx out[4] = {};
      for (int r = 0; r < 4; ++r) {
        for (int c = 0; c < 4; ++c) out[r] += s.m[r][c] * rho[c];
      }
      EXPECT_NEAR(std::abs(out[0] + out[3] - 1.0), 0.0, 1e-15);
      EXPECT_NEAR(std::abs(out[2] - std::conj(out[1])), 0.0, 1e-15);
      EXPECT_NEAR(out[0].imag(), 0.0, 1e-15);
      EXPECT_NEAR(out[3].imag(), 0.0, 1e-15);
      EXPECT_GE(out[0].real(), -1e-15);
      EXPECT_GE(out[3].real(), -1e-15);
      EXPECT_GE(out[0].real() * out[3].real() - std::norm(out[1]), -1e-15);  // det >= 0
    }
  }
}

TEST(NoiseChannels, DerivativeMatchesCentralDifferences) {
  Rng rng(5);
  std::vector<double> ps = {0.02, 0.1, 0.5, 0.9};
  for (int i = 0; i < 12; ++i) ps.push_back(rng.uniform(0.02, 0.9));
  for (Opcode channel : kChannels) {
    for (double p : ps) {
      SCOPED_TRACE(name(channel) + " p=" + std::to_string(p));
      const double h = 1e-5;
      const auto plus = channel_superoperator<double>(channel, p + h);
      const auto minus = channel_superoperator<double>(channel, p - h);
      const auto d = channel_superoperator_derivative<double>(channel, p);
      const auto f = channel_superoperator_derivative<float>(channel, static_cast<float>(p));
      for (int r = 0; r < 4; ++r) {
        for (int c = 0; c < 4; ++c) {
          const double difference = (plus.m[r][c] - minus.m[r][c]) / (2 * h);
          EXPECT_NEAR(d.m[r][c], difference, 1e-8) << r << c;
          EXPECT_NEAR(f.m[r][c], d.m[r][c], 1e-6 * (1 + std::abs(d.m[r][c]))) << r << c;
        }
      }
    }
  }
}

TEST(NoiseChannels, DampingDerivativeIsInfiniteAtOne) {
  for (Opcode channel : {Opcode::kAmplitudeDamping, Opcode::kPhaseDamping}) {
    const auto d = channel_superoperator_derivative<double>(channel, 1.0);
    EXPECT_EQ(d.m[1][1], -std::numeric_limits<double>::infinity()) << name(channel);
    EXPECT_EQ(d.m[2][2], -std::numeric_limits<double>::infinity()) << name(channel);
  }
  // The others are linear in p: finite everywhere, the same at 0 and 1.
  for (Opcode channel : {Opcode::kDepolarizing, Opcode::kBitFlip}) {
    const auto at0 = channel_superoperator_derivative<double>(channel, 0.0);
    const auto at1 = channel_superoperator_derivative<double>(channel, 1.0);
    for (int r = 0; r < 4; ++r) {
      for (int c = 0; c < 4; ++c) EXPECT_EQ(at0.m[r][c], at1.m[r][c]) << name(channel);
    }
  }
}

TEST(NoiseChannels, TransposeIsTheTranspose) {
  Rng rng(6);
  for (int trial = 0; trial < 5; ++trial) {
    Superoperator<double> s{};
    for (auto& row : s.m) {
      for (double& entry : row) entry = rng.uniform(-1, 1);
    }
    const Superoperator<double> t = transpose(s);
    const Superoperator<double> back = transpose(t);
    for (int r = 0; r < 4; ++r) {
      for (int c = 0; c < 4; ++c) {
        EXPECT_EQ(t.m[r][c], s.m[c][r]);
        EXPECT_EQ(back.m[r][c], s.m[r][c]);
      }
    }
  }
  // And of a channel's superoperator (the adjoint sweep applies S^T).
  for (Opcode channel : kChannels) {
    const auto s = channel_superoperator<double>(channel, 0.3);
    const auto t = transpose(s);
    for (int r = 0; r < 4; ++r) {
      for (int c = 0; c < 4; ++c) EXPECT_EQ(t.m[r][c], s.m[c][r]) << name(channel);
    }
  }
}

}  // namespace
}  // namespace qmoe::core
