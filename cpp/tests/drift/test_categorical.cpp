// Binned and categorical drift statistics: the special functions against closed forms and
// identities, binning against numpy's conventions worked by hand, and each statistic on tables
// small enough to check on paper. The parity with numpy/scipy/Evidently on random data is
// tests/stats/test_categorical.py's job.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "../../src/drift/special_functions_gamma_internal.h"
#include "seawall/drift/binning.h"
#include "seawall/drift/categorical.h"
#include "seawall/errors.h"

namespace {

using seawall::Column;
using seawall::ColumnChunk;
using seawall::InvalidInput;
using seawall::TypeMismatch;
using seawall::ValueType;
using namespace seawall::drift;
namespace detail = seawall::drift::detail;

void expect_rel(double actual, double expected, double rtol) {
  EXPECT_LE(std::fabs(actual - expected), rtol * std::fabs(expected))
      << "actual " << actual << " expected " << expected;
}

// A UTF-8 column over buffers the holder keeps alive.
struct StringColumn {
  std::vector<int32_t> offsets{0};
  std::string data;
  std::vector<uint8_t> validity;
  Column column;

  explicit StringColumn(const std::vector<std::string>& values,
                        const std::vector<bool>& valid = {}) {
    for (const auto& v : values) {
      data += v;
      offsets.push_back(static_cast<int32_t>(data.size()));
    }
    ColumnChunk chunk;
    chunk.type = ValueType::kUtf8;
    chunk.length = static_cast<int64_t>(values.size());
    chunk.offsets = offsets.data();
    chunk.data = data.data();
    if (!valid.empty()) {
      validity.assign((values.size() + 7) / 8, 0);
      for (size_t i = 0; i < valid.size(); ++i) {
        if (valid[i]) validity[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
      }
      chunk.validity = validity.data();
    }
    column.chunks.push_back(chunk);
  }
};

BinCounts table(std::vector<int64_t> reference, std::vector<int64_t> current) {
  BinCounts c;
  for (const auto v : reference) c.reference_total += v;
  for (const auto v : current) c.current_total += v;
  c.reference = std::move(reference);
  c.current = std::move(current);
  return c;
}

// --- special functions ---------------------------------------------------------------------

TEST(GammaTest, ExponentialCaseIsExpMinusX) {
  for (const double x : {1e-8, 0.1, 1.0, 2.0, 7.5, 30.0, 300.0, 700.0}) {
    expect_rel(detail::gamma_q(1.0, x), std::exp(-x), 1e-13);
    expect_rel(detail::chi2_sf(2.0 * x, 2.0), std::exp(-x), 1e-13);
  }
}

TEST(GammaTest, HalfIsErfcOfRoot) {
  for (const double x : {1e-10, 0.01, 0.3, 1.0, 1.4, 1.6, 4.0, 25.0, 200.0}) {
    expect_rel(detail::gamma_q(0.5, x), std::erfc(std::sqrt(x)), 1e-13);
  }
}

TEST(GammaTest, IntegerOrderIsPoissonTail) {
  // Q(n, x) = e^-x sum_{k<n} x^k / k!: a sum of positive terms, accurate as written.
  for (int n = 2; n <= 12; ++n) {
    for (const double x : {0.05, 0.7, 1.0, 3.0, 9.0, 13.0, 40.0}) {
      double term = 1.0, sum = 0.0;
      for (int k = 0; k < n; ++k) {
        sum += term;
        term *= x / (k + 1);
      }
      expect_rel(detail::gamma_q(n, x), std::exp(-x) * sum, 1e-13);
    }
  }
}

TEST(GammaTest, RecurrenceAcrossBranchesAndLargeOrders) {
  // Q(a + 1, x) = Q(a, x) + x^a e^-x / Γ(a + 1), a sum of positives, so a relative check holds.
  for (const double a : {0.5, 3.5, 9.5, 10.0, 49.5, 500.0, 12000.5}) {
    for (const double f : {0.3, 0.9, 1.0, 1.05, 1.6, 3.0}) {
      const double x = a * f;
      const double step = std::exp(a * std::log(x) - x - std::lgamma(a + 1.0));
      // exp of a large exponent is itself only good to |exponent| ulps.
      const double rtol = 1e-13 + 4e-16 * std::fabs(a * std::log(x));
      expect_rel(detail::gamma_q(a + 1.0, x), detail::gamma_q(a, x) + step, rtol);
    }
  }
}

TEST(GammaTest, ComplementAndEdges) {
  for (const double a : {0.5, 2.0, 7.5, 100.0}) {
    for (const double x : {0.2, 1.0, 7.0, 100.0, 130.0}) {
      EXPECT_NEAR(detail::gamma_p(a, x) + detail::gamma_q(a, x), 1.0, 1e-14);
    }
    EXPECT_EQ(detail::gamma_q(a, 0.0), 1.0);
    EXPECT_EQ(detail::gamma_q(a, std::numeric_limits<double>::infinity()), 0.0);
  }
  EXPECT_TRUE(std::isnan(detail::gamma_q(2.0, std::nan(""))));
  EXPECT_THROW(detail::gamma_q(0.0, 1.0), InvalidInput);
  EXPECT_THROW(detail::gamma_q(1.0, -1.0), InvalidInput);
  EXPECT_THROW(detail::chi2_sf(1.0, 0.0), InvalidInput);
  EXPECT_EQ(detail::chi2_sf(0.0, 3.0), 1.0);
}

TEST(GammaTest, ChiSquareCriticalValue) {
  // 3.841458820694124 = 1.959963984540054^2, the 95% point of chi-square(1).
  expect_rel(detail::chi2_sf(3.841458820694124, 1.0), 0.05, 1e-13);
}

TEST(GammaTest, NormalTail) {
  EXPECT_EQ(detail::normal_sf(0.0), 0.5);
  expect_rel(detail::normal_sf(1.959963984540054), 0.025, 1e-13);
  for (const double z : {0.3, 1.0, 2.5, 6.0}) {
    EXPECT_NEAR(detail::normal_sf(z) + detail::normal_sf(-z), 1.0, 1e-15);
  }
  // Deep in the tail, where 1 - cdf would be 0: Mills ratio bounds phi(z)/z (1 - 1/z^2) < sf < phi(z)/z.
  const double z = 30.0;
  const double phi_over_z = std::exp(-0.5 * z * z) / std::sqrt(2.0 * M_PI) / z;
  EXPECT_GT(detail::normal_sf(z), phi_over_z * (1.0 - 1.0 / (z * z)));
  EXPECT_LT(detail::normal_sf(z), phi_over_z);
}

// --- binning -------------------------------------------------------------------------------

TEST(BinningTest, SturgesEdgesByHand) {
  // n = 8: width = 10 / (3 + 1) = 2.5, four bins.
  EXPECT_EQ(sturges_edges(0.0, 10.0, 8, false), (std::vector<double>{0.0, 2.5, 5.0, 7.5, 10.0}));
  // Integers: width 3 / 11 is raised to 1, so one bin per integer.
  EXPECT_EQ(sturges_edges(0.0, 3.0, 1024, true), (std::vector<double>{0.0, 1.0, 2.0, 3.0}));
  // The same range as floats keeps the narrow width: ceil(3 / (3 / 11)) bins.
  EXPECT_GE(sturges_edges(0.0, 3.0, 1024, false).size(), 12u);
  // A constant sample: one bin, widened by 0.5 each side.
  EXPECT_EQ(sturges_edges(5.0, 5.0, 10, false), (std::vector<double>{4.5, 5.5}));
  EXPECT_EQ(equal_width_edges(1.0, 3.0, 4), (std::vector<double>{1.0, 1.5, 2.0, 2.5, 3.0}));
}

TEST(BinningTest, FewDistinctValuesGetOneBinEach) {
  const std::vector<double> ref{1, 2, 2, 3, -0.0};
  const std::vector<double> cur{2, 0.0, 7, 7};  // 7 is only in current: counted, not dropped
  const Bins b = bin_numbers(ref.data(), 5, cur.data(), 4, BinSpec{});
  EXPECT_EQ(b.values, (std::vector<double>{0, 1, 2, 3, 7}));
  EXPECT_FALSE(std::signbit(b.values[0]));
  EXPECT_EQ(b.counts.reference, (std::vector<int64_t>{1, 1, 2, 1, 0}));
  EXPECT_EQ(b.counts.current, (std::vector<int64_t>{1, 0, 1, 0, 2}));
  EXPECT_TRUE(b.edges.empty());
}

TEST(BinningTest, ManyDistinctValuesGetSturgesBins) {
  std::vector<double> ref;
  for (int i = 0; i < 21; ++i) ref.push_back(i);  // 21 distinct: past Evidently's 20
  const std::vector<double> cur{0, 10, 20, 20};
  const Bins b = bin_numbers(ref.data(), 21, cur.data(), 4, BinSpec{});
  // 25 values: width = 20 / (log2(25) + 1) = 3.536..., ceil(5.64) = 6 bins.
  ASSERT_EQ(b.edges.size(), 7u);
  EXPECT_EQ(b.edges.front(), 0.0);
  EXPECT_EQ(b.edges.back(), 20.0);
  int64_t ref_sum = 0, cur_sum = 0;
  for (const auto c : b.counts.reference) ref_sum += c;
  for (const auto c : b.counts.current) cur_sum += c;
  EXPECT_EQ(ref_sum, 21);
  EXPECT_EQ(cur_sum, 4);
  EXPECT_EQ(b.counts.current.back(), 2);  // the maximum lands in the closed last bin
}

TEST(BinningTest, ExplicitEdgesFollowNumpyHistogram) {
  BinSpec spec;
  spec.rule = BinRule::kEdges;
  spec.edges = {0.0, 1.0, 2.0};
  const std::vector<double> ref{0.0, 0.5, 1.0, 2.0, 2.5, -1.0};
  const std::vector<double> cur{1.0};
  const Bins b = bin_numbers(ref.data(), 6, cur.data(), 1, spec);
  // [0, 1) holds 0 and 0.5; [1, 2] holds 1 and 2; 2.5 and -1 fall outside but stay in the total.
  EXPECT_EQ(b.counts.reference, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(b.counts.reference_total, 6);
  const Shares s = shares(b.counts, false);
  expect_rel(s.reference[0], 2.0 / 6.0, 1e-15);
}

TEST(BinningTest, QuantileEdgesFromReferenceCoverCurrent) {
  BinSpec spec;
  spec.rule = BinRule::kQuantile;
  spec.count = 4;
  const std::vector<double> ref{1, 2, 3, 4, 5};  // quartiles 1, 2, 3, 4, 5 exactly
  const std::vector<double> cur{0, 6};
  const Bins b = bin_numbers(ref.data(), 5, cur.data(), 2, spec);
  EXPECT_EQ(b.edges, (std::vector<double>{0, 2, 3, 4, 6}));
  EXPECT_EQ(b.counts.reference, (std::vector<int64_t>{1, 1, 1, 2}));
  EXPECT_EQ(b.counts.current, (std::vector<int64_t>{1, 0, 0, 1}));
}

TEST(BinningTest, BadInputThrows) {
  const std::vector<double> ok{1, 2};
  const std::vector<double> nan{1, std::nan("")};
  const std::vector<double> inf{1, std::numeric_limits<double>::infinity()};
  EXPECT_THROW(bin_numbers(ok.data(), 0, ok.data(), 2, BinSpec{}), InvalidInput);
  EXPECT_THROW(bin_numbers(ok.data(), 2, ok.data(), 0, BinSpec{}), InvalidInput);
  try {
    bin_numbers(ok.data(), 2, nan.data(), 2, BinSpec{});
    ADD_FAILURE() << "NaN accepted";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("impute"), std::string::npos) << e.what();
  }
  BinSpec sturges;
  sturges.rule = BinRule::kSturges;
  EXPECT_THROW(bin_numbers(ok.data(), 2, inf.data(), 2, sturges), InvalidInput);
  // Infinity is a value like any other when each value is its own bin.
  EXPECT_NO_THROW(bin_numbers(ok.data(), 2, inf.data(), 2, BinSpec{}));
  BinSpec edges;
  edges.rule = BinRule::kEdges;
  edges.edges = {0.0, 0.0, 1.0};
  EXPECT_THROW(bin_numbers(ok.data(), 2, ok.data(), 2, edges), InvalidInput);
  edges.edges = {1.0};
  EXPECT_THROW(bin_numbers(ok.data(), 2, ok.data(), 2, edges), InvalidInput);
  edges.edges = {10.0, 20.0};  // no reference value in any bin
  const Bins missed = bin_numbers(ok.data(), 2, ok.data(), 2, edges);
  EXPECT_THROW(psi(missed.counts), InvalidInput);
  BinSpec quantile;
  quantile.rule = BinRule::kQuantile;
  quantile.count = 0;
  EXPECT_THROW(bin_numbers(ok.data(), 2, ok.data(), 2, quantile), InvalidInput);
}

TEST(BinningTest, ARangeWiderThanFloat64StillGetsEqualBins) {
  // Finite values whose max - min overflows (numpy warns and makes infinite widths): the edges
  // are those of the exact arithmetic, equally spaced over [min, max], each value counted once.
  const double big = std::numeric_limits<double>::max();
  EXPECT_EQ(equal_width_edges(-big, big, 2), (std::vector<double>{-big, 0.0, big}));
  const std::vector<double> quarters = equal_width_edges(-big, big, 4);
  const std::vector<double> exact{-big, -big / 2, 0.0, big / 2, big};
  ASSERT_EQ(quarters.size(), exact.size());
  for (size_t i = 0; i < exact.size(); ++i) EXPECT_DOUBLE_EQ(quarters[i], exact[i]) << i;  // 4 ulps
  // Sturges: ceil(log2(8) + 1) = 4 bins, as for any range.
  EXPECT_EQ(sturges_edges(-big, big, 8, false), equal_width_edges(-big, big, 4));
  EXPECT_EQ(sturges_edges(-big, big, 8, false).size(), sturges_edges(-1.0, 1.0, 8, false).size());
  const std::vector<double> wide{-big, big, 0.0, 1.0, -1.0};
  for (const BinRule rule : {BinRule::kSturges, BinRule::kSturgesDistinct, BinRule::kCount}) {
    BinSpec spec;
    spec.rule = rule;
    spec.count = 4;
    const Bins bins = bin_numbers(wide.data(), 5, wide.data(), 5, spec);
    for (const double e : bins.edges) EXPECT_TRUE(std::isfinite(e));
    EXPECT_EQ(bins.edges.front(), -big);
    EXPECT_EQ(bins.edges.back(), big);
    int64_t total = 0;
    for (const auto n : bins.counts.reference) total += static_cast<int64_t>(n);
    EXPECT_EQ(total, 5);
  }
}

TEST(CategoricalTest, CountsCategoriesOfBothSamplesSorted) {
  StringColumn ref({"b", "a", "b", ""});
  StringColumn cur({"c", "a", "\xc3\xa9"});  // "é" sorts after ASCII by bytes
  const Bins b = bin_categories(ref.column, cur.column);
  EXPECT_EQ(b.categories, (std::vector<std::string>{"", "a", "b", "c", "\xc3\xa9"}));
  EXPECT_EQ(b.counts.reference, (std::vector<int64_t>{1, 1, 2, 0, 0}));
  EXPECT_EQ(b.counts.current, (std::vector<int64_t>{0, 1, 0, 1, 1}));
}

TEST(CategoricalTest, DictionaryColumnsCountTheirValues) {
  StringColumn dictionary({"x", "y", "x"});  // a repeated entry is one category
  std::vector<int8_t> indices{0, 1, 2, 2, 0};
  Column ref;
  ColumnChunk chunk;
  chunk.type = ValueType::kDictionary;
  chunk.index_type = ValueType::kInt8;
  chunk.length = 5;
  chunk.values = indices.data();
  chunk.dictionary = std::make_shared<ColumnChunk>(dictionary.column.chunks[0]);
  ref.chunks.push_back(chunk);
  StringColumn cur({"y"});
  const Bins b = bin_categories(ref, cur.column);
  EXPECT_EQ(b.categories, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(b.counts.reference, (std::vector<int64_t>{4, 1}));
  EXPECT_EQ(b.counts.current, (std::vector<int64_t>{0, 1}));
}

TEST(CategoricalTest, NullsEmptinessAndNumbersAreRejected) {
  StringColumn ok({"a"});
  StringColumn with_null({"a", "b"}, {true, false});
  EXPECT_THROW(bin_categories(ok.column, with_null.column), InvalidInput);
  StringColumn empty({});
  EXPECT_THROW(bin_categories(empty.column, ok.column), InvalidInput);
  std::vector<double> numbers{1.0};
  Column numeric;
  ColumnChunk chunk;
  chunk.type = ValueType::kFloat64;
  chunk.length = 1;
  chunk.values = numbers.data();
  numeric.chunks.push_back(chunk);
  EXPECT_THROW(bin_categories(ok.column, numeric), TypeMismatch);
}

// --- statistics ----------------------------------------------------------------------------

TEST(DivergenceTest, HalfAndHalfAgainstQuarterAndThreeQuarters) {
  const BinCounts c = table({50, 50}, {25, 75});
  expect_rel(psi(c), 0.25 * std::log(3.0), 1e-14);
  expect_rel(kl_divergence(c, std::nullopt), 0.5 * std::log(4.0 / 3.0), 1e-14);
  expect_rel(kl_divergence(c, 2.0), 0.5 * std::log2(4.0 / 3.0), 1e-14);
  const double js2 = 0.5 * std::log(4.0 / 3.0) + 0.5 * std::log(0.8) + 0.25 * std::log(2.0 / 3.0) +
                     0.75 * std::log(1.2);
  expect_rel(jensenshannon(c, std::nullopt), std::sqrt(js2 / 2.0), 1e-14);
  // Bhattacharyya coefficient sqrt(1/8) + sqrt(3/8) = cos 15 degrees.
  expect_rel(hellinger(c), std::sqrt(2.0) * std::sin(M_PI / 24.0), 1e-14);
  expect_rel(total_variation(c), 0.25, 1e-15);
  expect_rel(l_infinity(c), 0.25, 1e-15);
}

TEST(DivergenceTest, EmptyBinsGetEvidentlysStandIn) {
  // Reference's smallest share is 1 > 1e-4: its empty bin becomes 1e-4.
  const BinCounts c = table({10, 0}, {5, 5});
  const double expected = 0.5 * std::log(2.0) + (1e-4 - 0.5) * std::log(1e-4 / 0.5);
  expect_rel(psi(c), expected, 1e-14);
  // Here the smallest share is 1 / 20001 <= 1e-4: the empty bin becomes that share / 10^6.
  const BinCounts tiny = table({20000, 1, 0}, {1, 1, 1});
  const Shares s = shares(tiny, true);
  expect_rel(s.reference[2], 1.0 / 20001.0 / 1e6, 1e-15);
  EXPECT_EQ(s.current[0], 1.0 / 3.0);
  // Unfilled, the empty bin is exactly 0 and the distances stay finite.
  EXPECT_EQ(shares(tiny, false).reference[2], 0.0);
  EXPECT_TRUE(std::isfinite(jensenshannon(tiny, std::nullopt)));
}

TEST(DivergenceTest, IdenticalAndDisjointSamples) {
  const BinCounts same = table({3, 5, 7}, {6, 10, 14});
  EXPECT_EQ(psi(same), 0.0);
  EXPECT_EQ(hellinger(same), 0.0);
  EXPECT_EQ(jensenshannon(same, std::nullopt), 0.0);
  EXPECT_EQ(total_variation(same), 0.0);
  const BinCounts disjoint = table({4, 0}, {0, 9});
  EXPECT_EQ(hellinger(disjoint), 1.0);
  EXPECT_EQ(total_variation(disjoint), 1.0);
  EXPECT_EQ(l_infinity(disjoint), 1.0);
  expect_rel(jensenshannon(disjoint, 2.0), 1.0, 1e-15);  // base 2: JS distance tops out at 1
  EXPECT_THROW(jensenshannon(disjoint, 1.0), InvalidInput);
  EXPECT_THROW(kl_divergence(disjoint, -2.0), InvalidInput);
}

TEST(ContingencyTest, TwoByTwoByHand) {
  // Margins 30 / 70 and 40 / 60: expected 12, 18 / 28, 42, every deviation 2.
  const ChiSquareResult r = chi2_contingency(table({10, 20}, {30, 40}));
  expect_rel(r.statistic, 50.0 / 63.0, 1e-14);
  EXPECT_EQ(r.dof, 1);
  expect_rel(r.pvalue, std::erfc(std::sqrt(25.0 / 63.0)), 1e-13);
}

TEST(ContingencyTest, CategoryOnlyInCurrentRaisesDof) {
  const ChiSquareResult r = chi2_contingency(table({5, 5, 0}, {5, 5, 10}));
  EXPECT_EQ(r.dof, 2);
  // Margins 10 / 20 and 10 each: expected 10/3 per reference cell and 20/3 per current cell,
  // giving 5/6 + 5/6 + 10/3 + 5/12 + 5/12 + 5/3 = 15/2.
  expect_rel(r.statistic, 7.5, 1e-14);
  expect_rel(r.pvalue, std::exp(-7.5 / 2.0), 1e-13);  // dof 2: an exponential tail
}

TEST(ContingencyTest, ZTestByHand) {
  // Shares of "not the first category": 0.7 and 0.5, pooled 0.6.
  const ZTestResult r = z_test_proportions(table({30, 70}, {50, 50}));
  const double z = 0.2 / std::sqrt(0.24 * 0.02);
  expect_rel(r.statistic, z, 1e-14);
  expect_rel(r.pvalue, std::erfc(z / std::sqrt(2.0)), 1e-13);
}

TEST(ContingencyTest, OneCategoryIsNoEvidence) {
  const ChiSquareResult chi = chi2_contingency(table({4}, {9}));
  EXPECT_EQ(chi.statistic, 0.0);
  EXPECT_EQ(chi.pvalue, 1.0);
  EXPECT_EQ(chi.dof, 0);
  const ZTestResult z = z_test_proportions(table({4}, {9}));
  EXPECT_EQ(z.statistic, 0.0);
  EXPECT_EQ(z.pvalue, 1.0);
}

TEST(ContingencyTest, BadTablesThrow) {
  EXPECT_THROW(chi2_contingency(table({}, {})), InvalidInput);
  EXPECT_THROW(chi2_contingency(table({1, 0}, {1, 0})), InvalidInput);  // an all-empty bin
  BinCounts mismatched = table({1, 2}, {3});
  EXPECT_THROW(z_test_proportions(mismatched), InvalidInput);
  EXPECT_THROW(psi(mismatched), InvalidInput);
}

}  // namespace
