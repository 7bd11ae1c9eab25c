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
//
// Walks the pooled values in ascending order. Between consecutive pooled values (prev, v) both
// CDFs are constant: F_ref - F_cur = i / na - j / nb = k / (na nb) with k = i nb - j na, an
// integer kept exactly as the walk takes a value from either sample. The sum is over
// |k|^power * gap, scaled once at the end. Tied values make zero-width gaps that add nothing, so
// ties need no special case, and the walk has no data-dependent branch to mispredict (the samples
// interleave at random).
double cdf_gap_sum(const internal::SortedSample& a, const internal::SortedSample& b, int power) {
  const size_t na = a.size();
  const size_t nb = b.size();
  SEAWALL_CHECK(static_cast<double>(na) * static_cast<double>(nb) < 0x1p62,
                "the samples are too large together (", na, " x ", nb,
                " values): the product of their sizes must stay below 2^62");
  const int64_t step_a = static_cast<int64_t>(nb);
  const int64_t step_b = static_cast<int64_t>(na);
  CompensatedSum total;
  size_t i = 0, j = 0;
  int64_t k = 0;
  auto add_gap = [&](double prev, double v) {
    const double d = static_cast<double>(k < 0 ? -k : k);
    const double weight = power == 1 ? d : d * d;
    // A zero weight adds nothing, also across a gap that overflowed (finite values, inf - -inf).
    total.add(weight == 0 ? 0.0 : weight * (v - prev));
  };
  double prev = a[0] <= b[0] ? a[0] : b[0];
  while (i < na && j < nb) {
    const double x = a[i];
    const double y = b[j];
    const bool take_a = x <= y;
    const double v = take_a ? x : y;
    add_gap(prev, v);
    i += take_a;
    j += !take_a;
    k += take_a ? step_a : -step_b;
    prev = v;
  }
  for (; i < na; prev = a[i], ++i, k += step_a) add_gap(prev, a[i]);
  for (; j < nb; prev = b[j], ++j, k -= step_b) add_gap(prev, b[j]);
  const double scale = static_cast<double>(na) * static_cast<double>(nb);
  return power == 1 ? total.value() / scale : total.value() / scale / scale;
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
  const internal::SortedSample& ref = s.reference;
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
