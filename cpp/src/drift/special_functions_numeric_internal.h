// Special functions behind the numeric drift tests: the finite-n Kolmogorov and Smirnov
// distributions (the p-values of the KS test), the limiting Cramér-von Mises distribution, and
// the modified Bessel function K_nu it needs. Each follows the algorithm choices of the scipy
// function named beside it, so that p-values agree with scipy to far better than 1e-9.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "seawall/drift/numeric.h"

namespace seawall::drift::internal {

// Survival function of the two-sided one-sample KS statistic D_n, P(D_n >= x)
// (scipy.stats.kstwo.sf(x, n), i.e. scipy.stats._ksstats._kolmogn(n, x, cdf=False)). n >= 1.
double kolmogorov_sf(int64_t n, double x);

// Survival function of the one-sided one-sample statistic D+_n, P(D+_n >= x)
// (scipy.special.smirnov(n, x)). n >= 1, 0 <= x <= 1.
double smirnov_sf(int64_t n, double x);

// The three CDF algorithms kolmogorov_sf chooses between, exposed for the tests.
// Durbin's matrix method as Marsaglia, Tsang and Wang compute it (exact for all x).
double kolmogorov_cdf_durbin(int64_t n, double x);
// Pomeranz's recursion (exact for all x).
double kolmogorov_cdf_pomeranz(int64_t n, double x);
// Pelz and Good's asymptotic series (an approximation, for large n).
double kolmogorov_cdf_pelz_good(int64_t n, double x);

// exp(x) * K_nu(x), the exponentially scaled modified Bessel function of the second kind, for
// x > 0 and |nu| < 10 (scipy.special.kve).
double bessel_k_scaled(double nu, double x);

// CDF of the limiting (infinite sample) Cramér-von Mises statistic, summed term by term until a
// term falls below 1e-7 (scipy.stats._hypotests._cdf_cvm_inf). x > 0.
double cramer_von_mises_limit_cdf(double x);

// The binomial coefficient C(n, k) for integers 0 <= k <= n, correctly rounded for small k and
// to a few ulps otherwise; +inf when it exceeds the double range.
double binomial(int64_t n, int64_t k);

// floor(a / b) on doubles as numpy's floor_divide computes it (fmod-based, then rounded).
double numpy_floor_divide(double a, double b);

}  // namespace seawall::drift::internal

namespace seawall::drift::internal {

struct SortedSamples;

// One sample in ascending order: the caller's own values when they came sorted (the Python layer
// sorts with numpy's SIMD sort), otherwise a sorted copy it owns.
class SortedSample {
 public:
  size_t size() const { return size_; }
  double operator[](size_t i) const { return data_[i]; }
  const double* begin() const { return data_; }
  const double* end() const { return data_ + size_; }

 private:
  friend SortedSamples sorted_samples(Sample, Sample, const char*, bool);
  std::vector<double> owned_;  // moving a vector keeps its buffer, so data_ stays valid
  const double* data_ = nullptr;
  size_t size_ = 0;
};

// Both samples sorted, concurrently when both need it. Throws InvalidInput naming the sample when
// one is empty, holds a NaN, or (unless allow_infinite) an infinity; `statistic` names the caller
// in those messages. Borrowed samples must outlive the result.
struct SortedSamples {
  SortedSample reference;
  SortedSample current;
};
SortedSamples sorted_samples(Sample reference, Sample current, const char* statistic,
                             bool allow_infinite);

}  // namespace seawall::drift::internal
