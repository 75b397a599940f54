// The 2x2 gate math of gate_math.h: definitions, unitarity, products.
#include "qmoe/core/math/gate_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <vector>

#include "test_support.h"

namespace qmoe::core {
namespace {

using test_support::Cplx;
using test_support::kPi;

const std::vector<double> kAngles = {-7.0, -kPi, -1.0, 0.0, 0.3, kPi / 2, 2.0, kPi, 5.5};
const std::vector<Pauli> kPaulis = {Pauli::kX, Pauli::kY, Pauli::kZ};

template <class Real>
std::vector<Cplx> entries(const Matrix2<Real>& m) {
  auto c = [](Complex<Real> z) { return Cplx(z.re, z.im); };
  return {c(m.m00), c(m.m01), c(m.m10), c(m.m11)};
}

template <class Real>
::testing::AssertionResult MatrixNear(const Matrix2<Real>& actual,
                                      const std::vector<Cplx>& expected, double tol) {
  const auto a = entries(actual);
  for (int i = 0; i < 4; ++i) {
    if (!(std::abs(a[i] - expected[i]) <= tol)) {
      return ::testing::AssertionFailure()
             << "entry " << i << " is " << a[i] << ", expected " << expected[i];
    }
  }
  return ::testing::AssertionSuccess();
}

template <class Real>
::testing::AssertionResult IsUnitary(const Matrix2<Real>& u, double tol) {
  const std::vector<Cplx> identity = {1, 0, 0, 1};
  auto left = MatrixNear(multiply(u, adjoint(u)), identity, tol);
  if (!left) return left << " (U U^dagger)";
  auto right = MatrixNear(multiply(adjoint(u), u), identity, tol);
  if (!right) return right << " (U^dagger U)";
  return ::testing::AssertionSuccess();
}

TEST(GateMath, FixedGatesMatchTheirDefinitions) {
  const double r = 1 / std::sqrt(2.0);
  const Cplx i(0, 1);
  EXPECT_TRUE(MatrixNear(fixed_gate_matrix<double>(Opcode::kH), {r, r, r, -r}, 1e-15)) << "H";
  EXPECT_TRUE(MatrixNear(fixed_gate_matrix<double>(Opcode::kX), {0, 1, 1, 0}, 0)) << "X";
  EXPECT_TRUE(MatrixNear(fixed_gate_matrix<double>(Opcode::kY), {0, -i, i, 0}, 0)) << "Y";
  EXPECT_TRUE(MatrixNear(fixed_gate_matrix<double>(Opcode::kZ), {1, 0, 0, -1}, 0)) << "Z";
  EXPECT_TRUE(MatrixNear(fixed_gate_matrix<double>(Opcode::kS), {1, 0, 0, i}, 0)) << "S";
  EXPECT_TRUE(
      MatrixNear(fixed_gate_matrix<double>(Opcode::kT), {1, 0, 0, std::exp(i * kPi / 4.0)}, 1e-15))
      << "T";
}

TEST(GateMath, FixedGatesAreUnitary) {
  for (Opcode opcode : {Opcode::kH, Opcode::kX, Opcode::kY, Opcode::kZ, Opcode::kS, Opcode::kT}) {
    EXPECT_TRUE(IsUnitary(fixed_gate_matrix<double>(opcode), 1e-14)) << opcode_name(opcode);
    EXPECT_TRUE(IsUnitary(fixed_gate_matrix<float>(opcode), 1e-6)) << opcode_name(opcode);
  }
}

TEST(GateMath, FixedGateIdentities) {
  const auto h = fixed_gate_matrix<double>(Opcode::kH), s = fixed_gate_matrix<double>(Opcode::kS),
             t = fixed_gate_matrix<double>(Opcode::kT);
  // T^2 = S, S^2 = Z, H Z H = X, H^2 = I.
  EXPECT_TRUE(MatrixNear(multiply(t, t), entries(s), 1e-15));
  EXPECT_TRUE(MatrixNear(multiply(s, s), entries(fixed_gate_matrix<double>(Opcode::kZ)), 1e-15));
  EXPECT_TRUE(MatrixNear(multiply(multiply(h, fixed_gate_matrix<double>(Opcode::kZ)), h),
                         entries(fixed_gate_matrix<double>(Opcode::kX)), 1e-15));
  EXPECT_TRUE(MatrixNear(multiply(h, h), {1, 0, 0, 1}, 1e-15));
}

TEST(GateMath, PauliMatricesAreHermitianInvolutions) {
  for (Pauli p : kPaulis) {
    const auto m = pauli_matrix<double>(p);
    EXPECT_TRUE(MatrixNear(adjoint(m), entries(m), 0)) << static_cast<int>(p);
    EXPECT_TRUE(MatrixNear(multiply(m, m), {1, 0, 0, 1}, 0)) << static_cast<int>(p);
  }
  // XY = iZ fixes the sign convention of Y.
  const auto xy = multiply(pauli_matrix<double>(Pauli::kX), pauli_matrix<double>(Pauli::kY));
  EXPECT_TRUE(MatrixNear(xy, {Cplx(0, 1), 0, 0, Cplx(0, -1)}, 0));
}

TEST(GateMath, RotationsMatchPennyLaneDefinitions) {
  const Cplx i(0, 1);
  for (double t : kAngles) {
    const double c = std::cos(t / 2), s = std::sin(t / 2);
    EXPECT_TRUE(MatrixNear(rotation_matrix<double>(Pauli::kX, c, s), {c, -i * s, -i * s, c}, 1e-16))
        << "RX " << t;
    EXPECT_TRUE(MatrixNear(rotation_matrix<double>(Pauli::kY, c, s), {c, -s, s, c}, 1e-16))
        << "RY " << t;
    EXPECT_TRUE(MatrixNear(rotation_matrix<double>(Pauli::kZ, c, s),
                           {std::exp(-i * (t / 2)), 0, 0, std::exp(i * (t / 2))}, 1e-15))
        << "RZ " << t;
  }
}

TEST(GateMath, RotationsAreUnitary) {
  for (Pauli p : kPaulis) {
    for (double t : kAngles) {
      const auto u = rotation_matrix<double>(p, std::cos(t / 2), std::sin(t / 2));
      EXPECT_TRUE(IsUnitary(u, 1e-14)) << "axis " << static_cast<int>(p) << " angle " << t;
      const auto uf = rotation_matrix<float>(p, std::cos(static_cast<float>(t) / 2),
                                             std::sin(static_cast<float>(t) / 2));
      EXPECT_TRUE(IsUnitary(uf, 1e-6)) << "float axis " << static_cast<int>(p) << " angle " << t;
    }
  }
}

TEST(GateMath, RotationAnglesAdd) {
  for (Pauli p : kPaulis) {
    const double a = 0.7, b = -2.1;
    const auto product = multiply(rotation_matrix<double>(p, std::cos(a / 2), std::sin(a / 2)),
                                  rotation_matrix<double>(p, std::cos(b / 2), std::sin(b / 2)));
    const auto sum = rotation_matrix<double>(p, std::cos((a + b) / 2), std::sin((a + b) / 2));
    EXPECT_TRUE(MatrixNear(product, entries(sum), 1e-15)) << static_cast<int>(p);
    // R(-t) is the inverse of R(t).
    const auto inverse = rotation_matrix<double>(p, std::cos(-a / 2), std::sin(-a / 2));
    EXPECT_TRUE(MatrixNear(
        inverse, entries(adjoint(rotation_matrix<double>(p, std::cos(a / 2), std::sin(a / 2)))),
        0));
  }
}

TEST(GateMath, MultiplyIsRowTimesColumn) {
  const Matrix2<double> a{{1, 2}, {3, -1}, {0, 0.5}, {-2, 1}};
  const Matrix2<double> b{{0, 1}, {2, 0}, {1, 1}, {-1, 3}};
  const std::vector<Cplx> ea = entries(a), eb = entries(b);
  std::vector<Cplx> expected(4);
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 2; ++c) expected[r * 2 + c] = ea[r * 2] * eb[c] + ea[r * 2 + 1] * eb[2 + c];
  EXPECT_TRUE(MatrixNear(multiply(a, b), expected, 1e-15));
  EXPECT_TRUE(MatrixNear(
      adjoint(a), {std::conj(ea[0]), std::conj(ea[2]), std::conj(ea[1]), std::conj(ea[3])}, 0));
}

TEST(GateMath, ApplyMatrix2IsMatrixTimesVector) {
  const Matrix2<double> m{{0.3, -0.2}, {1.1, 0.4}, {-0.7, 0.9}, {0.25, -1.5}};
  const auto e = entries(m);
  const Cplx x0(0.6, -0.1), x1(-0.35, 0.8);
  double a0r = x0.real(), a0i = x0.imag(), a1r = x1.real(), a1i = x1.imag();
  apply_matrix2(m, a0r, a0i, a1r, a1i);
  const Cplx y0 = e[0] * x0 + e[1] * x1, y1 = e[2] * x0 + e[3] * x1;
  EXPECT_NEAR(a0r, y0.real(), 1e-15);
  EXPECT_NEAR(a0i, y0.imag(), 1e-15);
  EXPECT_NEAR(a1r, y1.real(), 1e-15);
  EXPECT_NEAR(a1i, y1.imag(), 1e-15);
}

TEST(GateMath, ImagGeneratorProductIsImOfLambdaGPsi) {
  // A Hermitian generator, as the fusion transports them: V Y V^dagger.
  const auto v = multiply(fixed_gate_matrix<double>(Opcode::kH),
                          rotation_matrix<double>(Pauli::kX, std::cos(0.4), std::sin(0.4)));
  const auto g = multiply(multiply(v, pauli_matrix<double>(Pauli::kY)), adjoint(v));
  const auto e = entries(g);
  const Cplx l0(0.2, -0.7), l1(1.3, 0.1), p0(-0.4, 0.5), p1(0.9, 0.3);
  const Cplx expected =
      std::conj(l0) * (e[0] * p0 + e[1] * p1) + std::conj(l1) * (e[2] * p0 + e[3] * p1);
  EXPECT_NEAR(imag_generator_product(g, l0.real(), l0.imag(), l1.real(), l1.imag(), p0.real(),
                                     p0.imag(), p1.real(), p1.imag()),
              expected.imag(), 1e-15);
  ASSERT_GT(std::abs(expected.imag()), 0.1);  // the check above is not trivially zero
}

}  // namespace
}  // namespace qmoe::core
