// Tests of seawall::sketch::KllSketch against exact oracles: std::sort plus numpy's "linear"
// quantile arithmetic for exact sketches, and true ranks (with ties) for compacted ones.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "seawall/errors.h"
#include "seawall/sketch/kll.h"

namespace seawall::sketch {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

uint64_t bits_of(double x) {
  uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

// numpy.quantile(data, q) (method="linear"), transcribed from numpy/lib/_function_base_impl.py
// (_get_indexes, _get_gamma, _lerp) independently of the sketch's own code: next index is
// floor + 1, not ceil, and the top index is -1 with gamma = h + 1. NaN wherever numpy gives NaN.
double numpy_quantile(const std::vector<double>& sorted, double q) {
  const size_t n = sorted.size();
  const double virtual_index = static_cast<double>(n - 1) * q;
  size_t prev;
  size_t next;
  double gamma;
  if (virtual_index >= static_cast<double>(n - 1)) {
    prev = next = n - 1;
    gamma = virtual_index - (-1.0);
  } else {
    const double f = std::floor(virtual_index);
    prev = static_cast<size_t>(f);
    next = prev + 1;
    gamma = virtual_index - f;
  }
  const double a = sorted[prev];
  const double b = sorted[next];
  const double diff_b_a = b - a;
  double lerp = a + diff_b_a * gamma;
  if (gamma >= 0.5) lerp = b - diff_b_a * (1 - gamma);
  return lerp;
}

// How far q lies outside the normalized rank interval [#(< v) / n, #(<= v) / n] of a returned
// value v; with ties every q in that interval is answered correctly by v.
double rank_error(const std::vector<double>& sorted, double v, double q) {
  const double n = static_cast<double>(sorted.size());
  const double lt =
      static_cast<double>(std::lower_bound(sorted.begin(), sorted.end(), v) - sorted.begin());
  const double le =
      static_cast<double>(std::upper_bound(sorted.begin(), sorted.end(), v) - sorted.begin());
  return std::max({0.0, lt / n - q, q - le / n});
}

std::vector<double> percent_grid() {
  std::vector<double> qs;
  for (int i = 1; i <= 99; ++i) qs.push_back(i / 100.0);
  return qs;
}

// Max over q in {0.01, ..., 0.99} of the rank error, the statistic rank_error_bound was
// calibrated on.
double max_rank_error(const KllSketch& sketch, const std::vector<double>& sorted) {
  const std::vector<double> qs = percent_grid();
  const std::vector<double> values = sketch.quantiles(qs.data(), qs.size());
  double worst = 0;
  for (size_t i = 0; i < qs.size(); ++i)
    worst = std::max(worst, rank_error(sorted, values[i], qs[i]));
  return worst;
}

double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1p-53; }

// Fisher-Yates with a fixed recipe: std::shuffle's algorithm differs between standard libraries,
// and the accuracy tests should see the same data everywhere.
template <typename T>
void shuffle(std::vector<T>& v, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng() % i]);
}

// --- Data sets: the sketch only compares values, so what matters is the order of arrival and the
// ties; value shapes (heavy tails, infinities) matter for interpolation.

enum class Shape { kDistinct, kFewDistinct, kHeavyTailed, kWithInfinities };
enum class Order { kRandom, kSorted, kReverse, kInterleaved, kShuffledBlocks, kZigzag };

std::vector<double> sorted_values(Shape shape, size_t n) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) {
    const double u = (static_cast<double>(i) + 0.5) / static_cast<double>(n);
    switch (shape) {
      case Shape::kDistinct:
        v[i] = static_cast<double>(i);
        break;
      case Shape::kFewDistinct:
        v[i] = std::floor(u * 20);
        break;
      case Shape::kHeavyTailed:  // Cauchy quantiles
        v[i] = std::tan(3.141592653589793 * (u - 0.5));
        break;
      case Shape::kWithInfinities:
        v[i] = u < 0.05 ? -kInf : (u > 0.95 ? kInf : u);
        break;
    }
  }
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<double> arrange(const std::vector<double>& sorted, Order order, uint64_t seed) {
  const size_t n = sorted.size();
  std::vector<double> out(sorted);
  std::mt19937_64 rng(seed);
  switch (order) {
    case Order::kRandom:
      shuffle(out, rng());
      break;
    case Order::kSorted:
      break;
    case Order::kReverse:
      std::reverse(out.begin(), out.end());
      break;
    case Order::kInterleaved: {  // smallest, largest, 2nd smallest, 2nd largest, ...
      size_t lo = 0;
      size_t hi = n;
      for (size_t i = 0; i < n; ++i) out[i] = (i % 2 == 1) ? sorted[--hi] : sorted[lo++];
      break;
    }
    case Order::kShuffledBlocks: {  // sorted runs of ~sqrt(n) values, runs in random order
      const size_t block = std::max<size_t>(1, static_cast<size_t>(std::sqrt(n)));
      std::vector<size_t> blocks((n + block - 1) / block);
      std::iota(blocks.begin(), blocks.end(), 0);
      shuffle(blocks, rng());
      size_t w = 0;
      for (size_t b : blocks) {
        for (size_t i = b * block; i < std::min(n, (b + 1) * block); ++i) out[w++] = sorted[i];
      }
      break;
    }
    case Order::kZigzag: {  // alternately ascending and descending strided runs
      const size_t stride = 100;
      size_t w = 0;
      for (size_t r = 0; r < stride; ++r) {
        const size_t begin = w;
        for (size_t i = r; i < n; i += stride) out[w++] = sorted[i];
        if (r % 2 == 1) std::reverse(out.begin() + begin, out.begin() + w);
      }
      break;
    }
  }
  return out;
}

KllSketch sketch_of(const std::vector<double>& data, uint32_t k = KllSketch::kDefaultK,
                    uint64_t seed = KllSketch::kDefaultSeed) {
  KllSketch s(k, seed);
  s.update(data.data(), data.size());
  return s;
}

// Sketches contiguous parts of the stream separately (as shards would be), then merges them either
// left to right or as a balanced tree.
KllSketch merged_sketch_of(const std::vector<double>& data, uint32_t k, size_t parts, uint64_t seed,
                           bool tree) {
  std::vector<KllSketch> sketches;
  for (size_t p = 0; p < parts; ++p) {
    const size_t begin = data.size() * p / parts;
    const size_t end = data.size() * (p + 1) / parts;
    sketches.emplace_back(k, seed * 1000 + p);
    sketches.back().update(data.data() + begin, end - begin);
  }
  if (tree) {
    for (size_t width = 1; width < parts; width *= 2) {
      for (size_t p = 0; p + width < parts; p += 2 * width) sketches[p].merge(sketches[p + width]);
    }
  } else {
    for (size_t p = 1; p < parts; ++p) sketches[0].merge(sketches[p]);
  }
  return sketches[0];
}

// The sketch's retained weights sum to count() exactly iff rank(max) is exactly 1 (for counts
// below 2^53, where the division is exact).
void expect_weights_sum_to_count(const KllSketch& s) {
  if (!s.empty()) {
    EXPECT_EQ(s.rank(s.max()), 1.0);
  }
}

// --- Construction and trivial states

TEST(KllSketch, RejectsKOutsideRange) {
  EXPECT_THROW(KllSketch(0), InvalidInput);
  EXPECT_THROW(KllSketch(7), InvalidInput);
  EXPECT_THROW(KllSketch(65536), InvalidInput);
  EXPECT_NO_THROW(KllSketch(8));
  EXPECT_NO_THROW(KllSketch(65535));
  EXPECT_EQ(KllSketch().k(), 200u);
  EXPECT_EQ(KllSketch(57).k(), 57u);
}

TEST(KllSketch, EmptySketch) {
  const KllSketch s;
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.count(), 0u);
  EXPECT_EQ(s.nan_count(), 0u);
  EXPECT_EQ(s.num_retained(), 0u);
  EXPECT_TRUE(s.is_exact());
  EXPECT_TRUE(std::isnan(s.min()));
  EXPECT_TRUE(std::isnan(s.max()));
  EXPECT_TRUE(std::isnan(s.quantile(0.0)));
  EXPECT_TRUE(std::isnan(s.quantile(0.5)));
  EXPECT_TRUE(std::isnan(s.quantile(1.0)));
  EXPECT_TRUE(std::isnan(s.rank(0.0)));
  const double qs[] = {0.0, 0.3, 1.0};
  const std::vector<double> out = s.quantiles(qs, 3);
  ASSERT_EQ(out.size(), 3u);
  for (double v : out) EXPECT_TRUE(std::isnan(v));
  EXPECT_TRUE(s.quantiles(nullptr, 0).empty());
}

TEST(KllSketch, SingleValue) {
  KllSketch s;
  s.update(-2.5);
  EXPECT_FALSE(s.empty());
  EXPECT_EQ(s.count(), 1u);
  EXPECT_EQ(s.min(), -2.5);
  EXPECT_EQ(s.max(), -2.5);
  for (double q : {0.0, 0.01, 0.5, 0.99, 1.0}) EXPECT_EQ(s.quantile(q), -2.5);
  EXPECT_EQ(s.rank(-2.5), 1.0);
  EXPECT_EQ(s.rank(-2.6), 0.0);
  EXPECT_EQ(s.rank(kInf), 1.0);
  EXPECT_TRUE(s.is_exact());
}

TEST(KllSketch, ExactUntilTheFirstCompaction) {
  KllSketch s(16);
  for (int i = 0; i < 16; ++i) s.update(static_cast<double>(i));
  EXPECT_TRUE(s.is_exact());
  EXPECT_EQ(s.num_retained(), 16u);
  s.update(16.0);
  EXPECT_FALSE(s.is_exact());
  EXPECT_EQ(s.count(), 17u);
  expect_weights_sum_to_count(s);
}

// --- Exact mode is numpy.quantile, bit for bit

TEST(KllSketch, ExactModeMatchesNumpyLiterals) {
  // Values printed by numpy 2.4 (float.hex of numpy.quantile(data, q)), so that the oracle below
  // is itself checked against numpy and not only against a transcription.
  struct Case {
    std::vector<double> data;
    double q;
    double expected;
  };
  const Case cases[] = {
      {{1, 2, 3, 4}, 0.1, 0x1.4cccccccccccdp+0},
      {{1, 2, 3, 4}, 0.5, 0x1.4000000000000p+1},
      {{1, 2, 3, 4}, 1.0 / 3.0, 0x1.0000000000000p+1},
      {{1, 2, 3, 4}, 0.9, 0x1.d99999999999ap+1},
      {{-1.5, 0.0, 2.25, 1e10, 7.0}, 0.3, 0x1.ccccccccccccbp-2},  // 0.4499999999999999
      {{-1.5, 0.0, 2.25, 1e10, 7.0}, 0.77, 0x1.7d784033851f1p+29},
      {{-1.5, 0.0, 2.25, 1e10, 7.0}, 0.999, 0x1.28d4c50003958p+33},
      {{0.1, 0.2, 0.3}, 0.45, 0x1.851eb851eb852p-3},
      {{0.1, 0.2, 0.3}, 0.7, 0x1.eb851eb851eb8p-3},
      {{0.1, 0.2, 0.3}, 0.55, 0x1.ae147ae147ae2p-3},
  };
  for (const Case& c : cases) {
    const KllSketch s = sketch_of(c.data);
    std::vector<double> sorted = c.data;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(bits_of(s.quantile(c.q)), bits_of(c.expected)) << "q=" << c.q;
    EXPECT_EQ(bits_of(numpy_quantile(sorted, c.q)), bits_of(c.expected)) << "q=" << c.q;
  }
}

TEST(KllSketch, ExactModeMatchesNumpyBitForBit) {
  std::mt19937_64 rng(12345);
  for (int trial = 0; trial < 300; ++trial) {
    const size_t n = 1 + rng() % KllSketch::kDefaultK;  // at most k values: nothing is compacted
    std::vector<double> data(n);
    for (double& x : data) {
      switch (trial % 4) {
        case 0:
          x = uniform01(rng) * 2 - 1;
          break;
        case 1:  // many ties
          x = static_cast<double>(static_cast<int>(rng() % 7) - 3);
          break;
        case 2:  // huge spread; b - a can overflow
          x = std::tan(3.14159 * (uniform01(rng) - 0.5)) * 1e290;
          break;
        case 3:
          x = std::ldexp(uniform01(rng), static_cast<int>(rng() % 200) - 100);
          break;
      }
    }
    const KllSketch s = sketch_of(data, KllSketch::kDefaultK, rng());
    ASSERT_TRUE(s.is_exact());
    std::vector<double> sorted = data;
    std::sort(sorted.begin(), sorted.end());
    std::vector<double> qs = {0.0, 1.0, 0.5, 0.25, 0.75, 0.1, 0.9, 1.0 / 3.0};
    for (int i = 0; i < 20; ++i) qs.push_back(uniform01(rng));
    for (size_t i = 0; i < n; ++i) qs.push_back(n == 1 ? 0.0 : static_cast<double>(i) / (n - 1));
    const std::vector<double> batch = s.quantiles(qs.data(), qs.size());
    for (size_t i = 0; i < qs.size(); ++i) {
      const double expected = numpy_quantile(sorted, qs[i]);
      if (std::isnan(expected)) continue;  // overflow of b - a; not what this test is about
      ASSERT_EQ(bits_of(batch[i]), bits_of(expected))
          << "trial " << trial << " n=" << n << " q=" << qs[i];
      // The single-query path re-sorts every call; a sample of it is enough.
      if (i < 12) {
        ASSERT_EQ(bits_of(s.quantile(qs[i])), bits_of(expected));
      }
    }
    EXPECT_EQ(s.min(), sorted.front());
    EXPECT_EQ(s.max(), sorted.back());
  }
}

TEST(KllSketch, RankIsTheCdfInExactMode) {
  const std::vector<double> data = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5};
  const KllSketch s = sketch_of(data);
  for (double x : {0.0, 1.0, 1.5, 3.0, 5.0, 8.99, 9.0, 100.0, -kInf, kInf}) {
    const double expected = static_cast<double>(std::count_if(data.begin(), data.end(),
                                                              [x](double v) { return v <= x; })) /
                            static_cast<double>(data.size());
    EXPECT_EQ(s.rank(x), expected) << "x=" << x;
  }
  EXPECT_THROW(s.rank(kNaN), InvalidInput);
}

// --- Special values

TEST(KllSketch, AllEqualValues) {
  KllSketch s(32);
  for (int i = 0; i < 20000; ++i) s.update(3.5);
  EXPECT_FALSE(s.is_exact());
  EXPECT_EQ(s.count(), 20000u);
  for (double q : {0.0, 0.001, 0.3, 0.5, 0.999, 1.0}) EXPECT_EQ(s.quantile(q), 3.5);
  EXPECT_EQ(s.rank(3.5), 1.0);
  EXPECT_EQ(s.rank(3.4999), 0.0);
  EXPECT_EQ(s.min(), 3.5);
  EXPECT_EQ(s.max(), 3.5);
}

TEST(KllSketch, InfinitiesAreOrdinaryValues) {
  // Exact mode: wherever numpy's arithmetic gives a number, the sketch gives the same bits; where
  // numpy gives NaN (inf - inf, inf * 0) the sketch gives the nearer neighbour, never NaN.
  const std::vector<double> data = {kInf, -kInf, 1.0, 2.0, kInf, -kInf, 0.5};
  const KllSketch s = sketch_of(data);
  std::vector<double> sorted = data;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(s.min(), -kInf);
  EXPECT_EQ(s.max(), kInf);
  EXPECT_EQ(s.quantile(0.0), -kInf);
  EXPECT_EQ(s.quantile(1.0), kInf);
  EXPECT_EQ(s.quantile(0.5), 1.0);
  for (int i = 0; i <= 1000; ++i) {
    const double q = i / 1000.0;
    const double got = s.quantile(q);
    ASSERT_FALSE(std::isnan(got)) << "q=" << q;
    const double expected = numpy_quantile(sorted, q);
    if (!std::isnan(expected)) {
      EXPECT_EQ(bits_of(got), bits_of(expected)) << "q=" << q;
    }
  }
  // Between a finite value and +inf the interpolation is +inf for any positive weight.
  EXPECT_EQ(s.quantile(0.9), kInf);  // h = 5.4, between 2.0 and the first +inf
  EXPECT_EQ(s.rank(kInf), 1.0);
  EXPECT_EQ(s.rank(-kInf), 2.0 / 7.0);

  // Compacted: 10% -inf, 10% +inf.
  KllSketch big(64, 99);
  std::mt19937_64 rng(5);
  for (int i = 0; i < 50000; ++i) {
    const double u = uniform01(rng);
    big.update(u < 0.1 ? -kInf : (u > 0.9 ? kInf : u));
  }
  EXPECT_FALSE(big.is_exact());
  EXPECT_EQ(big.quantile(0.0), -kInf);
  EXPECT_EQ(big.quantile(0.02), -kInf);
  EXPECT_EQ(big.quantile(0.98), kInf);
  EXPECT_EQ(big.quantile(1.0), kInf);
  EXPECT_TRUE(std::isfinite(big.quantile(0.5)));
  for (int i = 0; i <= 100; ++i) ASSERT_FALSE(std::isnan(big.quantile(i / 100.0)));
  expect_weights_sum_to_count(big);
}

TEST(KllSketch, NaNIsIgnoredAndCounted) {
  std::mt19937_64 rng(77);
  std::vector<double> clean;
  std::vector<double> dirty;
  for (int i = 0; i < 5000; ++i) {
    const double x = uniform01(rng);
    clean.push_back(x);
    dirty.push_back(x);
    if (i % 3 == 0) dirty.push_back(kNaN);
    if (i % 7 == 0) dirty.push_back(-kNaN);
  }
  const size_t nans = dirty.size() - clean.size();
  const KllSketch a = sketch_of(clean, 50, 1);
  KllSketch b(50, 1);
  for (double x : dirty) b.update(x);
  const KllSketch c = sketch_of(dirty, 50, 1);
  EXPECT_EQ(b.count(), clean.size());
  EXPECT_EQ(b.nan_count(), nans);
  EXPECT_EQ(c.nan_count(), nans);
  EXPECT_EQ(a.nan_count(), 0u);
  // NaNs change nothing but the counter: same retained values, same coins.
  const std::vector<double> qs = percent_grid();
  EXPECT_EQ(a.quantiles(qs.data(), qs.size()), b.quantiles(qs.data(), qs.size()));
  EXPECT_EQ(b.serialize(), c.serialize());

  KllSketch only_nans;
  const std::vector<double> all_nan(10, kNaN);
  only_nans.update(all_nan.data(), all_nan.size());
  const float float_nan[] = {std::numeric_limits<float>::quiet_NaN()};
  only_nans.update(float_nan, 1);
  EXPECT_TRUE(only_nans.empty());
  EXPECT_EQ(only_nans.nan_count(), 11u);
  EXPECT_TRUE(std::isnan(only_nans.quantile(0.5)));
}

// --- Update paths and determinism

TEST(KllSketch, BatchAndSingleUpdatesBuildIdenticalSketches) {
  std::mt19937_64 rng(2024);
  std::vector<float> floats(30000);
  for (float& f : floats) f = static_cast<float>(uniform01(rng) * 100 - 50);
  floats[17] = std::numeric_limits<float>::quiet_NaN();
  floats[20000] = std::numeric_limits<float>::infinity();
  std::vector<double> doubles(floats.begin(), floats.end());

  KllSketch single(40, 9);
  for (double x : doubles) single.update(x);
  KllSketch batch(40, 9);
  batch.update(doubles.data(), doubles.size());
  KllSketch chunked(40, 9);
  for (size_t i = 0; i < doubles.size();) {
    const size_t len = std::min<size_t>(rng() % 50, doubles.size() - i);
    chunked.update(doubles.data() + i, len);
    i += len;
  }
  KllSketch from_floats(40, 9);
  from_floats.update(floats.data(), floats.size());

  const std::vector<uint8_t> expected = single.serialize();
  EXPECT_EQ(batch.serialize(), expected);
  EXPECT_EQ(chunked.serialize(), expected);
  EXPECT_EQ(from_floats.serialize(), expected);
  EXPECT_EQ(single.nan_count(), 1u);
  EXPECT_EQ(single.max(), kInf);

  EXPECT_NO_THROW(batch.update(static_cast<const double*>(nullptr), 0));
  EXPECT_THROW(batch.update(static_cast<const double*>(nullptr), 3), InvalidInput);
  EXPECT_THROW(batch.update(static_cast<const float*>(nullptr), 3), InvalidInput);
}

TEST(KllSketch, SameSeedGivesTheSameSketch) {
  std::mt19937_64 rng(1);
  std::vector<double> data(20000);
  for (double& x : data) x = uniform01(rng);
  EXPECT_EQ(sketch_of(data, 100, 42).serialize(), sketch_of(data, 100, 42).serialize());
  // Different coins give a different (equally valid) sketch.
  EXPECT_NE(sketch_of(data, 100, 42).serialize(), sketch_of(data, 100, 43).serialize());
}

// --- Accuracy against rank_error_bound

struct AccuracyCase {
  uint32_t k;
  size_t n;
};

TEST(KllSketch, AccuracyWithinBoundForAdversarialOrders) {
  const Shape shapes[] = {Shape::kDistinct, Shape::kFewDistinct, Shape::kHeavyTailed,
                          Shape::kWithInfinities};
  const Order orders[] = {Order::kRandom,      Order::kSorted,         Order::kReverse,
                          Order::kInterleaved, Order::kShuffledBlocks, Order::kZigzag};
  for (const AccuracyCase c : {AccuracyCase{200, 20000}, AccuracyCase{32, 10000}}) {
    const double bound = KllSketch::rank_error_bound(c.k);
    double worst = 0;
    for (Shape shape : shapes) {
      const std::vector<double> sorted = sorted_values(shape, c.n);
      for (Order order : orders) {
        for (uint64_t seed = 1001; seed <= 1004; ++seed) {  // seeds unused in the calibration
          const std::vector<double> data = arrange(sorted, order, seed);
          const KllSketch s = sketch_of(data, c.k, seed);
          ASSERT_EQ(s.count(), c.n);
          expect_weights_sum_to_count(s);
          const double err = max_rank_error(s, sorted);
          worst = std::max(worst, err);
          EXPECT_LE(err, bound) << "k=" << c.k << " shape=" << static_cast<int>(shape)
                                << " order=" << static_cast<int>(order) << " seed=" << seed;
        }
      }
    }
    // A sanity check on the test itself: errors are measured, not identically zero.
    EXPECT_GT(worst, 0.0) << "k=" << c.k;
    RecordProperty("worst_error_k" + std::to_string(c.k), std::to_string(worst));
  }
}

TEST(KllSketch, MergedSketchesWithinBound) {
  const Order orders[] = {Order::kRandom, Order::kSorted, Order::kReverse, Order::kInterleaved};
  for (const AccuracyCase c : {AccuracyCase{200, 20000}, AccuracyCase{32, 10000}}) {
    const double bound = KllSketch::rank_error_bound(c.k);
    const std::vector<double> sorted = sorted_values(Shape::kDistinct, c.n);
    for (Order order : orders) {
      for (size_t parts : {2, 7, 64}) {
        for (bool tree : {false, true}) {
          const uint64_t seed = 2000 + parts;
          const std::vector<double> data = arrange(sorted, order, seed);
          const KllSketch s = merged_sketch_of(data, c.k, parts, seed, tree);
          ASSERT_EQ(s.count(), c.n);
          EXPECT_EQ(s.min(), sorted.front());
          EXPECT_EQ(s.max(), sorted.back());
          expect_weights_sum_to_count(s);
          EXPECT_LE(max_rank_error(s, sorted), bound)
              << "k=" << c.k << " order=" << static_cast<int>(order) << " parts=" << parts
              << " tree=" << tree;
        }
      }
    }
  }
}

TEST(KllSketch, MemoryStaysLogarithmic) {
  const uint32_t k = 64;
  KllSketch s(k, 3);
  std::mt19937_64 rng(3);
  size_t most = 0;
  for (int i = 1; i <= 200000; ++i) {
    s.update(uniform01(rng));
    most = std::max(most, s.num_retained());
  }
  // The capacities sum to less than 3k (a 2/3 geometric series) plus at most 8 per level for
  // rounding and the minimum capacity; 200000 / 64 needs about 12 levels.
  EXPECT_LE(most, 3 * k + 8 * 14);
  EXPECT_GT(s.num_retained(), k / 2);
}

// --- Merging

TEST(KllSketch, MergeSumsCountsAndExtremes) {
  KllSketch a(100, 1);
  KllSketch b(100, 2);
  for (int i = 0; i < 3000; ++i) a.update(static_cast<double>(i));
  for (int i = 0; i < 5000; ++i) b.update(-static_cast<double>(i) * 0.5);
  b.update(kNaN);
  a.merge(b);
  EXPECT_EQ(a.count(), 8000u);
  EXPECT_EQ(a.nan_count(), 1u);
  EXPECT_EQ(a.min(), -2499.5);
  EXPECT_EQ(a.max(), 2999.0);
  expect_weights_sum_to_count(a);
  EXPECT_EQ(b.count(), 5000u);  // the argument is untouched
}

TEST(KllSketch, MergeWithEmpty) {
  const std::vector<double> data = {5, 1, 4, 2, 3};
  KllSketch s = sketch_of(data);
  const std::vector<uint8_t> before = s.serialize();
  s.merge(KllSketch());
  EXPECT_EQ(s.serialize(), before);

  KllSketch empty;
  empty.merge(s);
  EXPECT_EQ(empty.count(), 5u);
  EXPECT_TRUE(empty.is_exact());
  EXPECT_EQ(empty.quantile(0.5), 3.0);
  EXPECT_EQ(empty.min(), 1.0);
  EXPECT_EQ(empty.max(), 5.0);

  KllSketch both_empty;
  both_empty.merge(KllSketch());
  EXPECT_TRUE(both_empty.empty());
  EXPECT_TRUE(std::isnan(both_empty.min()));
}

TEST(KllSketch, MergeOfDifferentKThrowsAndChangesNothing) {
  KllSketch a(200);
  a.update(1.0);
  KllSketch b(100);
  b.update(2.0);
  const std::vector<uint8_t> before = a.serialize();
  EXPECT_THROW(a.merge(b), InvalidInput);
  EXPECT_EQ(a.serialize(), before);
}

TEST(KllSketch, MergeOfExactSketchesStaysExact) {
  std::mt19937_64 rng(8);
  std::vector<double> x(90);
  std::vector<double> y(110);
  for (double& v : x) v = uniform01(rng);
  for (double& v : y) v = uniform01(rng) * 3;
  KllSketch s = sketch_of(x, 200, 1);
  s.merge(sketch_of(y, 200, 2));
  ASSERT_TRUE(s.is_exact());  // 200 values fit in one level of capacity k = 200
  std::vector<double> all = x;
  all.insert(all.end(), y.begin(), y.end());
  std::sort(all.begin(), all.end());
  for (int i = 0; i <= 100; ++i) {
    EXPECT_EQ(bits_of(s.quantile(i / 100.0)), bits_of(numpy_quantile(all, i / 100.0)));
  }
  s.merge(sketch_of({0.25}, 200, 3));  // one more value overflows the level
  EXPECT_FALSE(s.is_exact());
  expect_weights_sum_to_count(s);
}

TEST(KllSketch, MergeIntoItselfDoublesEverything) {
  std::vector<double> data(3000);
  std::iota(data.begin(), data.end(), 0.0);
  KllSketch s = sketch_of(data, 50, 4);
  s.update(kNaN);
  s.merge(s);
  EXPECT_EQ(s.count(), 6000u);
  EXPECT_EQ(s.nan_count(), 2u);
  expect_weights_sum_to_count(s);
  std::vector<double> doubled = data;
  doubled.insert(doubled.end(), data.begin(), data.end());
  std::sort(doubled.begin(), doubled.end());
  EXPECT_LE(max_rank_error(s, doubled), KllSketch::rank_error_bound(50));
}

TEST(KllSketch, MergeOrderDoesNotMatterForCountsOrAccuracy) {
  std::vector<double> data(30000);
  std::iota(data.begin(), data.end(), 0.0);
  std::vector<double> sorted = data;
  shuffle(data, 6);
  const KllSketch left = merged_sketch_of(data, 100, 10, 6, false);
  const KllSketch tree = merged_sketch_of(data, 100, 10, 6, true);
  EXPECT_EQ(left.count(), tree.count());
  EXPECT_EQ(left.min(), tree.min());
  EXPECT_EQ(left.max(), tree.max());
  EXPECT_LE(max_rank_error(left, sorted), KllSketch::rank_error_bound(100));
  EXPECT_LE(max_rank_error(tree, sorted), KllSketch::rank_error_bound(100));
}

// --- Argument checks

TEST(KllSketch, RejectsQOutsideUnitInterval) {
  KllSketch s;
  for (int i = 0; i < 10; ++i) s.update(i);
  const KllSketch empty;
  for (const KllSketch* t : {static_cast<const KllSketch*>(&s),
                             &empty}) {  // checked even when there is nothing to answer
    EXPECT_THROW(t->quantile(-0.01), InvalidInput);
    EXPECT_THROW(t->quantile(1.0000001), InvalidInput);
    EXPECT_THROW(t->quantile(kNaN), InvalidInput);
    EXPECT_THROW(t->quantile(kInf), InvalidInput);
    const double qs[] = {0.5, 2.0};
    EXPECT_THROW(t->quantiles(qs, 2), InvalidInput);
    EXPECT_THROW(t->quantiles(nullptr, 1), InvalidInput);
  }
  EXPECT_NO_THROW(s.quantile(0.0));
  EXPECT_NO_THROW(s.quantile(1.0));
}

TEST(KllSketch, QuantilesBatchEqualsSingleQueries) {
  std::vector<double> data(50000);
  std::mt19937_64 rng(10);
  for (double& x : data) x = std::tan(3.14 * (uniform01(rng) - 0.5));
  const KllSketch s = sketch_of(data, 200, 10);
  std::vector<double> qs = percent_grid();
  qs.push_back(0.0);
  qs.push_back(1.0);
  const std::vector<double> batch = s.quantiles(qs.data(), qs.size());
  ASSERT_EQ(batch.size(), qs.size());
  for (size_t i = 0; i < qs.size(); ++i) EXPECT_EQ(bits_of(batch[i]), bits_of(s.quantile(qs[i])));
  EXPECT_TRUE(std::is_sorted(batch.begin(), batch.end() - 2));
  // The extremes are exact even after compaction.
  EXPECT_EQ(s.quantile(0.0), *std::min_element(data.begin(), data.end()));
  EXPECT_EQ(s.quantile(1.0), *std::max_element(data.begin(), data.end()));
}

TEST(KllSketch, RankAfterCompaction) {
  std::vector<double> data(40000);
  std::iota(data.begin(), data.end(), 0.0);
  std::vector<double> sorted = data;
  shuffle(data, 11);
  const KllSketch s = sketch_of(data, 200, 11);
  EXPECT_EQ(s.rank(-1.0), 0.0);
  EXPECT_EQ(s.rank(39999.0), 1.0);
  double previous = 0;
  for (int i = 0; i <= 100; ++i) {
    const double x = 400.0 * i - 0.5;
    const double r = s.rank(x);
    EXPECT_GE(r, previous);  // a CDF is monotone
    previous = r;
    const double truth = std::max(0.0, std::ceil(x)) / 40000.0;
    EXPECT_LE(std::abs(r - truth), KllSketch::rank_error_bound(200)) << "x=" << x;
  }
}

TEST(KllSketch, AscendingQuantileGridEqualsSingleQueries) {
  // Sorted grids take a one-pass walk of the view; it must give exactly the single answers,
  // with heavy ties, repeated q and neighbouring ranks (lo of one query below hi of the last).
  std::mt19937_64 rng(13);
  for (const size_t n : {size_t{7}, size_t{150}, size_t{20000}}) {
    std::vector<double> data(n);
    for (double& x : data) x = std::floor(8 * uniform01(rng));
    const KllSketch s = sketch_of(data, 64, 13);
    std::vector<double> qs;
    for (int i = 0; i <= 4000; ++i) qs.push_back(i / 4000.0);
    qs.insert(qs.begin() + 2000, qs[2000]);  // a repeated q
    const std::vector<double> batch = s.quantiles(qs.data(), qs.size());
    for (size_t i = 0; i < qs.size(); ++i) {
      ASSERT_EQ(bits_of(batch[i]), bits_of(s.quantile(qs[i]))) << "n=" << n << " q=" << qs[i];
    }
  }
}

TEST(KllSketch, RanksBatchEqualsSingleQueries) {
  std::vector<double> data(30000);
  std::mt19937_64 rng(12);
  // Few distinct values, so that many queries land exactly on retained values (ties).
  for (double& x : data) x = std::floor(20 * uniform01(rng));
  for (int exact = 0; exact < 2; ++exact) {
    const KllSketch s = sketch_of(exact ? std::vector<double>(data.begin(), data.begin() + 50) : data,
                                  200, 12);
    std::vector<double> xs = {-kInf, kInf, -1.0, 25.0};
    for (int i = 0; i <= 400; ++i) xs.push_back(-0.5 + 0.05 * i);
    const std::vector<double> batch = s.ranks(xs.data(), xs.size());
    ASSERT_EQ(batch.size(), xs.size());
    for (size_t i = 0; i < xs.size(); ++i) EXPECT_EQ(bits_of(batch[i]), bits_of(s.rank(xs[i])));
  }
  const KllSketch empty;
  const double x = 1.0;
  EXPECT_TRUE(std::isnan(empty.ranks(&x, 1)[0]));
  const double nan = std::nan("");
  EXPECT_THROW(empty.ranks(&nan, 1), InvalidInput);
  EXPECT_THROW(empty.ranks(nullptr, 1), InvalidInput);
}

TEST(KllSketch, RankErrorBound) {
  EXPECT_THROW(KllSketch::rank_error_bound(7), InvalidInput);
  EXPECT_THROW(KllSketch::rank_error_bound(65536), InvalidInput);
  EXPECT_GT(KllSketch::rank_error_bound(8), KllSketch::rank_error_bound(200));
  EXPECT_GT(KllSketch::rank_error_bound(200), 0.0);
  EXPECT_LT(KllSketch::rank_error_bound(200), 0.05);
  EXPECT_DOUBLE_EQ(KllSketch::rank_error_bound(100), 2 * KllSketch::rank_error_bound(200));
}

// --- Serialization

// Independent FNV-1a-64, so the tests can forge well-hashed but structurally bad bytes.
uint64_t fnv1a64(const uint8_t* p, size_t n) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001B3ull;
  return h;
}

void put_le(std::vector<uint8_t>& bytes, size_t offset, uint64_t value, int width) {
  for (int i = 0; i < width; ++i) bytes[offset + i] = static_cast<uint8_t>(value >> (8 * i));
}

uint64_t get_le(const std::vector<uint8_t>& bytes, size_t offset, int width) {
  uint64_t v = 0;
  for (int i = 0; i < width; ++i) v |= static_cast<uint64_t>(bytes[offset + i]) << (8 * i);
  return v;
}

void rehash(std::vector<uint8_t>& bytes) {
  put_le(bytes, bytes.size() - 8, fnv1a64(bytes.data(), bytes.size() - 8), 8);
}

void expect_same_answers(const KllSketch& a, const KllSketch& b) {
  EXPECT_EQ(a.k(), b.k());
  EXPECT_EQ(a.count(), b.count());
  EXPECT_EQ(a.nan_count(), b.nan_count());
  EXPECT_EQ(a.num_retained(), b.num_retained());
  EXPECT_EQ(a.is_exact(), b.is_exact());
  EXPECT_EQ(bits_of(a.min()), bits_of(b.min()));
  EXPECT_EQ(bits_of(a.max()), bits_of(b.max()));
  for (int i = 0; i <= 200; ++i) {
    EXPECT_EQ(bits_of(a.quantile(i / 200.0)), bits_of(b.quantile(i / 200.0)));
  }
  if (!a.empty()) {
    for (double x : {a.min(), a.quantile(0.3), a.quantile(0.7), a.max()}) {
      EXPECT_EQ(a.rank(x), b.rank(x));
    }
  }
}

// A compacted sketch with several levels, NaNs seen and infinities retained.
KllSketch sample_sketch() {
  KllSketch s(16, 5);
  std::mt19937_64 rng(5);
  for (int i = 0; i < 3000; ++i) s.update(uniform01(rng) * 10 - 5);
  s.update(kInf);
  s.update(-kInf);
  s.update(kNaN);
  return s;
}

TEST(KllSketch, SerializeRoundTrip) {
  std::vector<KllSketch> sketches;
  sketches.emplace_back();                   // empty
  sketches.push_back(sketch_of({1, 2, 3}));  // exact
  sketches.push_back(sample_sketch());       // compacted
  KllSketch merged = sample_sketch();
  merged.merge(sketch_of(std::vector<double>(500, 0.5), 16, 8));
  sketches.push_back(merged);
  KllSketch nan_only;
  nan_only.update(kNaN);
  sketches.push_back(nan_only);

  for (const KllSketch& s : sketches) {
    const std::vector<uint8_t> bytes = s.serialize();
    KllSketch restored = KllSketch::deserialize(bytes.data(), bytes.size());
    expect_same_answers(s, restored);
    EXPECT_EQ(restored.serialize(), bytes);
    // The generator state travels too: both continue identically.
    KllSketch original = s;
    std::mt19937_64 rng(1);
    for (int i = 0; i < 2000; ++i) {
      const double x = uniform01(rng);
      original.update(x);
      restored.update(x);
    }
    EXPECT_EQ(restored.serialize(), original.serialize());
  }
}

TEST(KllSketch, SerializedLayoutIsAsDocumented) {
  const KllSketch s = sample_sketch();
  const std::vector<uint8_t> bytes = s.serialize();
  ASSERT_GE(bytes.size(), 64u);
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 4), "SWKL");
  EXPECT_EQ(get_le(bytes, 4, 2), 1u);  // version
  EXPECT_EQ(get_le(bytes, 6, 2), 0u);
  EXPECT_EQ(get_le(bytes, 8, 4), 16u);  // k
  const size_t levels = get_le(bytes, 12, 4);
  EXPECT_GT(levels, 1u);
  EXPECT_EQ(get_le(bytes, 16, 8), s.count());
  EXPECT_EQ(get_le(bytes, 24, 8), 1u);  // nan_count
  EXPECT_EQ(get_le(bytes, 32, 8), bits_of(-kInf));
  EXPECT_EQ(get_le(bytes, 40, 8), bits_of(kInf));
  uint64_t retained = 0;
  uint64_t weight = 0;
  for (size_t h = 0; h < levels; ++h) {
    const uint64_t size = get_le(bytes, 56 + 4 * h, 4);
    retained += size;
    weight += size << h;
  }
  EXPECT_EQ(retained, s.num_retained());
  EXPECT_EQ(weight, s.count());
  EXPECT_EQ(bytes.size(), 56 + 4 * levels + 8 * retained + 8);
  EXPECT_EQ(get_le(bytes, bytes.size() - 8, 8), fnv1a64(bytes.data(), bytes.size() - 8));
}

TEST(KllSketch, DeserializeRejectsEveryTruncationAndTrailingBytes) {
  for (const KllSketch& s : {sample_sketch(), KllSketch()}) {
    std::vector<uint8_t> bytes = s.serialize();
    for (size_t len = 0; len < bytes.size(); ++len) {
      // A copy of exactly len bytes, so that AddressSanitizer sees any read past the end.
      const std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + len);
      EXPECT_THROW(KllSketch::deserialize(prefix.data(), prefix.size()), CorruptState)
          << "len=" << len;
    }
    bytes.push_back(0);
    EXPECT_THROW(KllSketch::deserialize(bytes.data(), bytes.size()), CorruptState);
  }
  EXPECT_THROW(KllSketch::deserialize(nullptr, 0), CorruptState);
  EXPECT_THROW(KllSketch::deserialize(nullptr, 10), InvalidInput);
}

TEST(KllSketch, DeserializeRejectsEveryByteFlip) {
  const std::vector<uint8_t> good = sample_sketch().serialize();
  std::mt19937_64 rng(13);
  for (size_t pos = 0; pos < good.size(); ++pos) {
    for (int trial = 0; trial < 3; ++trial) {
      std::vector<uint8_t> bad = good;
      bad[pos] ^= trial == 0 ? 0x01 : (trial == 1 ? 0x80 : static_cast<uint8_t>(1 + rng() % 255));
      EXPECT_THROW(KllSketch::deserialize(bad.data(), bad.size()), CorruptState) << "pos=" << pos;
    }
  }
}

TEST(KllSketch, DeserializeRejectsRandomGarbage) {
  std::mt19937_64 rng(14);
  const std::vector<uint8_t> good = sample_sketch().serialize();
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<uint8_t> junk(rng() % 300);
    for (uint8_t& b : junk) b = static_cast<uint8_t>(rng());
    if (trial % 2 == 1) {  // a valid-looking header followed by junk
      std::copy(good.begin(), good.begin() + std::min<size_t>(56, junk.size()), junk.begin());
    }
    EXPECT_THROW(KllSketch::deserialize(junk.data(), junk.size()), CorruptState);
  }
}

// Bytes that pass the hash but break an invariant must still be refused: the hash catches damage,
// not forgery.
TEST(KllSketch, DeserializeValidatesStructureBehindAValidHash) {
  const KllSketch s = sample_sketch();
  const std::vector<uint8_t> good = s.serialize();
  const size_t levels = get_le(good, 12, 4);
  const size_t values_at = 56 + 4 * levels;
  // Offset of the first value of a sorted level (h >= 1) holding at least two values.
  size_t sorted_at = values_at + 8 * get_le(good, 56, 4);
  size_t h = 1;
  for (; h < levels && get_le(good, 56 + 4 * h, 4) < 2; ++h)
    sorted_at += 8 * get_le(good, 56 + 4 * h, 4);
  ASSERT_LT(h, levels);

  auto expect_corrupt = [&](const char* what, auto&& edit) {
    std::vector<uint8_t> bad = good;
    edit(bad);
    rehash(bad);
    EXPECT_THROW(KllSketch::deserialize(bad.data(), bad.size()), CorruptState) << what;
  };
  {
    std::vector<uint8_t> same = good;
    rehash(same);
    EXPECT_NO_THROW(KllSketch::deserialize(same.data(), same.size()));  // the forger works
  }
  expect_corrupt("magic", [](auto& b) { b[0] = 'X'; });
  expect_corrupt("version", [](auto& b) { put_le(b, 4, 2, 2); });
  expect_corrupt("reserved", [](auto& b) { put_le(b, 6, 1, 2); });
  expect_corrupt("k too small", [](auto& b) { put_le(b, 8, 7, 4); });
  expect_corrupt("k too large", [](auto& b) { put_le(b, 8, 65536, 4); });
  expect_corrupt("no levels", [](auto& b) { put_le(b, 12, 0, 4); });
  expect_corrupt("too many levels", [](auto& b) { put_le(b, 12, 65, 4); });
  expect_corrupt("count", [&](auto& b) { put_le(b, 16, s.count() + 1, 8); });
  expect_corrupt("NaN min", [](auto& b) { put_le(b, 32, bits_of(kNaN), 8); });
  expect_corrupt("min above max", [](auto& b) {
    put_le(b, 32, bits_of(10.0), 8);
    put_le(b, 40, bits_of(9.0), 8);
  });
  expect_corrupt("value above max", [](auto& b) { put_le(b, 40, bits_of(4.0), 8); });
  expect_corrupt("level size", [](auto& b) { put_le(b, 56, get_le(b, 56, 4) + 1, 4); });
  expect_corrupt("huge level size", [](auto& b) { put_le(b, 56, 0xFFFFFFFFu, 4); });
  expect_corrupt("NaN value", [&](auto& b) { put_le(b, values_at, bits_of(kNaN), 8); });
  // Within [min, max] = [-inf, inf], but larger than the next value of the level.
  expect_corrupt("unsorted level", [&](auto& b) { put_le(b, sorted_at, bits_of(1e300), 8); });

  // An exact sketch must retain its own extremes.
  const std::vector<uint8_t> exact = sketch_of({1, 2, 3}).serialize();
  std::vector<uint8_t> bad = exact;
  put_le(bad, 32, bits_of(0.5), 8);  // min 0.5 although no such value is retained
  rehash(bad);
  EXPECT_THROW(KllSketch::deserialize(bad.data(), bad.size()), CorruptState);
  // More values than k allows: 150 values in one level, relabelled as k = 100.
  std::vector<uint8_t> crowded = sketch_of(std::vector<double>(150, 1.0)).serialize();
  put_le(crowded, 8, 100, 4);
  rehash(crowded);
  EXPECT_THROW(KllSketch::deserialize(crowded.data(), crowded.size()), CorruptState);
  // An empty sketch has NaN extremes and one empty level.
  std::vector<uint8_t> empty = KllSketch().serialize();
  put_le(empty, 32, bits_of(0.0), 8);
  rehash(empty);
  EXPECT_THROW(KllSketch::deserialize(empty.data(), empty.size()), CorruptState);
}

}  // namespace
}  // namespace seawall::sketch
