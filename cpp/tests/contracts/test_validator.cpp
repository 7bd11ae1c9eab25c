// The contract validator against independent oracles: plain loops over the same values, with
// std::set for repeats, on random data (fresh seeds) with nulls, NaN, infinities, integers at the
// edges of their types, strings that are not UTF-8, dictionaries and many chunks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "../error_message.h"
#include "seawall/contracts/validator.h"
#include "seawall/core/thread_pool.h"
#include "seawall/errors.h"

namespace seawall::contracts {
namespace {

uint64_t fresh_seed() { return std::random_device{}(); }
constexpr double kInf = std::numeric_limits<double>::infinity();

// Owns the buffers of chunks built in tests.
struct Store {
  std::vector<std::vector<uint8_t>> bytes;
  std::vector<std::vector<int32_t>> offsets;
  std::vector<std::string> data;

  const uint8_t* validity(const std::vector<bool>& valid) {
    std::vector<uint8_t> bits((valid.size() + 7) / 8 + 1, 0);
    for (size_t i = 0; i < valid.size(); ++i) {
      if (valid[i]) bits[i >> 3] |= uint8_t(1u << (i & 7));
    }
    bytes.push_back(std::move(bits));
    return bytes.back().data();
  }

  template <typename T>
  ColumnChunk numbers(ValueType type, const std::vector<T>& v, const std::vector<bool>* valid = nullptr) {
    std::vector<uint8_t> raw(v.size() * sizeof(T) + 8);
    if (!v.empty()) std::memcpy(raw.data(), v.data(), v.size() * sizeof(T));
    bytes.push_back(std::move(raw));
    ColumnChunk c;
    c.type = type;
    c.length = static_cast<int64_t>(v.size());
    c.values = bytes.back().data();
    if (valid != nullptr) c.validity = validity(*valid);
    return c;
  }

  ColumnChunk strings(const std::vector<std::string>& v, const std::vector<bool>* valid = nullptr) {
    std::vector<int32_t> o{0};
    std::string all;
    for (const auto& s : v) {
      all += s;
      o.push_back(static_cast<int32_t>(all.size()));
    }
    offsets.push_back(std::move(o));
    data.push_back(std::move(all));
    ColumnChunk c;
    c.type = ValueType::kUtf8;
    c.length = static_cast<int64_t>(v.size());
    c.offsets = offsets.back().data();
    c.data = data.back().data();
    if (valid != nullptr) c.validity = validity(*valid);
    return c;
  }
};

Column column(const std::string& name, std::vector<ColumnChunk> chunks) {
  Column c;
  c.name = name;
  c.chunks = std::move(chunks);
  return c;
}

struct Expected {
  uint64_t count = 0;
  std::vector<int64_t> rows;
  void add(int64_t row, size_t limit) {
    ++count;
    if (rows.size() < limit) rows.push_back(row);
  }
};

void expect_check(const ColumnTally& t, Check k, const Expected& e) {
  EXPECT_EQ(t.checks[k].count, e.count) << check_name(k);
  EXPECT_EQ(t.checks[k].rows, e.rows) << check_name(k);
}

TEST(Validator, FloatsAgainstAPlainLoop) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal(0.0, 3.0);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const size_t limit = 7;
  Store store;
  ColumnRule rule;
  rule.name = "x";
  rule.float_lo = -2.5;
  rule.float_hi = 4.0;
  Validator v({rule}, limit);
  Expected nulls, nans, pos, neg, below, above;
  int64_t row = 0;
  // Several batches of several chunks, crossing segment boundaries (65536 rows).
  for (int batch = 0; batch < 3; ++batch) {
    std::vector<ColumnChunk> chunks;
    const int64_t start = row;
    for (size_t n : {size_t{70000}, size_t{1}, size_t{0}, size_t{3000}}) {
      std::vector<double> x(n);
      std::vector<bool> valid(n);
      for (size_t i = 0; i < n; ++i) {
        const double r = u(gen);
        x[i] = r < 0.01 ? std::nan("") : r < 0.015 ? kInf : r < 0.02 ? -kInf : normal(gen);
        valid[i] = u(gen) > 0.05;
        if (!valid[i]) x[i] = 1e300;  // what a null slot holds does not matter
      }
      chunks.push_back(store.numbers(ValueType::kFloat64, x, &valid));
      for (size_t i = 0; i < n; ++i, ++row) {
        if (!valid[i]) {
          nulls.add(row, limit);
        } else if (std::isnan(x[i])) {
          nans.add(row, limit);
        } else {
          if (x[i] == kInf) pos.add(row, limit);
          if (x[i] == -kInf) neg.add(row, limit);
          if (x[i] < -2.5) below.add(row, limit);
          if (x[i] > 4.0) above.add(row, limit);
        }
      }
    }
    v.update({column("x", std::move(chunks))}, start);
  }
  const ColumnTally& t = v.tallies()[0];
  EXPECT_EQ(t.rows, static_cast<uint64_t>(row));
  expect_check(t, kNull, nulls);
  expect_check(t, kNaN, nans);
  expect_check(t, kPosInf, pos);
  expect_check(t, kNegInf, neg);
  expect_check(t, kBelow, below);
  expect_check(t, kAbove, above);
  EXPECT_EQ(t.distinct, -1);
}

TEST(Validator, Float32AndOffsetChunks) {
  Store store;
  std::vector<float> x = {1.0f, 2.0f, -1.0f, 3.5f, 0.25f};
  ColumnChunk c = store.numbers(ValueType::kFloat32, x);
  c.offset = 1;  // an Arrow slice: rows are x[1..]
  c.length = 4;
  ColumnRule rule;
  rule.name = "f";
  rule.float_lo = 0.0;
  rule.float_hi = 3.0;
  Validator v({rule}, 10);
  v.update({column("f", {c})}, 100);
  EXPECT_EQ(v.tallies()[0].checks[kBelow].rows, (std::vector<int64_t>{101}));
  EXPECT_EQ(v.tallies()[0].checks[kAbove].rows, (std::vector<int64_t>{102}));
  EXPECT_EQ(v.tallies()[0].rows, 4u);
}

// float32 values against float64 bounds that fall between two floats: compared exactly.
TEST(Validator, Float32NeighboursOfADoubleBound) {
  Store store;
  const float at_lo = 0.1f;                                  // just above 0.1
  const float below_lo = std::nextafter(at_lo, 0.0f);        // just below 0.1
  const float at_hi = 0.3f;                                  // just above 0.3: out
  const float below_hi = std::nextafter(at_hi, 0.0f);        // just below 0.3: in
  std::vector<float> x(200, 0.2f);
  x[3] = below_lo;
  x[70] = at_lo;
  x[130] = at_hi;
  x[199] = below_hi;
  ColumnRule r;
  r.name = "f";
  r.float_lo = 0.1;
  r.float_hi = 0.3;
  Validator v({r}, 10);
  v.update({column("f", {store.numbers(ValueType::kFloat32, x)})}, 0);
  EXPECT_EQ(v.tallies()[0].checks[kBelow].rows, (std::vector<int64_t>{3}));
  EXPECT_EQ(v.tallies()[0].checks[kAbove].rows, (std::vector<int64_t>{130}));
  ColumnRule huge;
  huge.name = "f";
  huge.float_lo = -1e300;  // past float's range: no float is below
  huge.float_hi = 1e300;
  std::vector<float> y = {-std::numeric_limits<float>::max(), std::numeric_limits<float>::infinity()};
  Validator w({huge}, 10);
  w.update({column("f", {store.numbers(ValueType::kFloat32, y)})}, 0);
  EXPECT_EQ(w.tallies()[0].checks[kBelow].count, 0u);
  EXPECT_EQ(w.tallies()[0].checks[kAbove].rows, (std::vector<int64_t>{1}));
  EXPECT_EQ(w.tallies()[0].checks[kPosInf].rows, (std::vector<int64_t>{1}));
}

// Integer bounds compare exactly, also where float64 cannot tell neighbours apart.
TEST(Validator, IntegerBoundsAreExactAtTheEdges) {
  Store store;
  const int64_t big = (int64_t{1} << 53) + 1;
  std::vector<int64_t> x = {big, big - 1, big + 1, INT64_MAX, INT64_MIN, 0};
  ColumnRule rule;
  rule.name = "i";
  rule.has_int_lo = true;
  rule.int_lo = big;
  rule.has_int_hi = true;
  rule.int_hi = big;
  Validator v({rule}, 10);
  v.update({column("i", {store.numbers(ValueType::kInt64, x)})}, 0);
  EXPECT_EQ(v.tallies()[0].checks[kBelow].rows, (std::vector<int64_t>{1, 4, 5}));
  EXPECT_EQ(v.tallies()[0].checks[kAbove].rows, (std::vector<int64_t>{2, 3}));

  // uint64 beyond int64, and bounds beyond the type's range on either side.
  std::vector<uint64_t> u = {UINT64_MAX, 0, uint64_t{1} << 63};
  ColumnRule wide;
  wide.name = "u";
  wide.has_int_lo = true;
  wide.int_lo = -(Int128{1} << 100);
  wide.has_int_hi = true;
  wide.int_hi = (Int128{1} << 64) - 2;  // UINT64_MAX - 1
  Validator w({wide}, 10);
  w.update({column("u", {store.numbers(ValueType::kUInt64, u)})}, 0);
  EXPECT_EQ(w.tallies()[0].checks[kAbove].rows, (std::vector<int64_t>{0}));
  EXPECT_EQ(w.tallies()[0].checks[kBelow].count, 0u);

  ColumnRule above_all;
  above_all.name = "s";
  above_all.has_int_lo = true;
  above_all.int_lo = Int128{1000};  // more than any int8
  std::vector<int8_t> s = {-128, 0, 127};
  Validator a({above_all}, 10);
  a.update({column("s", {store.numbers(ValueType::kInt8, s)})}, 0);
  EXPECT_EQ(a.tallies()[0].checks[kBelow].rows, (std::vector<int64_t>{0, 1, 2}));
  ColumnRule below_all;
  below_all.name = "s";
  below_all.has_int_hi = true;
  below_all.int_hi = Int128{-1000};
  Validator b({below_all}, 10);
  b.update({column("s", {store.numbers(ValueType::kInt8, s)})}, 0);
  EXPECT_EQ(b.tallies()[0].checks[kAbove].rows, (std::vector<int64_t>{0, 1, 2}));
}

TEST(Validator, IntegersOfEveryTypeAgainstAPlainLoop) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 gen(seed);
  Store store;
  auto check = [&](auto sample, ValueType type) {
    using T = decltype(sample);
    std::vector<T> x(5000);
    std::vector<bool> valid(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      x[i] = static_cast<T>(gen());
      valid[i] = gen() % 10 != 0;
    }
    const T lo = static_cast<T>(gen()), hi = static_cast<T>(gen());
    ColumnRule r;
    r.name = "c";
    r.has_int_lo = r.has_int_hi = true;
    r.int_lo = std::min(lo, hi);
    r.int_hi = std::max(lo, hi);
    Validator v({r}, 5);
    v.update({column("c", {store.numbers(type, x, &valid)})}, 0);
    Expected nulls, below, above;
    for (size_t i = 0; i < x.size(); ++i) {
      if (!valid[i]) {
        nulls.add(int64_t(i), 5);
      } else if (x[i] < std::min(lo, hi)) {
        below.add(int64_t(i), 5);
      } else if (x[i] > std::max(lo, hi)) {
        above.add(int64_t(i), 5);
      }
    }
    expect_check(v.tallies()[0], kNull, nulls);
    expect_check(v.tallies()[0], kBelow, below);
    expect_check(v.tallies()[0], kAbove, above);
  };
  check(int8_t{}, ValueType::kInt8);
  check(int16_t{}, ValueType::kInt16);
  check(int32_t{}, ValueType::kInt32);
  check(int64_t{}, ValueType::kInt64);
  check(uint8_t{}, ValueType::kUInt8);
  check(uint16_t{}, ValueType::kUInt16);
  check(uint32_t{}, ValueType::kUInt32);
  check(uint64_t{}, ValueType::kUInt64);
}

TEST(Validator, StringDomainAndInvalidUtf8) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 gen(seed);
  const std::vector<std::string> pool = {"a", "b", "c", "", "zz", "\xff\xfe", "caf\xc3\xa9", "\xc3"};
  const std::set<std::string> domain = {"a", "b", "", "caf\xc3\xa9"};
  Store store;
  std::vector<std::string> s(100000);
  std::vector<bool> valid(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    s[i] = pool[gen() % pool.size()];
    valid[i] = gen() % 7 != 0;
  }
  ColumnRule r;
  r.name = "s";
  r.kind = ColumnKind::kString;
  r.check_domain = true;
  r.domain.assign(domain.begin(), domain.end());
  Validator v({r}, 9);
  v.update({column("s", {store.strings(s, &valid)})}, 5);
  Expected nulls, off, bad;
  std::map<std::string, uint64_t> off_counts;
  for (size_t i = 0; i < s.size(); ++i) {
    const int64_t row = 5 + int64_t(i);
    if (!valid[i]) {
      nulls.add(row, 9);
    } else if (s[i] == "\xff\xfe" || s[i] == "\xc3") {
      bad.add(row, 9);
    } else if (!domain.count(s[i])) {
      off.add(row, 9);
      ++off_counts[s[i]];
    }
  }
  const ColumnTally& t = v.tallies()[0];
  expect_check(t, kNull, nulls);
  expect_check(t, kOffDomain, off);
  expect_check(t, kInvalidUtf8, bad);
  std::map<std::string, uint64_t> got;
  for (int64_t id = 0; id < t.off_domain.values.size(); ++id) {
    got[std::string(t.off_domain.values.key(id))] = t.off_domain.counts[id];
  }
  EXPECT_EQ(got, off_counts);
  EXPECT_EQ(t.off_domain.other, 0u);
}

TEST(Validator, DictionaryChunksReadLikePlainOnes) {
  Store store;
  std::vector<std::string> entries = {"x", "y", "\xff", "w"};
  std::vector<bool> entry_valid = {true, true, true, false};
  auto dict = std::make_shared<ColumnChunk>(store.strings(entries, &entry_valid));
  std::vector<int32_t> idx = {0, 1, 2, 3, 1, 0, 1};
  std::vector<bool> valid = {true, true, true, true, false, true, true};
  ColumnChunk c = store.numbers(ValueType::kInt32, idx, &valid);
  c.type = ValueType::kDictionary;
  c.index_type = ValueType::kInt32;
  c.dictionary = dict;
  ColumnRule r;
  r.name = "d";
  r.kind = ColumnKind::kString;
  r.check_domain = true;
  r.domain = {"x"};
  r.track_distinct = true;
  Validator v({r}, 10);
  v.update({column("d", {c})}, 0);
  const ColumnTally& t = v.tallies()[0];
  EXPECT_EQ(t.checks[kNull].rows, (std::vector<int64_t>{3, 4}));  // a null entry is a null row
  EXPECT_EQ(t.checks[kInvalidUtf8].rows, (std::vector<int64_t>{2}));
  EXPECT_EQ(t.checks[kOffDomain].rows, (std::vector<int64_t>{1, 6}));
  EXPECT_EQ(t.checks[kDuplicate].rows, (std::vector<int64_t>{5, 6}));
  EXPECT_EQ(t.distinct, 3);  // x, y and the bytes ff

  std::vector<int32_t> bad_idx = {0, 9};
  ColumnChunk b = store.numbers(ValueType::kInt32, bad_idx);
  b.type = ValueType::kDictionary;
  b.dictionary = dict;
  EXPECT_THROW(v.update({column("d", {b})}, 7), InvalidInput);
}

TEST(Validator, RepeatsAcrossChunksBatchesAndTypes) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 gen(seed);
  Store store;
  ColumnRule r;
  r.name = "id";
  r.track_distinct = true;
  Validator v({r}, 20);
  std::set<double> seen;
  Expected dups;
  int64_t row = 0;
  for (int batch = 0; batch < 4; ++batch) {
    const int64_t start = row;
    std::vector<int64_t> a(40000);
    std::vector<double> b(30000);
    std::vector<bool> bvalid(b.size());
    for (auto& x : a) x = static_cast<int64_t>(gen() % 300000);
    for (size_t i = 0; i < b.size(); ++i) {
      b[i] = gen() % 5 == 0 ? std::nan("") : static_cast<double>(gen() % 300000) * (gen() % 2 ? 1 : 0.5);
      if (b[i] == 0) b[i] = -0.0;
      bvalid[i] = gen() % 11 != 0;
    }
    for (const int64_t x : a) {
      if (!seen.insert(double(x)).second) dups.add(row, 20);
      ++row;
    }
    for (size_t i = 0; i < b.size(); ++i, ++row) {
      if (!bvalid[i] || std::isnan(b[i])) continue;
      if (!seen.insert(b[i] == 0 ? 0.0 : b[i]).second) dups.add(row, 20);
    }
    v.update({column("id", {store.numbers(ValueType::kInt64, a), store.numbers(ValueType::kFloat64, b, &bvalid)})},
             start);
  }
  expect_check(v.tallies()[0], kDuplicate, dups);
  EXPECT_EQ(v.tallies()[0].distinct, static_cast<int64_t>(seen.size()));
}

TEST(Validator, HugeIntegersAreNotMistakenForEachOther) {
  Store store;
  // Neighbours past 2^53 round to the same double; as integers they are distinct.
  std::vector<int64_t> a = {(int64_t{1} << 53), (int64_t{1} << 53) + 1, INT64_MAX, INT64_MAX - 1};
  std::vector<uint64_t> b = {UINT64_MAX, UINT64_MAX - 1, uint64_t{1} << 63, 5};
  std::vector<double> c = {9223372036854775808.0, 5.0, 0.5};
  ColumnRule r;
  r.name = "n";
  r.track_distinct = true;
  Validator v({r}, 10);
  v.update({column("n", {store.numbers(ValueType::kInt64, a), store.numbers(ValueType::kUInt64, b),
                         store.numbers(ValueType::kFloat64, c)})},
           0);
  // 2^63 as a double (row 8) equals uint64 2^63 (row 6); 5.0 (row 9) equals uint64 5 (row 7).
  EXPECT_EQ(v.tallies()[0].checks[kDuplicate].rows, (std::vector<int64_t>{8, 9}));
  EXPECT_EQ(v.tallies()[0].distinct, 9);
}

TEST(Validator, ResultsDoNotDependOnTheThreadCount) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  Store store;
  auto run = [&](int threads) {
    std::mt19937_64 gen(seed);
    set_num_threads(threads);
    std::vector<std::string> s(200000);
    std::vector<double> x(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
      s[i] = "v" + std::to_string(gen() % 3000);
      x[i] = static_cast<double>(gen() % 1000);
    }
    ColumnRule rs;
    rs.name = "s";
    rs.kind = ColumnKind::kString;
    rs.check_domain = true;
    rs.domain = {"v1", "v2"};
    rs.track_distinct = true;
    ColumnRule rx;
    rx.name = "x";
    rx.float_hi = 500;
    Validator v({rs, rx}, 13);
    v.update({column("s", {store.strings(s)}), column("x", {store.numbers(ValueType::kFloat64, x)})}, 0);
    return v;
  };
  Validator one = run(1);
  Validator four = run(4);
  set_num_threads(0);
  for (size_t c = 0; c < 2; ++c) {
    for (int k = 0; k < kCheckCount; ++k) {
      EXPECT_EQ(one.tallies()[c].checks[k].count, four.tallies()[c].checks[k].count);
      EXPECT_EQ(one.tallies()[c].checks[k].rows, four.tallies()[c].checks[k].rows);
    }
    EXPECT_EQ(one.tallies()[c].off_domain.values.size(), four.tallies()[c].off_domain.values.size());
    for (int64_t id = 0; id < one.tallies()[c].off_domain.values.size(); ++id) {
      EXPECT_EQ(one.tallies()[c].off_domain.values.key(id), four.tallies()[c].off_domain.values.key(id));
      EXPECT_EQ(one.tallies()[c].off_domain.counts[id], four.tallies()[c].off_domain.counts[id]);
    }
  }
  // More distinct unexpected values than are itemised: the rest are counted together.
  EXPECT_EQ(one.tallies()[0].off_domain.values.size(), OffDomainValues::kMaxValues);
  uint64_t itemised = 0;
  for (uint64_t n : one.tallies()[0].off_domain.counts) itemised += n;
  EXPECT_EQ(itemised + one.tallies()[0].off_domain.other, one.tallies()[0].checks[kOffDomain].count);
  EXPECT_GT(one.tallies()[0].off_domain.other, 0u);
}

// An empty interval (bounds rounded past each other) fails every value, none twice.
TEST(Validator, CrossedBoundsFailEveryValue) {
  Store store;
  ColumnRule r;
  r.name = "x";
  r.float_lo = 2;
  r.float_hi = 1;
  r.has_int_lo = r.has_int_hi = true;
  r.int_lo = 1;
  r.int_hi = 0;
  Validator v({r}, 10);
  std::vector<double> f = {0.5, 1.5, 2.5};
  std::vector<int64_t> i = {0, 1, 2};
  v.update({column("x", {store.numbers(ValueType::kFloat64, f), store.numbers(ValueType::kInt64, i)})}, 0);
  EXPECT_EQ(v.tallies()[0].checks[kBelow].rows, (std::vector<int64_t>{0, 1, 3}));
  EXPECT_EQ(v.tallies()[0].checks[kAbove].rows, (std::vector<int64_t>{2, 4, 5}));
}

TEST(Validator, CountsOnlyWithARowLimitOfZero) {
  Store store;
  std::vector<double> x = {1, 2, 3, -1};
  ColumnRule r;
  r.name = "x";
  r.float_lo = 2;
  Validator v({r}, 0);
  v.update({column("x", {store.numbers(ValueType::kFloat64, x)})}, 0);
  EXPECT_EQ(v.tallies()[0].checks[kBelow].count, 2u);
  EXPECT_TRUE(v.tallies()[0].checks[kBelow].rows.empty());
}

TEST(Validator, EmptyBatchesAndNoColumns) {
  Store store;
  ColumnRule r;
  r.name = "x";
  Validator v({r}, 3);
  v.update({column("x", {})}, 0);
  v.update({column("x", {store.numbers(ValueType::kFloat64, std::vector<double>{})})}, 0);
  EXPECT_EQ(v.tallies()[0].rows, 0u);
  Validator none({}, 3);
  none.update({}, 0);
  EXPECT_TRUE(none.tallies().empty());
}

TEST(Validator, MalformedCallsThrowNamingTheColumn) {
  Store store;
  ColumnRule r;
  r.name = "x";
  Validator v({r}, 3);
  std::vector<double> one = {1.0};
  std::vector<double> two = {1.0, 2.0};
  EXPECT_THROW(v.update({}, 0), InvalidInput);
  EXPECT_THROW(v.update({column("y", {store.numbers(ValueType::kFloat64, one)})}, 0), InvalidInput);
  EXPECT_THROW(v.update({column("x", {store.numbers(ValueType::kFloat64, one)})}, -1), InvalidInput);
  EXPECT_NE(message_of([&] { v.update({column("x", {store.strings({"a"})})}, 0); }).find("'x'"),
            std::string::npos);
  EXPECT_THROW(v.update({column("x", {store.strings({"a"})})}, 0), TypeMismatch);
  ColumnRule s;
  s.name = "s";
  s.kind = ColumnKind::kString;
  Validator w({r, s}, 3);
  EXPECT_THROW(w.update({column("x", {store.numbers(ValueType::kFloat64, two)}),
                         column("s", {store.strings({"a"})})},
                        0),
               InvalidInput);
  EXPECT_EQ(v.tallies()[0].rows, 0u);  // nothing was counted by the refused calls

  ColumnRule nan_bound;
  nan_bound.name = "n";
  nan_bound.float_lo = std::nan("");
  EXPECT_THROW(Validator({nan_bound}, 1), InvalidInput);
  ColumnRule numeric_domain;
  numeric_domain.name = "d";
  numeric_domain.check_domain = true;
  EXPECT_THROW(Validator({numeric_domain}, 1), InvalidInput);
}

}  // namespace
}  // namespace seawall::contracts
