// Distances between the empirical CDFs of two samples (scipy.stats._cdf_distance): Wasserstein-1
// is the integral of |F_ref - F_cur|, energy distance sqrt(2) times the root of the integral of
// (F_ref - F_cur)^2. Both CDFs are step functions, so each integral is a sum over the gaps
// between consecutive pooled values.
#include <cmath>
#include <cstdint>
#include <vector>

#include "seawall/drift/numeric.h"
#include "seawall/errors.h"
#include "special_functions_numeric_internal.h"

namespace seawall::drift {
namespace {

// Neumaier's compensated sum: the terms are non-negative but span many magnitudes on
// heavy-tailed data, where a plain running sum loses the small gaps.
class CompensatedSum {
 public:
  void add(double x) {
    const double t = sum_ + x;
    compensation_ += std::abs(sum_) >= std::abs(x) ? (sum_ - t) + x : (x - t) + sum_;
    sum_ = t;
  }
  // An overflowed sum is infinite; its compensation (inf - inf) is meaningless.
  double value() const { return std::isfinite(sum_) ? sum_ + compensation_ : sum_; }

 private:
  double sum_ = 0.0;
  double compensation_ = 0.0;
};

// sum over gaps of |F_ref - F_cur|^power * gap, for power 1 or 2.
double cdf_gap_sum(const std::vector<double>& a, const std::vector<double>& b, int power) {
  const double na = static_cast<double>(a.size());
  const double nb = static_cast<double>(b.size());
  CompensatedSum total;
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    const double v = (j >= b.size() || (i < a.size() && a[i] <= b[j])) ? a[i] : b[j];
    while (i < a.size() && a[i] == v) ++i;
    while (j < b.size() && b[j] == v) ++j;
    if (i == a.size() && j == b.size()) break;  // past the last value both CDFs are 1
    const double next = (j >= b.size() || (i < a.size() && a[i] <= b[j])) ? a[i] : b[j];
    const double diff = static_cast<double>(i) / na - static_cast<double>(j) / nb;
    const double weight = power == 1 ? std::abs(diff) : diff * diff;
    if (weight == 0) continue;  // also keeps an overflowing gap (finite values) from giving 0*inf
    total.add(weight * (next - v));
  }
  return total.value();
}

}  // namespace

double wasserstein_distance(Sample reference, Sample current) {
  const internal::SortedSamples s = internal::sorted_samples(
      reference, current, "the Wasserstein distance", /*allow_infinite=*/false);
  return cdf_gap_sum(s.reference, s.current, 1);
}

double wasserstein_distance_norm(Sample reference, Sample current) {
  const internal::SortedSamples s = internal::sorted_samples(
      reference, current, "the normed Wasserstein distance", /*allow_infinite=*/false);
  const std::vector<double>& ref = s.reference;
  // Two passes (mean, then squared deviations), as np.std: one-pass formulas cancel badly.
  CompensatedSum sum;
  for (double x : ref) sum.add(x);
  const double n = static_cast<double>(ref.size());
  const double mean = sum.value() / n;
  CompensatedSum squares;
  for (double x : ref) squares.add((x - mean) * (x - mean));
  const double std_dev = std::sqrt(squares.value() / n);
  SEAWALL_CHECK(std_dev > 0 && std::isfinite(std_dev), "reference ",
                std_dev > 0 ? "has a standard deviation too large for float64"
                            : "is constant (standard deviation 0)",
                ": the normed Wasserstein distance divides by it; use wasserstein_distance");
  return cdf_gap_sum(ref, s.current, 1) / std_dev;
}

double energy_distance(Sample reference, Sample current) {
  const internal::SortedSamples s =
      internal::sorted_samples(reference, current, "the energy distance", /*allow_infinite=*/false);
  return std::sqrt(2.0) * std::sqrt(cdf_gap_sum(s.reference, s.current, 2));
}

}  // namespace seawall::drift
