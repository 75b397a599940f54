// The two-qubit gates (CNOT, CZ, SWAP, IsingXX/YY/ZZ) as the simulator applies
// them, recovered through the simulator itself on a 2-qubit circuit.
//
// Readouts are diagonal, so they see a gate U only up to a phase per row. The
// state gradient recovers exactly what they see: with the 4 basis states e_k as
// initial states and the probs readout weighted by the one-hot e_j, the
// gradient of the initial state is 2 U^dagger |j><j| U e_k, column k of
// Q_j = w_j w_j^dagger where w_j = U^dagger e_j is row j of U, conjugated. From
// the Q_j we check that the rows of U are orthonormal (U unitary) and compare
// with the explicit matrix; repeating with H on both wires after the gate pins
// down the phases of the rows too (only a global phase is left unseen).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "test_support.h"

namespace qmoe::test_support {
namespace {

constexpr int kDim = 4;

// A 2-qubit program with one gate, its angle (if any) held in constants[0].
struct GateCase {
  int opcode;
  double angle;
};

std::string name_of(const GateCase& gate) {
  return std::string(core::opcode_name(static_cast<Opcode>(gate.opcode))) + "(" +
         std::to_string(gate.angle) + ")";
}

Problem gate_problem(const GateCase& gate, int wire0, int wire1, bool hadamards_after,
                     int64_t batch_size) {
  FlatProgram program(2);
  if (is_rotation_opcode(gate.opcode)) {
    program.add(static_cast<Opcode>(gate.opcode), wire0, wire1, ParamSource::kConstant, 0);
  } else {
    program.gate(static_cast<Opcode>(gate.opcode), wire0, wire1);
  }
  if (hadamards_after) program.gate(Opcode::kH, 0).gate(Opcode::kH, 1);
  Problem problem = problem_of(program, batch_size, /*probs=*/true);
  if (is_rotation_opcode(gate.opcode)) problem.constants = {gate.angle};
  problem.state_kind = StateKind::kComplex;
  problem.initial_state.assign(static_cast<size_t>(batch_size * kDim * 2), 0.0);
  return problem;
}

// The 4 projectors Q_j, through the adjoint state gradient.
std::vector<Matrix> projectors(Problem problem, const IsaKernels& kernels) {
  // Sample j * 4 + k starts in e_k and weights probability j.
  for (int j = 0; j < kDim; ++j) {
    for (int k = 0; k < kDim; ++k) {
      const int sample = j * kDim + k;
      problem.initial_state[(sample * kDim + k) * 2] = 1;
      problem.grad_out[sample * kDim + j] = 1;
    }
  }
  const auto grads = Harness<double>(problem, kernels).backward(DiffMethod::kAdjoint);
  std::vector<Matrix> q(kDim, Matrix(kDim * kDim));
  for (int j = 0; j < kDim; ++j) {
    for (int k = 0; k < kDim; ++k) {
      const int sample = j * kDim + k;
      for (int m = 0; m < kDim; ++m) {
        const double* g = grads.state.data() + (sample * kDim + m) * 2;
        q[j][m * kDim + k] = Cplx(g[0], g[1]) / 2.0;
      }
    }
  }
  return q;
}

// |U_jk|^2 through the forward pass: sample k starts in e_k.
std::vector<double> column_probabilities(Problem problem, const IsaKernels& kernels) {
  for (int k = 0; k < kDim; ++k) problem.initial_state[(k * kDim + k) * 2] = 1;
  const auto out = Harness<double>(problem, kernels).forward();
  std::vector<double> p(kDim * kDim);
  for (int k = 0; k < kDim; ++k)
    for (int j = 0; j < kDim; ++j) p[j * kDim + k] = out[k * kDim + j];
  return p;
}

std::vector<Matrix> expected_projectors(const Matrix& u) {
  std::vector<Matrix> q;
  for (int j = 0; j < kDim; ++j) {
    Matrix p(kDim * kDim);
    p[j * kDim + j] = 1;
    q.push_back(matmul(matmul(dagger(u, kDim), p, kDim), u, kDim));
  }
  return q;
}

::testing::AssertionResult MatricesNear(const Matrix& a, const Matrix& b, double tol) {
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(std::abs(a[i] - b[i]) <= tol)) {
      return ::testing::AssertionFailure() << "entry (" << i / kDim << ", " << i % kDim << ") is "
                                           << a[i] << ", expected " << b[i];
    }
  }
  return ::testing::AssertionSuccess();
}

// The explicit matrix of the gate in the simulator's basis (2 * bit(wire 0) + bit(wire 1)).
Matrix explicit_matrix(const GateCase& gate, int wire0, bool hadamards_after) {
  Matrix u = two_qubit_matrix(gate.opcode, gate.angle);
  if (wire0 == 1) {
    // wire0 is the less significant bit: the same matrix with the two bits swapped.
    const Matrix swap = two_qubit_matrix(8, 0);
    u = matmul(matmul(swap, u, kDim), swap, kDim);
  }
  if (hadamards_after) {
    const Matrix h = one_qubit_matrix(0, 0);
    u = matmul(kron(h, h), u, kDim);
  }
  return u;
}

std::vector<GateCase> gate_cases() {
  std::vector<GateCase> cases = {{6, 0}, {7, 0}, {8, 0}};
  for (int opcode : {12, 13, 14}) {
    for (double angle : {-2.5, 0.0, 0.4, kPi / 2, 3.0}) cases.push_back({opcode, angle});
  }
  return cases;
}

// Runs `check(problem_for_batch, explicit matrix, kernels)` for both wire orders,
// with and without the Hadamards after the gate, on every instruction set.
template <class Check>
void for_each_setting(Check check) {
  for (const GateCase& gate : gate_cases()) {
    for (const IsaKernels* kernels : core::supported_kernels()) {
      for (int wire0 = 0; wire0 < 2; ++wire0) {
        for (bool hadamards : {false, true}) {
          SCOPED_TRACE(name_of(gate) + " on wires (" + std::to_string(wire0) + ", " +
                       std::to_string(1 - wire0) + ")" + (hadamards ? " then H H" : "") + ", " +
                       describe(*kernels));
          auto problem = [&](int64_t batch) {
            return gate_problem(gate, wire0, 1 - wire0, hadamards, batch);
          };
          check(problem, explicit_matrix(gate, wire0, hadamards), *kernels);
        }
      }
    }
  }
}

TEST(TwoQubitGates, ExplicitMatricesAreUnitary) {
  // The test's own matrices, including cos(t/2) I - i sin(t/2) P(x)P for the Ising gates.
  for (const GateCase& gate : gate_cases()) {
    const Matrix u = two_qubit_matrix(gate.opcode, gate.angle);
    Matrix identity(kDim * kDim);
    for (int k = 0; k < kDim; ++k) identity[k * kDim + k] = 1;
    EXPECT_TRUE(MatricesNear(matmul(u, dagger(u, kDim), kDim), identity, 1e-15)) << name_of(gate);
  }
  // Spot checks of the Ising matrices: IsingXX(pi) = -i X(x)X, IsingZZ(t) diagonal.
  const Matrix xx = two_qubit_matrix(12, kPi);
  EXPECT_NEAR(std::abs(xx[0 * kDim + 3] - Cplx(0, -1)), 0, 1e-15);
  const Matrix zz = two_qubit_matrix(14, 0.8);
  EXPECT_NEAR(std::abs(zz[1 * kDim + 1] - std::exp(Cplx(0, 0.4))), 0, 1e-15);
  const Matrix yy = two_qubit_matrix(13, 0.8);  // Y(x)Y |00> = -|11>
  EXPECT_NEAR(std::abs(yy[3 * kDim + 0] - Cplx(0, std::sin(0.4))), 0, 1e-15);
}

TEST(TwoQubitGates, ColumnsAreUnitVectorsWithExplicitMagnitudes) {
  for_each_setting([](auto problem, const Matrix& u, const IsaKernels& kernels) {
    const auto p = column_probabilities(problem(kDim), kernels);
    for (int k = 0; k < kDim; ++k) {
      double norm = 0;
      for (int j = 0; j < kDim; ++j) {
        norm += p[j * kDim + k];
        EXPECT_NEAR(p[j * kDim + k], std::norm(u[j * kDim + k]), 1e-14) << "|U_" << j << k << "|^2";
      }
      EXPECT_NEAR(norm, 1.0, 1e-14) << "column " << k;
    }
  });
}

TEST(TwoQubitGates, RowsRecoveredThroughTheSimulatorAreOrthonormal) {
  for_each_setting([](auto problem, const Matrix&, const IsaKernels& kernels) {
    const auto q = projectors(problem(kDim * kDim), kernels);
    // w_j, up to a phase, from the column of Q_j = w_j w_j^dagger with the largest norm.
    std::vector<std::vector<Cplx>> w(kDim);
    for (int j = 0; j < kDim; ++j) {
      int best = 0;
      for (int k = 1; k < kDim; ++k) {
        if (q[j][k * kDim + k].real() > q[j][best * kDim + best].real()) best = k;
      }
      const double scale = std::sqrt(q[j][best * kDim + best].real());
      ASSERT_GT(scale, 0.4) << "row " << j;  // some |U_jk|^2 >= 1/4
      for (int m = 0; m < kDim; ++m) w[j].push_back(q[j][m * kDim + best] / scale);
      // Q_j is exactly the rank-one w_j w_j^dagger.
      for (int m = 0; m < kDim; ++m)
        for (int k = 0; k < kDim; ++k)
          EXPECT_NEAR(std::abs(q[j][m * kDim + k] - w[j][m] * std::conj(w[j][k])), 0, 1e-14);
    }
    for (int i = 0; i < kDim; ++i) {
      for (int j = 0; j < kDim; ++j) {
        Cplx dot = 0;
        for (int m = 0; m < kDim; ++m) dot += std::conj(w[i][m]) * w[j][m];
        EXPECT_NEAR(std::abs(dot - (i == j ? 1.0 : 0.0)), 0, 1e-14)
            << "<w_" << i << "|w_" << j << ">";
      }
    }
  });
}

TEST(TwoQubitGates, MatchExplicitMatrices) {
  // With and without H on both wires after the gate: together they fix U up to a global phase.
  for_each_setting([](auto problem, const Matrix& u, const IsaKernels& kernels) {
    const auto q = projectors(problem(kDim * kDim), kernels);
    const auto expected = expected_projectors(u);
    for (int j = 0; j < kDim; ++j) {
      EXPECT_TRUE(MatricesNear(q[j], expected[j], 1e-14)) << "Q_" << j;
    }
  });
}

TEST(TwoQubitGates, CnotControlIsWire0) {
  for (const IsaKernels* kernels : core::supported_kernels()) {
    SCOPED_TRACE(describe(*kernels));
    // X on wire 1, then CNOT(control 0, target 1): the control is |0>, nothing happens.
    FlatProgram a(2);
    a.gate(Opcode::kX, 1).gate(Opcode::kCnot, 0, 1);
    EXPECT_TRUE(AllClose(run_once(a, true, {}, *kernels), std::vector<double>{0, 1, 0, 0}, 0));
    // CNOT(control 1, target 0) flips wire 0: |11> = index 3.
    FlatProgram b(2);
    b.gate(Opcode::kX, 1).gate(Opcode::kCnot, 1, 0);
    EXPECT_TRUE(AllClose(run_once(b, true, {}, *kernels), std::vector<double>{0, 0, 0, 1}, 0));
  }
}

}  // namespace
}  // namespace qmoe::test_support
