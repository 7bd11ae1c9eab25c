#include "seawall/loadgen/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "seawall/errors.h"

namespace {

using seawall::loadgen::LatencyHistogram;

// The nearest-rank quantile of sorted values: the ceil(q * n)-th smallest (the smallest at q=0).
uint64_t oracle(const std::vector<uint64_t>& sorted, double q) {
  const auto n = static_cast<double>(sorted.size());
  const auto rank = static_cast<std::size_t>(std::max(1.0, std::ceil(q * n)));
  return sorted[std::min(rank, sorted.size()) - 1];
}

std::vector<uint64_t> latencies(std::mt19937_64& rng, std::size_t n) {
  // Log-normal around 1 ms with a long tail, as request latencies in nanoseconds look.
  std::lognormal_distribution<double> dist(std::log(1e6), 1.5);
  std::vector<uint64_t> v(n);
  for (auto& x : v) x = static_cast<uint64_t>(dist(rng));
  return v;
}

void expect_close(uint64_t got, uint64_t want) {
  const double tolerance = static_cast<double>(want) * LatencyHistogram::relative_error() + 1.0;
  EXPECT_LE(std::fabs(static_cast<double>(got) - static_cast<double>(want)), tolerance)
      << "got " << got << ", exact " << want;
}

TEST(LatencyHistogram, QuantilesMatchTheSortedOracleWithinTheStatedError) {
  std::mt19937_64 rng(std::random_device{}());
  for (std::size_t n : {1u, 2u, 7u, 100u, 12345u}) {
    auto values = latencies(rng, n);
    LatencyHistogram h;
    for (auto v : values) h.record(v);
    std::sort(values.begin(), values.end());
    EXPECT_EQ(h.count(), n);
    EXPECT_EQ(h.min(), values.front());
    EXPECT_EQ(h.max(), values.back());
    for (double q : {0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0}) {
      expect_close(h.quantile(q), oracle(values, q));
    }
    std::uniform_real_distribution<double> uq(0.0, 1.0);
    for (int k = 0; k < 50; ++k) {
      const double q = uq(rng);
      expect_close(h.quantile(q), oracle(values, q));
    }
  }
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  LatencyHistogram h;
  std::vector<uint64_t> values;
  for (uint64_t v = 0; v < 128; ++v) {
    h.record(v);
    values.push_back(v);
  }
  for (double q : {0.0, 0.1, 0.5, 0.77, 1.0}) EXPECT_EQ(h.quantile(q), oracle(values, q));
}

TEST(LatencyHistogram, HugeValuesStayInRange) {
  LatencyHistogram h;
  h.record(UINT64_MAX);
  h.record(uint64_t{1} << 63);
  h.record(0);
  EXPECT_EQ(h.max(), UINT64_MAX);
  EXPECT_EQ(h.quantile(1.0), UINT64_MAX);
  EXPECT_EQ(h.quantile(0.0), 0u);
  expect_close(h.quantile(0.5), uint64_t{1} << 63);
}

TEST(LatencyHistogram, EveryValueLiesInItsBucket) {
  std::mt19937_64 rng(std::random_device{}());
  for (int k = 0; k < 100000; ++k) {
    const uint64_t v = rng() >> (rng() % 64);
    const auto b = LatencyHistogram::bucket_of(v);
    ASSERT_LT(b, LatencyHistogram().counts().size());
    EXPECT_GE(v, LatencyHistogram::bucket_lower(b));
    EXPECT_LE(v - LatencyHistogram::bucket_lower(b), LatencyHistogram::bucket_width(b) - 1);
  }
}

TEST(LatencyHistogram, MergeIsTheHistogramOfTheUnion) {
  std::mt19937_64 rng(std::random_device{}());
  const auto a = latencies(rng, 3000);
  const auto b = latencies(rng, 5000);
  LatencyHistogram ha, hb, all;
  for (auto v : a) ha.record(v), all.record(v);
  for (auto v : b) hb.record(v), all.record(v);
  ha.merge(hb);
  EXPECT_EQ(ha.counts(), all.counts());
  EXPECT_EQ(ha.count(), all.count());
  EXPECT_EQ(ha.min(), all.min());
  EXPECT_EQ(ha.max(), all.max());
  EXPECT_DOUBLE_EQ(ha.mean(), all.mean());
  for (double q : {0.5, 0.99}) EXPECT_EQ(ha.quantile(q), all.quantile(q));
  LatencyHistogram empty;
  ha.merge(empty);
  EXPECT_EQ(ha.count(), all.count());
}

TEST(LatencyHistogram, EmptyAndBadQuantiles) {
  LatencyHistogram h;
  EXPECT_EQ(h.quantile(0.5), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
  h.record(5);
  EXPECT_THROW(h.quantile(1.5), seawall::InvalidInput);
  EXPECT_THROW(h.quantile(-0.1), seawall::InvalidInput);
  EXPECT_THROW(h.quantile(std::nan("")), seawall::InvalidInput);
  h.clear();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.max(), 0u);
}

}  // namespace
