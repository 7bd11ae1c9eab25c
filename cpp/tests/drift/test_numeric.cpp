// Tests of the numeric drift statistics (seawall/drift/numeric.h) and their special functions:
// closed forms and identities for the special functions, two exact algorithms against each
// other, hand-counted lattice-path p-values, and bad or extreme input. Parity with scipy on
// random data is tested in Python (tests/stats/test_numeric.py).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "../../src/drift/special_functions_numeric_internal.h"
#include "seawall/drift/numeric.h"
#include "seawall/errors.h"

namespace seawall::drift {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Sample view(const std::vector<double>& v) {
  return Sample{v.data(), static_cast<int64_t>(v.size())};
}

void expect_rel(double actual, double expected, double rtol) {
  EXPECT_NEAR(actual, expected, rtol * std::abs(expected)) << "expected " << expected;
}

// ---- special functions ---------------------------------------------------------------------

TEST(NumericSpecial, BesselKHalfIntegerClosedForms) {
  // K_{1/2}(x) = sqrt(pi/(2x)) e^-x and K_{3/2}(x) = K_{1/2}(x) (1 + 1/x), exactly.
  for (double x : {1e-6, 1e-3, 0.1, 0.5, 1.0, 2.0, 7.5, 30.0, 300.0, 2000.0}) {
    const double half = std::sqrt(kPi / (2 * x));
    expect_rel(internal::bessel_k_scaled(0.5, x), half, 2e-15);
    expect_rel(internal::bessel_k_scaled(-0.5, x), half, 2e-15);
    expect_rel(internal::bessel_k_scaled(1.5, x), half * (1 + 1 / x), 2e-15);
  }
}

TEST(NumericSpecial, BesselKQuarterRecurrence) {
  // K_{nu+1}(x) - K_{nu-1}(x) = (2 nu / x) K_nu(x) at nu = 1/4 (and K_{-3/4} = K_{3/4}).
  for (double x : {0.01, 0.3, 1.0, 4.0, 25.0, 400.0}) {
    const double lhs = internal::bessel_k_scaled(1.25, x) - internal::bessel_k_scaled(0.75, x);
    // The difference on the left cancels by a factor ~2x: relative error grows with x.
    expect_rel(lhs, 0.5 / x * internal::bessel_k_scaled(0.25, x), 1e-15 * (10 + 2 * x));
  }
}

TEST(NumericSpecial, Binomial) {
  EXPECT_EQ(internal::binomial(10, 3), 120.0);
  EXPECT_EQ(internal::binomial(52, 5), 2598960.0);
  EXPECT_EQ(internal::binomial(7, 0), 1.0);
  EXPECT_EQ(internal::binomial(7, 8), 0.0);
  // Pascal's rule where the large-k branch is used.
  for (int64_t n : {60, 200, 1000}) {
    for (int64_t k : {int64_t{25}, n / 3, n / 2}) {
      expect_rel(internal::binomial(n, k),
                 internal::binomial(n - 1, k - 1) + internal::binomial(n - 1, k), 1e-13);
    }
  }
  EXPECT_TRUE(std::isfinite(internal::binomial(1000, 500)));
  EXPECT_EQ(internal::binomial(2000, 1000), kInf);
}

TEST(NumericSpecial, KolmogorovExactAlgorithmsAgree) {
  // Durbin's matrix method and Pomeranz's recursion are both exact: they must agree where
  // kolmogorov_sf uses them (n x^2 <= 4; Pomeranz loses accuracy beyond, as in scipy).
  for (int64_t n : {2, 5, 10, 37, 100, 140, 400}) {
    for (double nx : {0.6, 0.9, 1.3, 2.5, 3.9}) {
      const double x = nx / std::sqrt(static_cast<double>(n)) / 2;
      if (x * n <= 0.5 || x >= 1 || n * x * x > 4) continue;
      expect_rel(internal::kolmogorov_cdf_durbin(n, x), internal::kolmogorov_cdf_pomeranz(n, x),
                 1e-11);
    }
  }
}

TEST(NumericSpecial, KolmogorovClosedForms) {
  // n = 1: D_1 = max(U, 1 - U), so P(D_1 >= x) = 2 (1 - x) on [1/2, 1].
  for (double x : {0.5, 0.6, 0.75, 0.99})
    expect_rel(internal::kolmogorov_sf(1, x), 2 * (1 - x), 1e-15);
  // Beyond 1/2 the two one-sided tails are disjoint: P(D_n >= x) = 2 P(D+_n >= x); Durbin's
  // method computes the left side independently of the Smirnov sum.
  for (int64_t n : {3, 10, 20, 60}) {
    for (double x : {0.5, 0.55, 0.7}) {
      // 1 - cdf: absolute accuracy only.
      EXPECT_NEAR(1 - internal::kolmogorov_cdf_durbin(n, x), 2 * internal::smirnov_sf(n, x), 1e-14);
    }
  }
  EXPECT_EQ(internal::kolmogorov_sf(50, 0.0), 1.0);
  EXPECT_EQ(internal::kolmogorov_sf(50, 1.0), 0.0);
  EXPECT_EQ(internal::kolmogorov_sf(50, 0.5 / 50), 1.0);
}

TEST(NumericSpecial, SmirnovClosedForms) {
  for (double x : {0.0, 0.3, 1.0}) EXPECT_DOUBLE_EQ(internal::smirnov_sf(1, x), 1 - x);
  // n = 2 by hand (Birnbaum-Tingey with two terms): x = 0.3 gives 0.7^2 + 2 (0.3)(0.2) = 0.61.
  expect_rel(internal::smirnov_sf(2, 0.3), 0.61, 1e-15);
  // x >= 1 - 1/n: only the all-above path remains, (1 - x)^n.
  expect_rel(internal::smirnov_sf(10, 0.95), std::pow(0.05, 10), 1e-14);
  // Large n: sf stays a probability and tends to exp(-2 n x^2).
  const double sf = internal::smirnov_sf(500000, 0.001);
  EXPECT_GT(sf, 0.0);
  EXPECT_LT(sf, 1.0);
  EXPECT_NEAR(sf, std::exp(-2 * 500000 * 1e-6), 0.01);
}

TEST(NumericSpecial, PelzGoodApproximatesDurbin) {
  // Where kolmogorov_sf would use Durbin (n x^1.5 <= 1.4), Pelz-Good is already close.
  for (double x : {0.0003, 0.0004, 0.0005}) {
    EXPECT_NEAR(internal::kolmogorov_cdf_pelz_good(100000, x),
                internal::kolmogorov_cdf_durbin(100000, x), 1e-6);
  }
}

TEST(NumericSpecial, CramerVonMisesLimitCriticalValues) {
  // Anderson and Darling (1952): the 90%, 95% and 99% points of the limiting W^2 distribution.
  EXPECT_NEAR(internal::cramer_von_mises_limit_cdf(0.34730), 0.90, 1e-4);
  EXPECT_NEAR(internal::cramer_von_mises_limit_cdf(0.46136), 0.95, 1e-4);
  EXPECT_NEAR(internal::cramer_von_mises_limit_cdf(0.74346), 0.99, 1e-4);
  EXPECT_LT(internal::cramer_von_mises_limit_cdf(0.003), 2e-18);
  EXPECT_NEAR(internal::cramer_von_mises_limit_cdf(5.0), 1.0, 1e-9);
}

TEST(NumericSpecial, NumpyFloorDivide) {
  EXPECT_EQ(internal::numpy_floor_divide(7.0, 2.0), 3.0);
  EXPECT_EQ(internal::numpy_floor_divide(-7.0, 2.0), -4.0);
  EXPECT_EQ(internal::numpy_floor_divide(6.0, 3.0), 2.0);
  EXPECT_EQ(internal::numpy_floor_divide(-0.5, 3.0), -1.0);
}

// ---- KS ------------------------------------------------------------------------------------

TEST(KsTwoSample, DisjointEqualSizes) {
  // All 3 reference values below all 3 current ones: 2 of the C(6,3) = 20 orderings reach D = 1.
  const std::vector<double> ref{1, 2, 3}, cur{4, 5, 6};
  const KsResult r = ks_2samp(view(ref), view(cur));
  EXPECT_EQ(r.statistic, 1.0);
  EXPECT_DOUBLE_EQ(r.pvalue, 0.1);
  EXPECT_EQ(r.statistic_location, 3.0);
  EXPECT_EQ(r.statistic_sign, 1);
  EXPECT_EQ(r.method, KsMethod::kExact);
  EXPECT_DOUBLE_EQ(ks_2samp(view(ref), view(cur), KsAlternative::kGreater).pvalue, 0.05);
  const KsResult less = ks_2samp(view(ref), view(cur), KsAlternative::kLess);
  EXPECT_EQ(less.statistic, 0.0);
  EXPECT_EQ(less.pvalue, 1.0);
}

TEST(KsTwoSample, DisjointUnequalSizes) {
  // Orderings of {r, r, c}: rrc and crr reach D = 1, so P = 2/3; one-sided, only rrc: 1/3.
  const std::vector<double> ref{1, 2}, cur{3};
  const KsResult r = ks_2samp(view(ref), view(cur));
  EXPECT_EQ(r.statistic, 1.0);
  EXPECT_DOUBLE_EQ(r.pvalue, 2.0 / 3);
  EXPECT_EQ(r.statistic_location, 2.0);
  EXPECT_DOUBLE_EQ(ks_2samp(view(ref), view(cur), KsAlternative::kGreater).pvalue, 1.0 / 3);
}

TEST(KsTwoSample, IdenticalSamplesAndInfinities) {
  const std::vector<double> ref{-kInf, 0, 1, kInf}, cur{-kInf, 0, 1, kInf};
  const KsResult r = ks_2samp(view(ref), view(cur));
  EXPECT_EQ(r.statistic, 0.0);
  EXPECT_EQ(r.pvalue, 1.0);
}

TEST(KsTwoSample, LargeSamplesGoAsymptotic) {
  std::mt19937_64 gen(7);
  std::normal_distribution<double> normal;
  std::vector<double> ref(200000), cur(150001);
  for (double& x : ref) x = normal(gen);
  for (double& x : cur) x = normal(gen) + 0.01;
  for (auto alt : {KsAlternative::kTwoSided, KsAlternative::kLess, KsAlternative::kGreater}) {
    const KsResult r = ks_2samp(view(ref), view(cur), alt);
    EXPECT_EQ(r.method, KsMethod::kAsymptotic);
    EXPECT_GE(r.pvalue, 0.0);
    EXPECT_LE(r.pvalue, 1.0);
    EXPECT_GT(r.statistic, 0.0);
  }
  // Exact requested on sizes whose lcm is too large: falls back, and says so.
  const KsResult r = ks_2samp(view(ref), view(cur), KsAlternative::kTwoSided, KsMethod::kExact);
  EXPECT_EQ(r.fallback, KsFallback::kSizesTooLarge);
}

TEST(KsTwoSample, OneSidedUnequalOverflowFallsBack) {
  std::vector<double> ref(1500), cur(1400);
  for (size_t i = 0; i < ref.size(); ++i) ref[i] = static_cast<double>(i);
  for (size_t i = 0; i < cur.size(); ++i) cur[i] = static_cast<double>(i) + 0.5;
  const KsResult r = ks_2samp(view(ref), view(cur), KsAlternative::kGreater);
  EXPECT_EQ(r.fallback, KsFallback::kExactFailed);
  EXPECT_EQ(r.method, KsMethod::kAsymptotic);
  EXPECT_GE(r.pvalue, 0.0);
  EXPECT_LE(r.pvalue, 1.0);
}

TEST(KsTwoSample, SingleValuesAsymptoticThrows) {
  const std::vector<double> one{1.0}, two{2.0};
  EXPECT_EQ(ks_2samp(view(one), view(two)).pvalue, 1.0);
  EXPECT_THROW(ks_2samp(view(one), view(two), KsAlternative::kTwoSided, KsMethod::kAsymptotic),
               InvalidInput);
}

// ---- Cramér-von Mises -------------------------------------------------------------------------

TEST(CvmTwoSample, HandCounted) {
  // Ranks 1,2 | 3,4: U = 2 (0) + 2 ((3-1)^2 + (4-2)^2) = 16, T = 16/16 - 15/24 = 0.375; U is
  // largest for rrcc and ccrr only, so P = 2/6.
  const std::vector<double> ref{1, 2}, cur{3, 4};
  const CvmResult r = cramervonmises_2samp(view(ref), view(cur));
  EXPECT_DOUBLE_EQ(r.statistic, 0.375);
  EXPECT_DOUBLE_EQ(r.pvalue, 1.0 / 3);
  EXPECT_EQ(r.method, CvmMethod::kExact);
}

TEST(CvmTwoSample, TiesUseMidRanks) {
  // All values tied: every mid-rank is (N+1)/2 = 2.5.
  const std::vector<double> ref{5, 5}, cur{5, 5};
  const CvmResult r = cramervonmises_2samp(view(ref), view(cur));
  // U = 2 ((2.5-1)^2 + (2.5-2)^2) * 2 = 10, T = 10/16 - 15/24 = 0.
  EXPECT_NEAR(r.statistic, 0.0, 1e-15);
  EXPECT_EQ(r.pvalue, 1.0);
}

TEST(CvmTwoSample, ExactRefusesHugeTables) {
  std::vector<double> ref(3000), cur(2999);
  for (size_t i = 0; i < ref.size(); ++i) ref[i] = static_cast<double>(i);
  for (size_t i = 0; i < cur.size(); ++i) cur[i] = static_cast<double>(i) + 0.25;
  EXPECT_THROW(cramervonmises_2samp(view(ref), view(cur), CvmMethod::kExact), InvalidInput);
  const CvmResult r = cramervonmises_2samp(view(ref), view(cur));
  EXPECT_EQ(r.method, CvmMethod::kAsymptotic);
  EXPECT_GT(r.pvalue, 0.5);
}

TEST(CvmTwoSample, NeedsTwoValues) {
  const std::vector<double> one{1.0}, two{1.0, 2.0};
  EXPECT_THROW(cramervonmises_2samp(view(one), view(two)), InvalidInput);
  EXPECT_THROW(cramervonmises_2samp(view(two), view(one)), InvalidInput);
}

// ---- distances ---------------------------------------------------------------------------------

TEST(WassersteinDistance, HandComputed) {
  const std::vector<double> a{0, 1, 3}, b{5, 6, 8};
  EXPECT_DOUBLE_EQ(wasserstein_distance(view(a), view(b)), 5.0);
  EXPECT_DOUBLE_EQ(wasserstein_distance(view(b), view(a)), 5.0);
  EXPECT_EQ(wasserstein_distance(view(a), view(a)), 0.0);
  // |F_ref - F_cur| is 1/2 on [0, 1) and on [1, 2); the reference's std is 1.
  const std::vector<double> ref{0, 2}, cur{1, 1};
  EXPECT_DOUBLE_EQ(wasserstein_distance(view(ref), view(cur)), 1.0);
  EXPECT_DOUBLE_EQ(wasserstein_distance_norm(view(ref), view(cur)), 1.0);
}

TEST(WassersteinDistance, ConstantReferenceThrowsForNorm) {
  const std::vector<double> ref{3, 3, 3}, cur{1, 2};
  EXPECT_DOUBLE_EQ(wasserstein_distance(view(ref), view(cur)), 1.5);
  EXPECT_THROW(wasserstein_distance_norm(view(ref), view(cur)), InvalidInput);
}

TEST(EnergyDistance, HandComputed) {
  // Single points 0 and 2: sqrt(2) * sqrt(integral over [0, 2) of 1) = 2.
  const std::vector<double> a{0}, b{2};
  EXPECT_NEAR(energy_distance(view(a), view(b)), 2.0, 1e-15);
  EXPECT_EQ(energy_distance(view(a), view(a)), 0.0);
}

TEST(EnergyDistance, ExtremeMagnitudesStayFinite) {
  const std::vector<double> a{-1e308, 1e308}, b{-1e308, 1e308};
  EXPECT_EQ(energy_distance(view(a), view(b)), 0.0);
  EXPECT_EQ(wasserstein_distance(view(a), view(b)), 0.0);
  const std::vector<double> tiny_a{1e-300}, tiny_b{3e-300};
  EXPECT_DOUBLE_EQ(wasserstein_distance(view(tiny_a), view(tiny_b)), 2e-300);
  // Finite values whose gap overflows: an infinite distance, not NaN.
  const std::vector<double> far_a{-1.5e308}, far_b{1.5e308};
  EXPECT_EQ(wasserstein_distance(view(far_a), view(far_b)), kInf);
}

// ---- bad input -------------------------------------------------------------------------------

TEST(NumericBadInput, EmptyNanInfinite) {
  const std::vector<double> empty, ok{1, 2, 3}, with_nan{1, kNaN, 3}, with_inf{1, kInf};
  auto message_of = [](auto&& fn) {
    try {
      fn();
    } catch (const InvalidInput& e) {
      return std::string(e.what());
    }
    return std::string("no throw");
  };
  EXPECT_NE(message_of([&] { ks_2samp(view(empty), view(ok)); }).find("reference is empty"),
            std::string::npos);
  EXPECT_NE(
      message_of([&] { cramervonmises_2samp(view(ok), view(empty)); }).find("current is empty"),
      std::string::npos);
  const std::string nan_message =
      message_of([&] { wasserstein_distance(view(ok), view(with_nan)); });
  EXPECT_NE(nan_message.find("current has 1 NaN value, the first at index 1"), std::string::npos);
  EXPECT_NE(nan_message.find("drop or impute"), std::string::npos);
  EXPECT_THROW(ks_2samp(view(with_nan), view(ok)), InvalidInput);
  EXPECT_THROW(energy_distance(view(with_inf), view(ok)), InvalidInput);
  EXPECT_THROW(wasserstein_distance(view(ok), view(with_inf)), InvalidInput);
  EXPECT_THROW(wasserstein_distance_norm(view(with_inf), view(ok)), InvalidInput);
  EXPECT_NO_THROW(ks_2samp(view(with_inf), view(ok)));
  EXPECT_NO_THROW(cramervonmises_2samp(view(with_inf), view(ok)));
}

}  // namespace
}  // namespace seawall::drift
