// The moves between row-major [batch, columns] tensors and lanes of lane_io.h,
// against plain loops, for float and double and 1, 4, 8 and 16 lanes, on full
// blocks, on partial last blocks and on blocks that start at any row. Pinned, as
// the header documents them: load_column gives 0 in lanes past `end`; store_rows
// and add_to_column write only the block's rows before `end` (every other value
// stays bit for bit); load_two_columns and store_two_columns (full blocks of a
// two-column tensor) split rows into columns and merge them back, touching
// nothing outside the block. The buffers end exactly at `end` rows where a kernel
// must not read past it, so a sanitizer build also catches stray reads.
// This file compiles lane_io.h for the baseline instruction set, where vectors wider
// than its registers are passed in memory; GCC notes that (-Wpsabi), though no such
// vector crosses a library boundary here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#include "qmoe/core/cpu/simd/lane_io.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "test_support.h"

namespace qmoe::core {
namespace {

using test_support::Rng;

template <class R, int L>
struct LaneConfig {
  using Real = R;
  static constexpr int kLanes = L;
};

template <class Config>
class LaneIo : public ::testing::Test {};

using Configs =
    ::testing::Types<LaneConfig<float, 1>, LaneConfig<float, 4>, LaneConfig<float, 8>,
                     LaneConfig<float, 16>, LaneConfig<double, 1>, LaneConfig<double, 4>,
                     LaneConfig<double, 8>, LaneConfig<double, 16>>;

class ConfigNames {
 public:
  template <class Config>
  static std::string GetName(int) {
    return std::string(sizeof(typename Config::Real) == 4 ? "float" : "double") + "x" +
           std::to_string(Config::kLanes);
  }
};
TYPED_TEST_SUITE(LaneIo, Configs, ConfigNames);

template <class Real>
std::vector<Real> random_values(Rng& rng, int64_t count) {
  std::vector<Real> values(static_cast<size_t>(count));
  for (Real& v : values) v = static_cast<Real>(rng.uniform(-10, 10));
  return values;
}

template <class Real>
bool same_bits(Real a, Real b) {
  return std::memcmp(&a, &b, sizeof(Real)) == 0;
}

// (first, end) pairs: blocks at aligned and unaligned rows, full and partial.
template <int Lanes>
std::vector<std::pair<int64_t, int64_t>> blocks(int64_t batch) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t first : {int64_t{0}, int64_t{1}, int64_t{Lanes}, int64_t{2 * Lanes + 3}}) {
    for (int64_t end = first + 1; end <= batch; ++end) {
      if (end - first <= Lanes || end == batch) out.emplace_back(first, end);
    }
  }
  return out;
}

TYPED_TEST(LaneIo, LoadColumnZeroesLanesPastEnd) {
  using Real = typename TypeParam::Real;
  constexpr int kLanes = TypeParam::kLanes;
  constexpr int64_t kWidth = 3;
  const int64_t batch = 3 * kLanes + 5;
  Rng rng(1);
  const std::vector<Real> all = random_values<Real>(rng, batch * kWidth);
  for (const auto& [first, end] : blocks<kLanes>(batch)) {
    // The tensor has exactly `end` rows: nothing past it may be read.
    const std::vector<Real> rows(all.begin(), all.begin() + end * kWidth);
    for (int64_t column = 0; column < kWidth; ++column) {
      Real lanes[kLanes];
      for (Real& lane : lanes) lane = Real(777);
      load_column<Real, kLanes>(rows.data(), kWidth, column, first, end, lanes);
      for (int lane = 0; lane < kLanes; ++lane) {
        const Real expected = first + lane < end
                                  ? rows[static_cast<size_t>((first + lane) * kWidth + column)]
                                  : Real(0);
        EXPECT_TRUE(same_bits(lanes[lane], expected))
            << "first " << first << " end " << end << " column " << column << " lane " << lane
            << ": " << lanes[lane] << " vs " << expected;
      }
    }
  }
}

TYPED_TEST(LaneIo, StoreRowsWritesOnlyTheBlocksRows) {
  using Real = typename TypeParam::Real;
  constexpr int kLanes = TypeParam::kLanes;
  const Real sentinel = Real(-4321);
  Rng rng(2);
  for (int64_t width : {1, 2, 5}) {
    const int64_t batch = 3 * kLanes + 5;
    for (const auto& [first, end] : blocks<kLanes>(batch)) {
      const std::vector<Real> lane_values = random_values<Real>(rng, width * kLanes);
      // Rows up to a block past `end` exist, to see that none past `end` is written.
      std::vector<Real> rows(static_cast<size_t>((end + kLanes) * width), sentinel);
      store_rows<Real, kLanes>(lane_values.data(), width, first, end, rows.data());
      for (int64_t row = 0; row < end + kLanes; ++row) {
        for (int64_t j = 0; j < width; ++j) {
          const bool written = row >= first && row < end && row < first + kLanes;
          const Real expected =
              written ? lane_values[static_cast<size_t>(j * kLanes + (row - first))] : sentinel;
          EXPECT_TRUE(same_bits(rows[static_cast<size_t>(row * width + j)], expected))
              << "width " << width << " first " << first << " end " << end << " row " << row
              << " column " << j;
        }
      }
    }
  }
}

TYPED_TEST(LaneIo, AddToColumnAddsOnlyToTheBlocksRows) {
  using Real = typename TypeParam::Real;
  constexpr int kLanes = TypeParam::kLanes;
  constexpr int64_t kWidth = 4;
  const int64_t batch = 3 * kLanes + 5;
  Rng rng(3);
  for (const auto& [first, end] : blocks<kLanes>(batch)) {
    for (int64_t column = 0; column < kWidth; ++column) {
      const std::vector<Real> before = random_values<Real>(rng, (end + kLanes) * kWidth);
      const std::vector<Real> lanes = random_values<Real>(rng, kLanes);
      std::vector<Real> rows = before;
      add_to_column<Real, kLanes>(lanes.data(), kWidth, column, first, end, rows.data());
      for (int64_t row = 0; row < end + kLanes; ++row) {
        for (int64_t j = 0; j < kWidth; ++j) {
          const size_t at = static_cast<size_t>(row * kWidth + j);
          const bool added = j == column && row >= first && row < end && row < first + kLanes;
          const Real expected =
              added ? Real(before[at] + lanes[static_cast<size_t>(row - first)]) : before[at];
          EXPECT_TRUE(same_bits(rows[at], expected))
              << "first " << first << " end " << end << " row " << row << " column " << j;
        }
      }
    }
  }
}

TYPED_TEST(LaneIo, LoadTwoColumnsSplitsRows) {
  using Real = typename TypeParam::Real;
  constexpr int kLanes = TypeParam::kLanes;
  const int64_t batch = 3 * kLanes + 1;
  Rng rng(4);
  const std::vector<Real> rows = random_values<Real>(rng, batch * 2);
  for (int64_t first = 0; first + kLanes <= batch; ++first) {
    // The tensor ends right after the block.
    const std::vector<Real> tensor(rows.begin(), rows.begin() + (first + kLanes) * 2);
    LaneVector<Real, kLanes> column0, column1;
    load_two_columns<Real, kLanes>(tensor.data(), first, column0, column1);
    for (int lane = 0; lane < kLanes; ++lane) {
      EXPECT_TRUE(same_bits(column0[lane], tensor[static_cast<size_t>((first + lane) * 2)]))
          << "first " << first << " lane " << lane;
      EXPECT_TRUE(same_bits(column1[lane], tensor[static_cast<size_t>((first + lane) * 2 + 1)]))
          << "first " << first << " lane " << lane;
    }
  }
}

// With one lane the block is the single row (column0[0], column1[0]): a regression
// test, store_two_columns<Real, 1> once wrote column0[0] into both (its high index
// was lane / 2 + Lanes / 2 + (lane % 2) * Lanes = 0, not 1). The kernels call it
// only with Lanes >= 2.
TYPED_TEST(LaneIo, StoreTwoColumnsMergesColumnsIntoRows) {
  using Real = typename TypeParam::Real;
  constexpr int kLanes = TypeParam::kLanes;
  const int64_t batch = 3 * kLanes + 1;
  const Real sentinel = Real(-4321);
  Rng rng(5);
  for (int64_t first = 0; first + kLanes <= batch; ++first) {
    LaneVector<Real, kLanes> column0, column1;
    for (int lane = 0; lane < kLanes; ++lane) {
      column0[lane] = static_cast<Real>(rng.uniform(-10, 10));
      column1[lane] = static_cast<Real>(rng.uniform(-10, 10));
    }
    std::vector<Real> rows(static_cast<size_t>(batch * 2), sentinel);
    store_two_columns<Real, kLanes>(column0, column1, first, rows.data());
    for (int64_t row = 0; row < batch; ++row) {
      const bool written = row >= first && row < first + kLanes;
      for (int c = 0; c < 2; ++c) {
        const Real expected = !written ? sentinel
                              : c == 0 ? column0[row - first]
                                       : column1[row - first];
        EXPECT_TRUE(same_bits(rows[static_cast<size_t>(row * 2 + c)], expected))
            << "first " << first << " row " << row << " column " << c << ": "
            << rows[static_cast<size_t>(row * 2 + c)] << " vs " << expected;
      }
    }
    // And back: load_two_columns is its inverse.
    LaneVector<Real, kLanes> back0, back1;
    load_two_columns<Real, kLanes>(rows.data(), first, back0, back1);
    for (int lane = 0; lane < kLanes; ++lane) {
      EXPECT_TRUE(same_bits(back0[lane], column0[lane])) << "lane " << lane;
      EXPECT_TRUE(same_bits(back1[lane], column1[lane])) << "lane " << lane;
    }
  }
}

}  // namespace
}  // namespace qmoe::core
