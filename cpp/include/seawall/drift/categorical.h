// Binned and categorical drift statistics over the counts of seawall/drift/binning.h. Each
// reproduces a named reference (Evidently, scipy, TensorFlow Data Validation); the comments say
// which and where seawall's arithmetic deliberately differs.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "seawall/drift/binning.h"

namespace seawall::drift {

struct Shares {
  std::vector<double> reference;
  std::vector<double> current;
};

// Count / sample size per bin. With fill_empty, each sample's empty bins get Evidently's
// stand-in share: 0.0001, or the sample's smallest non-zero share / 10^6 when that is at most
// 0.0001 (shares are not renormalized afterwards). Throws if a sample has no value in any bin.
Shares shares(const BinCounts& counts, bool fill_empty);

// Population stability index, Evidently's psi: sum (r - c) ln(r / c) over filled shares.
double psi(const BinCounts& counts);
// KL(reference || current) over filled shares renormalized to sum 1, as Evidently's kl_div
// (scipy.stats.entropy(reference, current, base)). No base: natural log.
double kl_divergence(const BinCounts& counts, std::optional<double> base);
// scipy.spatial.distance.jensenshannon(reference, current, base) over unfilled shares, as
// Evidently's jensenshannon: the square root of the JS divergence. No base: natural log.
double jensenshannon(const BinCounts& counts, std::optional<double> base);
// Hellinger distance normalized to [0, 1] (Evidently's hellinger): sqrt(1 - sum sqrt(r c)),
// computed as sqrt(sum (sqrt r - sqrt c)^2 / 2), equal for shares that sum to 1 but free of the
// cancellation that costs the first form half its digits near 0.
double hellinger(const BinCounts& counts);
// Total variation distance: sum |r - c| / 2 (Evidently's TVD statistic).
double total_variation(const BinCounts& counts);
// L-infinity distance max |r - c|: TensorFlow Data Validation's categorical drift measure.
double l_infinity(const BinCounts& counts);

struct ChiSquareResult {
  double statistic = 0.0;
  double pvalue = 1.0;
  int64_t dof = 0;
};
// Pearson's chi-square test of independence on the 2 x k table (reference, current) x bins:
// scipy.stats.chi2_contingency(table, correction=False). One bin: statistic 0, p-value 1, dof 0.
ChiSquareResult chi2_contingency(const BinCounts& counts);

struct ZTestResult {
  double statistic = 0.0;
  double pvalue = 1.0;
};
// Evidently's z_stat_test: the two-proportion z-test on "not bin 0" (bin 0 being the smallest
// value or category), pooled variance, two-sided p-value 2 P(Z > |z|). One bin: z 0, p-value 1.
ZTestResult z_test_proportions(const BinCounts& counts);

}  // namespace seawall::drift
