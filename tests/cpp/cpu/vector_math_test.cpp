// fast_sincos of vector_math.h: the vectorisable sin/cos behind per-sample
// rotation angles, against long double std::sin/std::cos over its whole range.
#include "qmoe/core/cpu/simd/vector_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "test_support.h"

namespace qmoe::core {
namespace {

using test_support::kPi;
using test_support::Rng;

// Arguments spread over the fast range: uniform over all of it, near zero, and
// just either side of multiples of pi/4 (where the quadrant changes).
template <class Real>
std::vector<Real> arguments(uint64_t seed) {
  const double limit = static_cast<double>(TrigConstants<Real>::kFastTrigLimit);
  Rng rng(seed);
  std::vector<Real> xs = {Real(0), -Real(0), Real(1e-30), static_cast<Real>(limit),
                          static_cast<Real>(-limit)};
  for (int i = 0; i < 40000; ++i) {
    xs.push_back(static_cast<Real>(rng.uniform(-limit, limit)));
    xs.push_back(static_cast<Real>(rng.uniform(-8, 8)));
    const double k = std::round(rng.uniform(-limit, limit) / (kPi / 4));
    const Real at = static_cast<Real>(k * (kPi / 4));
    xs.push_back(at);
    xs.push_back(std::nextafter(at, std::numeric_limits<Real>::infinity()));
    xs.push_back(std::nextafter(at, -std::numeric_limits<Real>::infinity()));
  }
  return xs;
}

template <class Real>
void CheckAccuracy(uint64_t seed) {
  // About 1 ulp is promised; allow 1 epsilon of absolute error (values lie in [-1, 1]).
  const long double tolerance = std::numeric_limits<Real>::epsilon();
  long double worst = 0;
  Real worst_x = 0;
  int failures = 0;
  for (Real x : arguments<Real>(seed)) {
    Real s, c;
    fast_sincos(x, s, c);
    const long double error = std::max(std::fabs(s - std::sin(static_cast<long double>(x))),
                                       std::fabs(c - std::cos(static_cast<long double>(x))));
    if (!(error <= tolerance)) ++failures;
    if (!(error <= worst)) {
      worst = error;
      worst_x = x;
    }
  }
  EXPECT_EQ(failures, 0) << "worst error " << static_cast<double>(worst / tolerance)
                         << " epsilon at x = " << static_cast<double>(worst_x);
}

TEST(FastSinCos, DoubleIsAccurateOverTheFastRange) { CheckAccuracy<double>(1); }

TEST(FastSinCos, FloatIsAccurateOverTheFastRange) { CheckAccuracy<float>(2); }

template <class Real>
void CheckQuadrants() {
  // Exact multiples of pi/2 (as Real rounds them): sin and cos pick the right sign.
  for (int k = -9; k <= 9; ++k) {
    const Real x = static_cast<Real>(k * (kPi / 2));
    Real s, c;
    fast_sincos(x, s, c);
    const double tol = 4 * std::numeric_limits<Real>::epsilon() * std::max(1, std::abs(k));
    EXPECT_NEAR(s, std::sin(static_cast<long double>(x)), tol) << "k=" << k;
    EXPECT_NEAR(c, std::cos(static_cast<long double>(x)), tol) << "k=" << k;
    const int quadrant = ((k % 4) + 4) % 4;
    const double expected_sin[] = {0, 1, 0, -1}, expected_cos[] = {1, 0, -1, 0};
    EXPECT_NEAR(s, expected_sin[quadrant], 1e-5) << "k=" << k;
    EXPECT_NEAR(c, expected_cos[quadrant], 1e-5) << "k=" << k;
  }
}

TEST(FastSinCos, QuadrantsDouble) { CheckQuadrants<double>(); }
TEST(FastSinCos, QuadrantsFloat) { CheckQuadrants<float>(); }

TEST(FastSinCos, OddAndEvenAndOnTheCircle) {
  Rng rng(3);
  for (int i = 0; i < 1000; ++i) {
    const double x = rng.uniform(-1e5, 1e5);
    double s, c, sm, cm;
    fast_sincos(x, s, c);
    fast_sincos(-x, sm, cm);
    EXPECT_EQ(sm, -s) << x;
    EXPECT_EQ(cm, c) << x;
    EXPECT_NEAR(s * s + c * c, 1.0, 4e-16) << x;
  }
}

// Bits of the significand of a finite x (its length without trailing zeros).
template <class Real>
int significant_bits(Real x) {
  int exponent;
  long double mantissa = std::frexp(static_cast<long double>(x), &exponent);
  int bits = 0;
  while (mantissa != std::floor(mantissa)) {
    mantissa *= 2;
    ++bits;
  }
  return bits;
}

template <class Real>
void CheckReductionConstants() {
  using K = TrigConstants<Real>;
  // The parts sum to pi/2 well beyond the precision of Real.
  const long double half_pi = 1.57079632679489661923132169163975144L;
  const long double sum =
      static_cast<long double>(K::kPiOver2Part1) + K::kPiOver2Part2 + K::kPiOver2Part3;
  EXPECT_LT(std::fabs(sum - half_pi), 1e-14L);
  // j * part1 and j * part2 are exact for every quadrant index j of the fast range.
  const double max_j = std::ceil(static_cast<double>(K::kFastTrigLimit) * 2 / kPi);
  int j_bits = 0;
  while (std::ldexp(1.0, j_bits) <= max_j) ++j_bits;
  EXPECT_LE(significant_bits(K::kPiOver2Part1) + j_bits, std::numeric_limits<Real>::digits);
  EXPECT_LE(significant_bits(K::kPiOver2Part2) + j_bits, std::numeric_limits<Real>::digits);
  // The rounding shift rounds to integers over the whole range.
  EXPECT_EQ(K::kRoundingShift, 1.5 * std::ldexp(1.0, std::numeric_limits<Real>::digits - 1));
  EXPECT_NEAR(K::kTwoOverPi, 2 / kPi, 2 * std::numeric_limits<Real>::epsilon());
}

TEST(FastSinCos, ReductionConstantsDouble) { CheckReductionConstants<double>(); }
TEST(FastSinCos, ReductionConstantsFloat) { CheckReductionConstants<float>(); }

}  // namespace
}  // namespace qmoe::core
