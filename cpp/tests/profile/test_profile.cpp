// Profiles against independent oracles: exact counts from std::set / std::map, moments from a
// long-double two-pass, and a fuzzer that must only ever see CorruptState from bad bytes.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "seawall/core/hash.h"
#include "seawall/errors.h"
#include "seawall/profile/column_profile.h"

namespace seawall::profile {
namespace {

uint64_t fresh_seed() { return std::random_device{}(); }

TEST(HyperLogLog, HashDoubleIsXxh64OfTheBytes) {
  for (double x : {1.0, -2.5, 1e300, std::numeric_limits<double>::infinity(), 0.0}) {
    EXPECT_EQ(hash_double(x), xxh64(&x, sizeof x));
  }
  EXPECT_EQ(hash_double(-0.0), hash_double(0.0));  // -0 == +0 must not count twice
}

// The estimator's error at known cardinalities, across the small-range / large-range switch
// points of the classic estimator (2.5m, 5m), which Ertl's estimator must handle without bias.
TEST(HyperLogLog, ErrorWithinThreeStandardErrors) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 gen(seed);
  const double se = HyperLogLog::relative_standard_error(12);
  EXPECT_NEAR(se, 1.04 / 64, 1e-15);
  for (uint64_t n : {1ull, 10ull, 100ull, 1000ull, 4096ull, 10000ull, 20000ull, 100000ull, 1000000ull}) {
    HyperLogLog h(12);
    for (uint64_t i = 0; i < n; ++i) h.add_hash(gen());
    const double rel = std::abs(h.estimate() - double(n)) / double(n);
    EXPECT_LE(rel, 3 * se) << "n=" << n << " estimate=" << h.estimate();
  }
  EXPECT_EQ(HyperLogLog(12).estimate(), 0.0);
}

TEST(HyperLogLog, MergeIsBitIdenticalAndDuplicatesDoNotCount) {
  std::mt19937_64 gen(fresh_seed());
  HyperLogLog a(10), b(10), all(10);
  std::vector<uint64_t> hs(5000);
  for (auto& h : hs) h = gen();
  for (size_t i = 0; i < hs.size(); ++i) {
    (i % 3 ? a : b).add_hash(hs[i]);
    all.add_hash(hs[i]);
    all.add_hash(hs[i]);
  }
  HyperLogLog ab = a, ba = b;
  ab.merge(b);
  ba.merge(a);
  EXPECT_TRUE(ab == all);
  EXPECT_TRUE(ba == all);
  EXPECT_THROW(a.merge(HyperLogLog(11)), InvalidInput);
  EXPECT_THROW(HyperLogLog(3), InvalidInput);
  EXPECT_THROW(HyperLogLog(15), InvalidInput);
}

TEST(ProfileFrequentItems, ExactWhileDistinctFitsAndBoundAfter) {
  // SpaceSaving / Misra-Gries guarantee: f - (n - stored)/(c+1) <= estimate <= f.
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 gen(seed);
  FrequentItems exact(16);
  std::map<std::string, uint64_t> truth;
  for (int i = 0; i < 1000; ++i) {
    const std::string v = "v" + std::to_string(gen() % 16);
    exact.add(v);
    ++truth[v];
    if (i % 37 == 0) exact.prune();
  }
  exact.prune();
  EXPECT_TRUE(exact.exact());
  EXPECT_EQ(exact.error_bound(), 0u);
  for (const auto& [v, c] : exact.top(100)) EXPECT_EQ(c, truth[v]);
  EXPECT_EQ(exact.size(), truth.size());

  // Zipf-like skew over 2000 values with capacity 20: pruning happens.
  FrequentItems a(20), b(20);
  truth.clear();
  uint64_t n = 0;
  for (int i = 0; i < 50000; ++i) {
    const uint64_t r = gen() % 2000;
    const std::string v = "k" + std::to_string(r * r / 2000);
    ((i / 1000) % 2 ? a : b).add(v);
    ++truth[v];
    ++n;
    if (i % 500 == 0) {
      a.prune();
      b.prune();
    }
  }
  a.prune();
  a.merge(b);
  EXPECT_FALSE(a.exact());
  EXPECT_LE(a.size(), 20u);
  EXPECT_EQ(a.total(), n);
  const uint64_t bound = a.error_bound();
  EXPECT_LE(bound, n / 21);
  const auto top = a.top(100);
  std::map<std::string, uint64_t> got(top.begin(), top.end());
  for (const auto& [v, f] : truth) {
    const uint64_t est = got.count(v) ? got[v] : 0;
    EXPECT_LE(est, f) << v;
    EXPECT_GE(est + bound, f) << v;
  }
}

TEST(ProfileFrequentItems, LongValuesAreKeptTruncatedWithTheirLength) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 gen(seed);
  const size_t max = FrequentItems::kMaxValueBytes;
  // A value of exactly the limit is kept whole; one byte more is truncated with its length.
  const std::string edge(max, 'a');
  EXPECT_EQ(FrequentItems::key_of(edge), edge);
  const std::string over(max + 1, 'a');
  const std::string marker = "\xE2\x80\xA6(" + std::to_string(max + 1) + " bytes)";
  EXPECT_EQ(FrequentItems::key_of(over), std::string(max - marker.size(), 'a') + marker);
  // Multi-byte characters (U+00E9, 2 bytes) are never cut in half.
  std::string accents;
  while (accents.size() < 3 * max) accents += "\xC3\xA9";
  const std::string key = FrequentItems::key_of(accents);
  EXPECT_LE(key.size(), max);
  const size_t prefix = key.size() - std::string("\xE2\x80\xA6(" + std::to_string(accents.size()) + " bytes)").size();
  EXPECT_EQ(prefix % 2, 0u);
  EXPECT_EQ(key.substr(0, prefix), accents.substr(0, prefix));
  EXPECT_EQ(FrequentItems::key_of(key), key);  // a key is its own key

  // Thousands of distinct long values: the summary holds at most capacity keys of <= max bytes,
  // and merging or restoring it keys them the same way.
  FrequentItems a(16), b(16);
  uint64_t n = 0;
  for (int i = 0; i < 4000; ++i) {
    std::string v(max + 1 + gen() % 100000, 'x');
    for (int j = 0; j < 8; ++j) v[gen() % v.size()] = static_cast<char>('a' + gen() % 26);
    (i % 2 ? a : b).add(v);
    ++n;
    if (i % 100 == 0) {
      a.prune();
      b.prune();
    }
  }
  a.prune();
  a.merge(b);
  EXPECT_EQ(a.total(), n);
  EXPECT_LE(a.size(), 16u);
  for (const auto& [v, c] : a.top(100)) EXPECT_LE(v.size(), max);
  FrequentItems restored(16);
  restored.restore(a.total(), a.top(100));
  EXPECT_EQ(restored.top(100), a.top(100));
  // A summary saved with whole long values (before truncation) is keyed on restore: two values
  // of one length and one prefix share their key.
  std::string over_b = over;
  over_b.back() = 'b';
  FrequentItems old(4);
  old.restore(4, {{over, 2}, {over_b, 1}, {"short", 1}});
  EXPECT_EQ(old.top(10),
            (std::vector<std::pair<std::string, uint64_t>>{{FrequentItems::key_of(over), 3}, {"short", 1}}));
}

std::vector<double> column_values(std::mt19937_64& gen, size_t n) {
  std::normal_distribution<double> d(1e6, 3.0);
  std::vector<double> v(n);
  for (auto& x : v) x = d(gen);
  return v;
}

Column float_column(const std::string& name, const std::vector<double>& v, const uint8_t* validity = nullptr) {
  ColumnChunk c;
  c.type = ValueType::kFloat64;
  c.length = static_cast<int64_t>(v.size());
  c.values = v.data();
  c.validity = validity;
  Column col;
  col.name = name;
  col.chunks.push_back(c);
  return col;
}

TEST(Profile, NumericAgainstOracleAndMergeIdentities) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 gen(seed);
  std::vector<double> v = column_values(gen, 200000);
  const double inf = std::numeric_limits<double>::infinity();
  v[5] = std::nan("");
  v[7] = -0.0;
  v[9] = 0.0;
  const ProfileOptions options;
  auto whole = profile_columns({float_column("x", v)}, {ColumnKind::kNumeric}, options);
  const ColumnProfile& p = whole[0];
  long double sum = 0;
  std::set<double> distinct;
  double lo = inf, hi = -inf;
  size_t n = 0;
  for (double x : v) {
    if (std::isnan(x)) continue;
    sum += x;
    ++n;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
    distinct.insert(x == 0 ? 0.0 : x);
  }
  const long double mean = sum / n;
  long double m2 = 0;
  for (double x : v) if (!std::isnan(x)) m2 += (x - mean) * (x - mean);
  EXPECT_EQ(p.rows, v.size());
  EXPECT_EQ(p.nans, 1u);
  EXPECT_EQ(p.count, n);
  EXPECT_EQ(p.min, lo);
  EXPECT_EQ(p.max, hi);
  EXPECT_NEAR(p.mean(), double(mean), 1e-12 * std::abs(double(mean)));
  EXPECT_NEAR(p.variance(), double(m2 / n), 1e-9 * double(m2 / n));
  EXPECT_LE(std::abs(p.distinct.estimate() - distinct.size()) / distinct.size(),
            3 * HyperLogLog::relative_standard_error(12));

  // Splits in two orders: counts exact, moments within 1e-12, registers bit-identical.
  std::vector<double> a(v.begin(), v.begin() + 70001), b(v.begin() + 70001, v.end());
  auto pa = profile_columns({float_column("x", a)}, {ColumnKind::kNumeric}, options)[0];
  auto pb = profile_columns({float_column("x", b)}, {ColumnKind::kNumeric}, options)[0];
  ColumnProfile ab = pa, ba = pb;
  ab.merge(pb);
  ba.merge(pa);
  for (const ColumnProfile* q : {&ab, &ba}) {
    EXPECT_EQ(q->count, p.count);
    EXPECT_EQ(q->min, p.min);
    EXPECT_EQ(q->max, p.max);
    EXPECT_NEAR(q->mean(), p.mean(), 1e-12 * std::abs(p.mean()));
    EXPECT_NEAR(q->variance(), p.variance(), 1e-12 * p.variance() + 1e-300);
    EXPECT_TRUE(q->distinct == p.distinct);
    const double med = q->sketch.quantile(0.5);
    EXPECT_NEAR(p.sketch.rank(med), 0.5, 2 * sketch::KllSketch::rank_error_bound(200));
  }
  // Infinities: values for min/max, not for the finite moments; mean follows numpy.
  std::vector<double> w = {1.0, inf, 3.0};
  auto pi = profile_columns({float_column("x", w)}, {ColumnKind::kNumeric}, options)[0];
  EXPECT_EQ(pi.max, inf);
  EXPECT_EQ(pi.mean(), inf);
  EXPECT_TRUE(std::isnan(pi.variance()));
  EXPECT_EQ(pi.finite_mean, 2.0);
  ColumnProfile wrong("x", ColumnKind::kString, options);
  EXPECT_THROW(ab.merge(wrong), TypeMismatch);
}

TEST(Profile, NullsAndEmpty) {
  std::vector<double> v = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  const uint8_t validity[2] = {0b01010101, 0b00};  // rows 0, 2, 4, 6 valid
  auto p = profile_columns({float_column("x", v, validity)}, {ColumnKind::kNumeric}, {})[0];
  EXPECT_EQ(p.nulls, 6u);
  EXPECT_EQ(p.count, 4u);
  EXPECT_EQ(p.min, 1.0);
  EXPECT_EQ(p.max, 7.0);
  EXPECT_EQ(p.mean(), 4.0);
  std::vector<double> none;
  auto e = profile_columns({float_column("x", none)}, {ColumnKind::kNumeric}, {})[0];
  EXPECT_EQ(e.count, 0u);
  EXPECT_TRUE(std::isnan(e.mean()));
  EXPECT_EQ(e.distinct.estimate(), 0.0);
}

std::vector<ColumnProfile> sample_profile(uint64_t seed) {
  std::mt19937_64 gen(seed);
  static std::vector<double> v;
  v = column_values(gen, 5000);
  static std::vector<std::string> words;
  words.clear();
  std::string data;
  std::vector<int32_t> offsets = {0};
  for (int i = 0; i < 3000; ++i) {
    data += "w" + std::to_string(gen() % 100);
    offsets.push_back(static_cast<int32_t>(data.size()));
  }
  static std::string kept_data;
  static std::vector<int32_t> kept_offsets;
  kept_data = data;
  kept_offsets = offsets;
  ColumnChunk s;
  s.type = ValueType::kUtf8;
  s.length = 3000;
  s.offsets = kept_offsets.data();
  s.data = kept_data.data();
  Column sc;
  sc.name = "s";
  sc.chunks.push_back(s);
  std::vector<double> head(v.begin(), v.begin() + 3000);
  static std::vector<double> kept_head;
  kept_head = head;
  return profile_columns({float_column("x", kept_head), sc},
                         {ColumnKind::kNumeric, ColumnKind::kString}, ProfileOptions{200, 12, 32});
}

TEST(Profile, SerializationRoundTripAndSize) {
  auto cols = sample_profile(fresh_seed());
  const auto bytes = serialize_profile(cols, ProfileOptions{200, 12, 32});
  ProfileOptions o;
  auto back = deserialize_profile(bytes.data(), bytes.size(), &o);
  EXPECT_EQ(o.top_k, 32u);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(serialize_profile(back, o), bytes);
  EXPECT_EQ(back[1].frequent.top(5), cols[1].frequent.top(5));
  EXPECT_LT(bytes.size(), 2u * 64 * 1024);
}

// Truncations and byte flips: only CorruptState may come out (ASan/UBSan builds check the rest).
TEST(Profile, SerializationFuzzNeverCrashes) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  auto cols = sample_profile(seed);
  const auto bytes = serialize_profile(cols, ProfileOptions{200, 12, 32});
  for (size_t cut = 0; cut < bytes.size(); cut += 1 + cut / 16) {
    EXPECT_THROW(deserialize_profile(bytes.data(), cut, nullptr), CorruptState) << cut;
  }
  std::mt19937_64 gen(seed);
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<uint8_t> bad = bytes;
    const int flips = 1 + static_cast<int>(gen() % 4);
    for (int f = 0; f < flips; ++f) bad[gen() % bad.size()] ^= static_cast<uint8_t>(1 + gen() % 255);
    EXPECT_THROW(deserialize_profile(bad.data(), bad.size(), nullptr), CorruptState);
  }
  std::vector<uint8_t> longer = bytes;
  longer.push_back(0);
  EXPECT_THROW(deserialize_profile(longer.data(), longer.size(), nullptr), CorruptState);
  EXPECT_THROW(deserialize_profile(nullptr, 0, nullptr), CorruptState);
}

}  // namespace
}  // namespace seawall::profile
