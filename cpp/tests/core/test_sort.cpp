// sort_doubles against std::sort: same values in the same order (up to the sign of zeros, which
// compare equal), on random, adversarial and edge-case inputs around the radix threshold.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "seawall/core/sort.h"

namespace seawall {
namespace {

void expect_sorted_like_std(std::vector<double> input) {
  std::vector<double> expected = input;
  std::sort(expected.begin(), expected.end());
  sort_doubles(input);
  ASSERT_EQ(input.size(), expected.size());
  for (size_t i = 0; i < input.size(); ++i) {
    ASSERT_EQ(input[i], expected[i]) << "at " << i;  // -0.0 == 0.0 by design
    if (i > 0) ASSERT_LE(input[i - 1], input[i]);
  }
}

TEST(SortDoubles, MatchesStdSortOnRandomData) {
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::cauchy_distribution<double> cauchy(0.0, 1.0);
  for (size_t n : {0, 1, 2, 4095, 4096, 4097, 100000, 300001}) {
    std::vector<double> a(n), b(n), c(n);
    for (size_t i = 0; i < n; ++i) {
      a[i] = normal(rng);
      b[i] = cauchy(rng) * 1e300;
      c[i] = static_cast<double>(rng() % 7);  // heavy ties
    }
    expect_sorted_like_std(a);
    expect_sorted_like_std(b);
    expect_sorted_like_std(c);
  }
}

TEST(SortDoubles, EdgeValues) {
  const double inf = std::numeric_limits<double>::infinity();
  const double tiny = std::numeric_limits<double>::denorm_min();
  std::vector<double> v;
  for (int r = 0; r < 1000; ++r) {
    for (double x : {inf, -inf, 0.0, -0.0, tiny, -tiny, 1.0, -1.0, 1e308, -1e308,
                     std::numeric_limits<double>::min(), -std::numeric_limits<double>::max()}) {
      v.push_back(x);
    }
  }
  expect_sorted_like_std(v);
  std::vector<double> zeros(10000, 0.0);
  for (size_t i = 0; i < zeros.size(); i += 3) zeros[i] = -0.0;
  sort_doubles(zeros);
  for (size_t i = 1; i < zeros.size(); ++i) {
    EXPECT_FALSE(std::signbit(zeros[i]) && !std::signbit(zeros[i - 1])) << "-0 must precede +0";
  }
}

TEST(SortDoubles, SortedReversedAndConstantInputs) {
  std::vector<double> up(50000), down(50000), same(50000, 3.25);
  for (size_t i = 0; i < up.size(); ++i) {
    up[i] = static_cast<double>(i) - 25000.0;
    down[i] = -up[i];
  }
  expect_sorted_like_std(up);
  expect_sorted_like_std(down);
  expect_sorted_like_std(same);
}

TEST(SortFloats, MatchesStdSortIncludingEdgeValues) {
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const float inf = std::numeric_limits<float>::infinity();
  for (size_t n : {0, 1, 4095, 4096, 100000}) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) {
      v[i] = i % 97 == 0 ? inf * (i % 2 ? 1.0f : -1.0f)
             : i % 89 == 0 ? -0.0f
             : i % 3 == 0  ? static_cast<float>(rng() % 5)  // ties
                           : normal(rng) * 1e30f;
    }
    std::vector<float> expected = v;
    std::sort(expected.begin(), expected.end());
    sort_floats(v.data(), v.size());
    ASSERT_EQ(v, expected);  // -0.0f == 0.0f
  }
}

}  // namespace
}  // namespace seawall
