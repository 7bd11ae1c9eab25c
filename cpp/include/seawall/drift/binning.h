// Putting a reference and a current sample into shared bins, the first step of every binned or
// categorical drift statistic (seawall/drift/categorical.h). The default rule reproduces
// Evidently's get_binned_data so that the statistics agree with Evidently's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "seawall/core/column.h"

namespace seawall::drift {

enum class BinRule : uint8_t {
  // Evidently's rule: kSturges when the reference has more than 20 distinct values, else kValues.
  kAuto,
  // One bin per distinct value of reference ∪ current.
  kValues,
  // numpy.histogram_bin_edges(reference ∪ current, "sturges").
  kSturges,
  // numpy.histogram_bin_edges(distinct values of reference ∪ current, "sturges"): the edges of
  // Evidently's Hellinger distance, which bins the distinct values rather than the sample.
  kSturgesDistinct,
  // numpy.histogram_bin_edges(reference ∪ current, count): `count` bins of equal width.
  kCount,
  // Reference quantiles at 0, 1/count, ..., 1 (numpy's default linear interpolation), duplicates
  // dropped, the outer edges widened to the current sample's extremes so every value is counted.
  kQuantile,
  // The caller's edges.
  kEdges,
};

struct BinSpec {
  BinRule rule = BinRule::kAuto;
  int64_t count = 10;         // bins for kCount, quantile bins for kQuantile
  std::vector<double> edges;  // kEdges: at least two, strictly increasing, no NaN
  // Both samples hold integers: numpy then widens a Sturges bin narrower than 1 to 1.
  bool integer_input = false;
};

// How many values of each sample fall in each bin.
struct BinCounts {
  std::vector<int64_t> reference;
  std::vector<int64_t> current;
  // The sample sizes. Shares are counts divided by these, as in numpy/Evidently, so a value
  // outside caller-given edges counts here but in no bin.
  int64_t reference_total = 0;
  int64_t current_total = 0;

  int64_t size() const { return static_cast<int64_t>(reference.size()); }
};

// The bins and their labels: exactly one of edges, values and categories is filled.
struct Bins {
  BinCounts counts;
  // Interval bins: size() + 1 edges. Bin i holds [edges[i], edges[i+1]), the last one also its
  // right edge (numpy.histogram's convention).
  std::vector<double> edges;
  // One bin per number, ascending (-0.0 and 0.0 are one value, reported as 0.0).
  std::vector<double> values;
  // One bin per string, ascending by bytes (code point order for UTF-8).
  std::vector<std::string> categories;
};

// Bins two samples of numbers. Throws InvalidInput for an empty sample, NaN (which must be
// dropped or imputed first), infinities where edges come from the data range, or a bad spec.
Bins bin_numbers(const double* reference, int64_t reference_size, const double* current,
                 int64_t current_size, const BinSpec& spec);

// Counts the categories of two string columns (UTF-8, large UTF-8 or dictionary of either), over
// every category either holds: one seen only in current is counted, never dropped. Nulls are an
// error (InvalidInput); a non-string column is a TypeMismatch.
Bins bin_categories(const Column& reference, const Column& current);

// numpy.histogram_bin_edges(a, "sturges") for a sample with this minimum, maximum and size,
// reproduced operation for operation so the edges are bit-identical.
std::vector<double> sturges_edges(double min, double max, int64_t size, bool integer_input);
// numpy.histogram_bin_edges(a, count), likewise.
std::vector<double> equal_width_edges(double min, double max, int64_t count);

}  // namespace seawall::drift
