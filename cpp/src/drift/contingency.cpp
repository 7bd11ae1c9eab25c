// Tests on the 2 x k table of bin counts, with p-values from special_functions_gamma_internal.
#include <algorithm>
#include <cmath>

#include "seawall/drift/categorical.h"
#include "seawall/errors.h"
#include "special_functions_gamma_internal.h"

namespace seawall::drift {

namespace {

void check_table(const BinCounts& counts) {
  SEAWALL_CHECK(counts.reference.size() == counts.current.size() && !counts.reference.empty(),
                "reference and current need the same, non-zero number of bins");
  SEAWALL_CHECK(counts.reference_total > 0, "the reference sample is empty");
  SEAWALL_CHECK(counts.current_total > 0, "the current sample is empty");
}

}  // namespace

ChiSquareResult chi2_contingency(const BinCounts& counts) {
  check_table(counts);
  const size_t k = counts.reference.size();
  // The table's margins come from the binned counts, not the sample sizes, so a value outside
  // caller-given edges is simply not in the table (scipy sees only the table).
  double rows[2] = {0.0, 0.0};
  std::vector<double> columns(k);
  for (size_t j = 0; j < k; ++j) {
    const double r = static_cast<double>(counts.reference[j]);
    const double c = static_cast<double>(counts.current[j]);
    rows[0] += r;
    rows[1] += c;
    columns[j] = r + c;
    SEAWALL_CHECK(columns[j] > 0.0, "bin ", j,
                  " is empty in both samples: its expected frequency would be zero");
  }
  SEAWALL_CHECK(rows[0] > 0.0 && rows[1] > 0.0,
                "a sample has no value in any bin: the table has a zero row");
  ChiSquareResult result;
  result.dof = static_cast<int64_t>(k) - 1;
  if (result.dof == 0) return result;  // scipy's degenerate case: statistic 0, p-value 1
  const double total = rows[0] + rows[1];
  double statistic = 0.0;
  for (int row = 0; row < 2; ++row) {
    const std::vector<int64_t>& observed = row == 0 ? counts.reference : counts.current;
    for (size_t j = 0; j < k; ++j) {
      const double expected = rows[row] * columns[j] / total;
      const double diff = static_cast<double>(observed[j]) - expected;
      statistic += diff * diff / expected;
    }
  }
  result.statistic = statistic;
  result.pvalue = detail::chi2_sf(statistic, static_cast<double>(result.dof));
  return result;
}

ZTestResult z_test_proportions(const BinCounts& counts) {
  check_table(counts);
  ZTestResult result;
  if (counts.size() == 1) return result;  // both samples hold the one same value
  // Evidently codes bin 0 as 0 and every other bin as 1, then compares the shares of 1s.
  const double n1 = static_cast<double>(counts.reference_total);
  const double n2 = static_cast<double>(counts.current_total);
  const double p1 = static_cast<double>(counts.reference_total - counts.reference[0]) / n1;
  const double p2 = static_cast<double>(counts.current_total - counts.current[0]) / n2;
  const double pooled = (p1 * n1 + p2 * n2) / (n1 + n2);
  result.statistic = (p1 - p2) / std::sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2));
  // 2 P(Z > |z|) rather than Evidently's 2 (1 - cdf(|z|)): equal to 1e-16 absolute, and exact in
  // relative terms where the latter rounds to 0.
  result.pvalue = std::min(1.0, 2.0 * detail::normal_sf(std::fabs(result.statistic)));
  return result;
}

}  // namespace seawall::drift
