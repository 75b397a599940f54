// Parsing and validation of the flat program (program.h), the Pauli-Z masks and
// the names of the differentiation methods.
#include "qmoe/core/program/program.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "qmoe/core/cpu/statevector/statevector_engine.h"
#include "test_support.h"

namespace qmoe::core {
namespace {

ProgramLimits limits(int64_t inputs, int64_t weights, int64_t constants,
                     bool allow_channels = false) {
  ProgramLimits limits;
  limits.n_input_columns = inputs;
  limits.n_weights = weights;
  limits.n_constants = constants;
  limits.allow_channels = allow_channels;
  return limits;
}

// parse_program must throw std::invalid_argument whose message holds every fragment.
void ExpectRejected(const std::vector<int64_t>& words, int64_t n_qubits,
                    const ProgramLimits& limits, const std::vector<std::string>& fragments) {
  try {
    parse_program(words.data(), static_cast<int64_t>(words.size()), n_qubits, limits);
    ADD_FAILURE() << "accepted, expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    const std::string message = error.what();
    for (const std::string& fragment : fragments) {
      EXPECT_NE(message.find(fragment), std::string::npos)
          << "message \"" << message << "\" lacks \"" << fragment << "\"";
    }
  } catch (...) {
    ADD_FAILURE() << "threw something other than std::invalid_argument";
  }
}

// A valid prefix (two ops) so that the faulty operation is operation 2.
std::vector<int64_t> after_two_valid(const std::vector<int64_t>& bad) {
  std::vector<int64_t> words = {0, 0, -1, 0, -1,   // H(0)
                                6, 0, 1,  0, -1};  // CNOT(0, 1)
  words.insert(words.end(), bad.begin(), bad.end());
  return words;
}

const ProgramLimits kLimits = limits(2, 3, 1);

TEST(ParseProgram, ParsesEveryField) {
  const std::vector<int64_t> words = {0,  2, -1, 0, -1,   // H(2)
                                      9,  1, -1, 1, 1,    // RX(1) <- inputs[:, 1]
                                      13, 2, 0,  2, 2,    // IsingYY(2, 0) <- weights[2]
                                      11, 0, -1, 3, 0,    // RZ(0) <- constants[0]
                                      6,  1, 2,  0, -1};  // CNOT(1, 2)
  const Program program = parse_program(words.data(), 25, 3, kLimits);
  EXPECT_EQ(program.n_qubits, 3);
  ASSERT_EQ(program.operations.size(), 5u);
  const Operation& rx = program.operations[1];
  EXPECT_EQ(rx.opcode, Opcode::kRx);
  EXPECT_EQ(rx.wire0, 1);
  EXPECT_EQ(rx.wire1, -1);
  EXPECT_EQ(rx.source, ParamSource::kInput);
  EXPECT_EQ(rx.index, 1);
  const Operation& yy = program.operations[2];
  EXPECT_EQ(yy.opcode, Opcode::kIsingYY);
  EXPECT_EQ(yy.wire0, 2);
  EXPECT_EQ(yy.wire1, 0);
  EXPECT_EQ(yy.source, ParamSource::kWeight);
  EXPECT_EQ(yy.index, 2);
  EXPECT_EQ(program.operations[3].source, ParamSource::kConstant);
  EXPECT_EQ(program.operations[4].opcode, Opcode::kCnot);
  EXPECT_EQ(program.operations[4].source, ParamSource::kNone);
  EXPECT_EQ(program.operations[4].index, -1);
}

TEST(ParseProgram, AcceptsAnEmptyProgramAndTheQubitLimit) {
  const Program empty = parse_program(nullptr, 0, 1, kLimits);
  EXPECT_EQ(empty.n_qubits, 1);
  EXPECT_TRUE(empty.operations.empty());
  const std::vector<int64_t> words = {0, kMaxStatevectorQubits - 1, -1, 0, -1};
  const Program widest = parse_program(words.data(), 5, kMaxStatevectorQubits, kLimits);
  EXPECT_EQ(widest.n_qubits, kMaxStatevectorQubits);
}

TEST(ParseProgram, OpcodeHelpers) {
  EXPECT_STREQ(opcode_name(Opcode::kH), "H");
  EXPECT_STREQ(opcode_name(Opcode::kIsingZZ), "IsingZZ");
  EXPECT_STREQ(opcode_name(Opcode::kBitFlip), "BIT_FLIP");
  EXPECT_STREQ(opcode_name(static_cast<Opcode>(kOpcodeCount)), "unknown");
  for (int value = 0; value < kOpcodeCount; ++value) {
    const auto opcode = static_cast<Opcode>(value);
    const bool two_qubit = value == 6 || value == 7 || value == 8 || (value >= 12 && value <= 14);
    EXPECT_EQ(is_two_qubit(opcode), two_qubit) << value;
    EXPECT_EQ(takes_parameter(opcode), value >= 9) << value;
    EXPECT_EQ(is_channel(opcode), value >= 15) << value;
  }
}

TEST(ParseProgram, RejectsUnknownOpcode) {
  ExpectRejected(after_two_valid({19, 0, -1, 0, -1}), 2, kLimits,
                 {"operation 2", "unknown opcode 19", "0..18"});
  ExpectRejected(after_two_valid({-1, 0, -1, 0, -1}), 2, kLimits,
                 {"operation 2", "unknown opcode -1"});
}

TEST(ParseProgram, RejectsWire0OutOfRange) {
  ExpectRejected(after_two_valid({0, 2, -1, 0, -1}), 2, kLimits,
                 {"operation 2", "(H)", "wire0=2", "n_qubits=2"});
  ExpectRejected(after_two_valid({6, -1, 0, 0, -1}), 2, kLimits,
                 {"operation 2", "(CNOT)", "wire0=-1"});
}

TEST(ParseProgram, RejectsWire1OutOfRange) {
  ExpectRejected(after_two_valid({7, 0, 2, 0, -1}), 2, kLimits,
                 {"operation 2", "(CZ)", "wire1=2", "n_qubits=2"});
  // A two-qubit gate written like a one-qubit one.
  ExpectRejected(after_two_valid({8, 1, -1, 0, -1}), 2, kLimits,
                 {"operation 2", "(SWAP)", "wire1=-1"});
}

TEST(ParseProgram, RejectsTwoQubitGateOnOneWire) {
  ExpectRejected(after_two_valid({12, 1, 1, 2, 0}), 2, kLimits,
                 {"operation 2", "(IsingXX)", "wire0 and wire1", "1"});
  ExpectRejected(after_two_valid({6, 0, 0, 0, -1}), 2, kLimits, {"operation 2", "(CNOT)"});
}

TEST(ParseProgram, RejectsWire1ForOneQubitOps) {
  ExpectRejected(after_two_valid({9, 0, 1, 1, 0}), 2, kLimits,
                 {"operation 2", "(RX)", "wire1=1", "must be -1"});
  ExpectRejected(after_two_valid({1, 0, 0, 0, -1}), 2, kLimits, {"operation 2", "(X)", "wire1=0"});
}

TEST(ParseProgram, RejectsParamIndexOutOfRange) {
  ExpectRejected(after_two_valid({9, 0, -1, 1, 2}), 2, kLimits,
                 {"operation 2", "(RX)", "param_index=2", "inputs", "size 2"});
  ExpectRejected(after_two_valid({10, 0, -1, 2, 3}), 2, kLimits,
                 {"operation 2", "(RY)", "param_index=3", "weights", "size 3"});
  ExpectRejected(after_two_valid({14, 0, 1, 3, 1}), 2, kLimits,
                 {"operation 2", "(IsingZZ)", "param_index=1", "constants", "size 1"});
  ExpectRejected(after_two_valid({11, 0, -1, 2, -1}), 2, kLimits,
                 {"operation 2", "(RZ)", "param_index=-1", "weights"});
  // Nothing to reference at all.
  ExpectRejected({9, 0, -1, 2, 0}, 1, limits(0, 0, 0), {"operation 0", "weights", "size 0"});
}

TEST(ParseProgram, RejectsBadParamSource) {
  ExpectRejected(after_two_valid({9, 0, -1, 4, 0}), 2, kLimits,
                 {"operation 2", "(RX)", "param_source=4"});
  ExpectRejected(after_two_valid({0, 0, -1, -1, -1}), 2, kLimits,
                 {"operation 2", "(H)", "param_source=-1"});
}

TEST(ParseProgram, RejectsParameterOnFixedGate) {
  ExpectRejected(after_two_valid({5, 0, -1, 2, 0}), 2, kLimits,
                 {"operation 2", "(T)", "fixed gate", "param_source=0"});
  // Source none but an index: still a parameter.
  ExpectRejected(after_two_valid({6, 0, 1, 0, 0}), 2, kLimits,
                 {"operation 2", "(CNOT)", "param_index=-1"});
}

TEST(ParseProgram, RejectsRotationWithoutParameter) {
  ExpectRejected(after_two_valid({10, 1, -1, 0, -1}), 2, kLimits,
                 {"operation 2", "(RY)", "param_source=0", "needs a parameter"});
  ExpectRejected(after_two_valid({13, 0, 1, 0, -1}), 2, kLimits,
                 {"operation 2", "(IsingYY)", "param_source=0"});
}

TEST(ParseProgram, ChannelsNeedPermission) {
  for (int opcode = 15; opcode <= 18; ++opcode) {
    const std::vector<int64_t> words = after_two_valid({opcode, 0, -1, 3, 0});
    SCOPED_TRACE(opcode_name(static_cast<Opcode>(opcode)));
    ExpectRejected(
        words, 2, kLimits,
        {"operation 2", std::string("(") + opcode_name(static_cast<Opcode>(opcode)) + ")",
         "density-matrix"});
    const Program program =
        parse_program(words.data(), static_cast<int64_t>(words.size()), 2, limits(2, 3, 1, true));
    EXPECT_EQ(program.operations[2].opcode, static_cast<Opcode>(opcode));
  }
}

TEST(ParseProgram, RejectsQubitCountOutOfRange) {
  const std::vector<int64_t> words = {0, 0, -1, 0, -1};
  ExpectRejected(words, 0, kLimits, {"n_qubits=0", "1..24"});
  ExpectRejected(words, -3, kLimits, {"n_qubits=-3"});
  ExpectRejected(words, kMaxStatevectorQubits + 1, kLimits,
                 {"n_qubits=25", "1.." + std::to_string(kMaxStatevectorQubits)});
  ProgramLimits narrow = kLimits;
  narrow.max_qubits = 4;
  ExpectRejected(words, 5, narrow, {"n_qubits=5", "1..4"});
}

TEST(ParseProgram, RejectsLengthNotMultipleOfFive) {
  const std::vector<int64_t> words = {0, 0, -1, 0, -1, 1, 0, -1};
  ExpectRejected(words, 2, kLimits, {"length 8", "multiple of 5"});
  ExpectRejected({0, 0, -1, 0}, 2, kLimits, {"length 4"});
}

void ExpectMasksRejected(const std::vector<int64_t>& masks, int n_qubits,
                         const std::vector<std::string>& fragments) {
  try {
    validate_z_masks(masks.data(), static_cast<int64_t>(masks.size()), n_qubits);
    ADD_FAILURE() << "accepted, expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    const std::string message = error.what();
    for (const std::string& fragment : fragments) {
      EXPECT_NE(message.find(fragment), std::string::npos)
          << "message \"" << message << "\" lacks \"" << fragment << "\"";
    }
  }
}

TEST(ValidateZMasks, AcceptsMasksOverTheWires) {
  const std::vector<int64_t> masks = {0, 1, 5, 7};
  EXPECT_NO_THROW(validate_z_masks(masks.data(), 4, 3));
}

TEST(ValidateZMasks, RejectsMasksOutOfRange) {
  ExpectMasksRejected({1, 8}, 3, {"z_masks[1]=8", "0..2"});
  ExpectMasksRejected({-1}, 3, {"z_masks[0]=-1"});
}

TEST(ValidateZMasks, SimulatorRejectsBadMasks) {
  test_support::FlatProgram program(2);
  program.gate(Opcode::kH, 0);
  const Program parsed = program.parse();
  const std::vector<int64_t> masks = {4};
  EXPECT_THROW(StatevectorSimulator<double>(parsed, nullptr, 0, nullptr, masks.data(), 1, false),
               std::invalid_argument);
  // Ignored with the probs readout.
  EXPECT_NO_THROW(StatevectorSimulator<double>(parsed, nullptr, 0, nullptr, masks.data(), 1, true));
}

TEST(ParseDiffMethod, KnowsBothMethods) {
  EXPECT_EQ(parse_diff_method("adjoint"), DiffMethod::kAdjoint);
  EXPECT_EQ(parse_diff_method("parameter_shift"), DiffMethod::kParameterShift);
}

TEST(ParseDiffMethod, RejectsUnknownNames) {
  for (const char* name : {"", "Adjoint", "backprop", "parameter-shift", "adjoint "}) {
    try {
      parse_diff_method(name);
      ADD_FAILURE() << "accepted \"" << name << "\"";
    } catch (const std::invalid_argument& error) {
      const std::string message = error.what();
      EXPECT_NE(message.find(std::string("\"") + name + "\""), std::string::npos) << message;
      EXPECT_NE(message.find("adjoint"), std::string::npos) << message;
      EXPECT_NE(message.find("parameter_shift"), std::string::npos) << message;
    }
  }
}

}  // namespace
}  // namespace qmoe::core
