// Distances between the two samples' bin shares. Sums run in bin order; the references (numpy,
// scipy) sum pairwise, so results agree to a few ulps times the number of bins.
#include <algorithm>
#include <cmath>

#include "seawall/drift/categorical.h"
#include "seawall/errors.h"

namespace seawall::drift {

namespace {

std::vector<double> shares_of(const std::vector<int64_t>& counts, int64_t total, const char* which,
                              bool fill_empty) {
  SEAWALL_CHECK(total > 0, "the ", which, " sample is empty");
  std::vector<double> shares(counts.size());
  double smallest = INFINITY;
  for (size_t i = 0; i < counts.size(); ++i) {
    shares[i] = static_cast<double>(counts[i]) / static_cast<double>(total);
    if (shares[i] > 0.0) smallest = std::min(smallest, shares[i]);
  }
  SEAWALL_CHECK(smallest != INFINITY, "no value of the ", which,
                " sample falls in any bin: the bin edges miss the data");
  if (fill_empty) {
    // Evidently's stand-in for an empty bin keeps ln(r / c) finite and stays below any real
    // share even when the sample's smallest share is itself tiny.
    const double filler = smallest <= 1e-4 ? smallest / 1e6 : 1e-4;
    for (double& s : shares) {
      if (s == 0.0) s = filler;
    }
  }
  return shares;
}

void normalize(std::vector<double>& shares) {
  double sum = 0.0;
  for (const double s : shares) sum += s;
  for (double& s : shares) s /= sum;
}

double log_base_divisor(std::optional<double> base) {
  if (!base) return 1.0;
  SEAWALL_CHECK(*base > 0.0 && *base != 1.0 && std::isfinite(*base),
                "the logarithm base must be positive, finite and not 1, got ", *base);
  return std::log(*base);
}

void check_same_bins(const BinCounts& counts) {
  SEAWALL_CHECK(counts.reference.size() == counts.current.size() && !counts.reference.empty(),
                "reference and current need the same, non-zero number of bins");
}

}  // namespace

Shares shares(const BinCounts& counts, bool fill_empty) {
  check_same_bins(counts);
  return {shares_of(counts.reference, counts.reference_total, "reference", fill_empty),
          shares_of(counts.current, counts.current_total, "current", fill_empty)};
}

double psi(const BinCounts& counts) {
  const Shares s = shares(counts, true);
  double sum = 0.0;
  for (size_t i = 0; i < s.reference.size(); ++i) {
    const double r = s.reference[i];
    const double c = s.current[i];
    sum += (r - c) * std::log(r / c);
  }
  return sum;
}

double kl_divergence(const BinCounts& counts, std::optional<double> base) {
  const double divisor = log_base_divisor(base);
  Shares s = shares(counts, true);
  normalize(s.reference);
  normalize(s.current);
  double sum = 0.0;
  for (size_t i = 0; i < s.reference.size(); ++i) {
    const double r = s.reference[i];
    sum += r * std::log(r / s.current[i]);
  }
  return sum / divisor;
}

double jensenshannon(const BinCounts& counts, std::optional<double> base) {
  const double divisor = log_base_divisor(base);
  Shares s = shares(counts, false);
  normalize(s.reference);
  normalize(s.current);
  double sum = 0.0;
  for (size_t i = 0; i < s.reference.size(); ++i) {
    const double p = s.reference[i];
    const double q = s.current[i];
    const double m = (p + q) / 2.0;
    // Zero shares contribute nothing (scipy's rel_entr(0, m) = 0).
    if (p > 0.0) sum += p * std::log(p / m);
    if (q > 0.0) sum += q * std::log(q / m);
  }
  // Rounding can leave an exact zero a hair negative; the divergence itself never is.
  return std::sqrt(std::max(0.0, sum / divisor / 2.0));
}

double hellinger(const BinCounts& counts) {
  const Shares s = shares(counts, false);
  double sum = 0.0;
  for (size_t i = 0; i < s.reference.size(); ++i) {
    const double d = std::sqrt(s.reference[i]) - std::sqrt(s.current[i]);
    sum += d * d;
  }
  return std::sqrt(std::min(1.0, sum / 2.0));
}

double total_variation(const BinCounts& counts) {
  const Shares s = shares(counts, false);
  double sum = 0.0;
  for (size_t i = 0; i < s.reference.size(); ++i) sum += std::fabs(s.reference[i] - s.current[i]);
  return 0.5 * sum;
}

double l_infinity(const BinCounts& counts) {
  const Shares s = shares(counts, false);
  double largest = 0.0;
  for (size_t i = 0; i < s.reference.size(); ++i) {
    largest = std::max(largest, std::fabs(s.reference[i] - s.current[i]));
  }
  return largest;
}

}  // namespace seawall::drift
