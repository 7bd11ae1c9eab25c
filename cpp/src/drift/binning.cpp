#include "seawall/drift/binning.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <numeric>
#include <string_view>

#include "seawall/core/string_table.h"
#include "seawall/core/thread_pool.h"
#include "seawall/errors.h"

namespace seawall::drift {

namespace {

// Evidently switches from one bin per value to Sturges bins above this many reference values.
constexpr int64_t kMaxDistinctForValueBins = 20;
constexpr int64_t kCountGrain = int64_t{1} << 15;

struct Extremes {
  double min = INFINITY;
  double max = -INFINITY;
};

// Rejects empty samples and NaN; returns the sample's extremes.
Extremes scan(const double* x, int64_t n, const char* which) {
  SEAWALL_CHECK(n > 0, "the ", which, " sample is empty");
  Extremes e;
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    SEAWALL_CHECK(!std::isnan(v), "the ", which, " sample holds NaN (first at position ", i,
                  "): drop or impute missing values first");
    e.min = std::min(e.min, v);
    e.max = std::max(e.max, v);
  }
  return e;
}

void check_finite_range(const Extremes& e) {
  SEAWALL_CHECK(std::isfinite(e.min) && std::isfinite(e.max),
                "bin edges cannot be derived from infinite values (range [", e.min, ", ", e.max,
                "]): drop them, or pass explicit edges or bins='values'");
}

bool more_distinct_than(const double* x, int64_t n, int64_t limit) {
  std::vector<double> seen;
  seen.reserve(static_cast<size_t>(limit) + 1);
  for (int64_t i = 0; i < n; ++i) {
    if (std::find(seen.begin(), seen.end(), x[i]) != seen.end()) continue;
    seen.push_back(x[i]);
    if (static_cast<int64_t>(seen.size()) > limit) return true;
  }
  return false;
}

// numpy.linspace(first, last, bins + 1): i * step + first, with the last edge set exactly.
std::vector<double> linspace_edges(double first, double last, int64_t bins) {
  std::vector<double> edges(static_cast<size_t>(bins) + 1);
  if (!std::isfinite(last - first)) {
    // A span wider than float64 holds (numpy overflows here, with a warning, into infinite
    // widths): the same edges computed on halves, which scale back exactly.
    const double step = (last * 0.5 - first * 0.5) / static_cast<double>(bins);
    for (int64_t i = 0; i <= bins; ++i) {
      edges[static_cast<size_t>(i)] = 2.0 * (first * 0.5 + static_cast<double>(i) * step);
    }
    edges.front() = first;
    edges.back() = last;
    return edges;
  }
  const double delta = last - first;
  const double step = delta / static_cast<double>(bins);
  for (int64_t i = 0; i <= bins; ++i) {
    const double y = step == 0.0 ? static_cast<double>(i) / static_cast<double>(bins) * delta
                                 : static_cast<double>(i) * step;
    edges[static_cast<size_t>(i)] = y + first;
  }
  edges.back() = last;
  for (size_t i = 1; i < edges.size(); ++i) {
    SEAWALL_CHECK(edges[i - 1] < edges[i], "too many bins (", bins,
                  ") for the data range: the edges would not be distinct");
  }
  return edges;
}

// Sorted distinct values of a sample with their counts.
void value_counts(const double* x, int64_t n, std::vector<double>* values,
                  std::vector<int64_t>* counts) {
  std::vector<double> sorted(x, x + n);
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i + 1;
    while (j < sorted.size() && sorted[j] == sorted[i]) ++j;
    values->push_back(sorted[i] == 0.0 ? 0.0 : sorted[i]);  // -0.0 and 0.0 are one value
    counts->push_back(static_cast<int64_t>(j - i));
    i = j;
  }
}

Bins bin_by_value(const double* ref, int64_t nref, const double* cur, int64_t ncur) {
  std::vector<double> ref_values, cur_values;
  std::vector<int64_t> ref_counts, cur_counts;
  value_counts(ref, nref, &ref_values, &ref_counts);
  value_counts(cur, ncur, &cur_values, &cur_counts);
  Bins bins;
  size_t i = 0, j = 0;
  while (i < ref_values.size() || j < cur_values.size()) {
    const bool take_ref = j == cur_values.size() ||
                          (i < ref_values.size() && ref_values[i] <= cur_values[j]);
    const bool take_cur = i == ref_values.size() ||
                          (j < cur_values.size() && cur_values[j] <= ref_values[i]);
    bins.values.push_back(take_ref ? ref_values[i] : cur_values[j]);
    bins.counts.reference.push_back(take_ref ? ref_counts[i++] : 0);
    bins.counts.current.push_back(take_cur ? cur_counts[j++] : 0);
  }
  return bins;
}

// numpy.histogram's counts for these edges: bin i holds edges[i] <= x < edges[i+1], the last bin
// also x == edges.back(); values outside go nowhere.
std::vector<int64_t> count_in_edges(const double* x, int64_t n, const std::vector<double>& edges) {
  const int64_t bins = static_cast<int64_t>(edges.size()) - 1;
  std::vector<int64_t> total(static_cast<size_t>(bins), 0);
  std::mutex merge;
  // Guess the bin from the value's position in the range (exact for equal widths up to
  // rounding), then step to the bin the edges themselves say, as numpy.histogram does for uniform
  // bins; far-off guesses (uneven edges) fall back to a binary search. Same counts either way.
  const double first = edges.front();
  const double last = edges.back();
  const double per_unit = last > first ? static_cast<double>(bins) / (last - first) : 0.0;
  const double* e = edges.data();
  parallel_for(n, kCountGrain, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> local(static_cast<size_t>(bins), 0);
    for (int64_t i = begin; i < end; ++i) {
      const double v = x[i];
      if (!(v >= first && v <= last)) continue;
      // pos is NaN (inf * 0) when the range overflows float64: the search below finds the bin.
      const double pos = (v - first) * per_unit;
      int64_t bin = pos < static_cast<double>(bins - 1) ? static_cast<int64_t>(pos) : bins - 1;
      if (bin > 0 && v < e[bin]) --bin;
      if (bin < bins - 1 && v >= e[bin + 1]) ++bin;
      if (v < e[bin] || (bin < bins - 1 && v >= e[bin + 1])) {
        bin = std::upper_bound(e, e + bins + 1, v) - e - 1;
        if (bin == bins) bin = bins - 1;
      }
      ++local[static_cast<size_t>(bin)];
    }
    std::lock_guard<std::mutex> lock(merge);
    for (int64_t b = 0; b < bins; ++b) total[static_cast<size_t>(b)] += local[static_cast<size_t>(b)];
  });
  return total;
}

// numpy.quantile(sorted, q) with the default "linear" method, including its two-sided lerp.
double linear_quantile(const std::vector<double>& sorted, double q) {
  const double last = static_cast<double>(sorted.size() - 1);
  const double virtual_index = last * q;
  if (virtual_index >= last) return sorted.back();
  const double below = std::floor(virtual_index);
  const double gamma = virtual_index - below;
  const double a = sorted[static_cast<size_t>(below)];
  const double b = sorted[static_cast<size_t>(below) + 1];
  const double diff = b - a;
  return gamma >= 0.5 ? b - diff * (1.0 - gamma) : a + diff * gamma;
}

std::vector<double> quantile_edges(const double* ref, int64_t nref, const Extremes& all,
                                   int64_t count) {
  std::vector<double> sorted(ref, ref + nref);
  std::sort(sorted.begin(), sorted.end());
  // The levels are numpy.linspace(0, 1, count + 1).
  const double step = 1.0 / static_cast<double>(count);
  std::vector<double> edges;
  for (int64_t i = 0; i <= count; ++i) {
    const double q = i == count ? 1.0 : static_cast<double>(i) * step;
    edges.push_back(linear_quantile(sorted, q));
  }
  std::sort(edges.begin(), edges.end());
  edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
  edges.front() = std::min(edges.front(), all.min);
  if (edges.size() == 1) edges.push_back(all.max);
  edges.back() = std::max(edges.back(), all.max);
  if (edges.front() == edges.back()) {  // every value equal: numpy's one bin around it
    const double v = edges.front();
    edges = {v - 0.5, v + 0.5};
  }
  return edges;
}

void check_edges(const std::vector<double>& edges) {
  SEAWALL_CHECK(edges.size() >= 2, "bins needs at least two edges, got ", edges.size());
  for (size_t i = 0; i < edges.size(); ++i) {
    SEAWALL_CHECK(!std::isnan(edges[i]), "bin edge ", i, " is NaN");
    SEAWALL_CHECK(i == 0 || edges[i - 1] < edges[i],
                  "bin edges must increase strictly; edge ", i, " (", edges[i],
                  ") is not above edge ", i - 1, " (", edges[i - 1], ")");
  }
}

}  // namespace

std::vector<double> sturges_edges(double min, double max, int64_t size, bool integer_input) {
  SEAWALL_CHECK(size > 0, "Sturges edges need a non-empty sample");
  // numpy: width = ptp / (log2(n) + 1); bins = ceil((last - first) / width), at least 1, where a
  // zero range is widened by 0.5 each side only after the width is taken.
  // A range past float64 (finite values of both signs near its limits) is taken in halves.
  const double scale = std::isfinite(max - min) ? 1.0 : 0.5;
  const double range = max * scale - min * scale;
  double width = range / (std::log2(static_cast<double>(size)) + 1.0);
  double first = min;
  double last = max;
  if (first == last) {
    first -= 0.5;
    last += 0.5;
  }
  int64_t bins = 1;
  if (width != 0.0) {
    if (integer_input && width < 1.0) width = 1.0;
    bins = static_cast<int64_t>(std::ceil((last * scale - first * scale) / width));
  }
  return linspace_edges(first, last, bins);
}

std::vector<double> equal_width_edges(double min, double max, int64_t count) {
  SEAWALL_CHECK(count >= 1, "the number of bins must be positive, got ", count);
  if (min == max) {
    min -= 0.5;
    max += 0.5;
  }
  return linspace_edges(min, max, count);
}

Bins bin_numbers(const double* reference, int64_t reference_size, const double* current,
                 int64_t current_size, const BinSpec& spec) {
  const Extremes ref = scan(reference, reference_size, "reference");
  const Extremes cur = scan(current, current_size, "current");
  const Extremes all{std::min(ref.min, cur.min), std::max(ref.max, cur.max)};

  BinRule rule = spec.rule;
  if (rule == BinRule::kAuto) {
    rule = more_distinct_than(reference, reference_size, kMaxDistinctForValueBins)
               ? BinRule::kSturges
               : BinRule::kValues;
  }

  Bins bins;
  if (rule == BinRule::kValues) {
    bins = bin_by_value(reference, reference_size, current, current_size);
  } else {
    switch (rule) {
      case BinRule::kSturges:
        check_finite_range(all);
        bins.edges = sturges_edges(all.min, all.max, reference_size + current_size,
                                   spec.integer_input);
        break;
      case BinRule::kSturgesDistinct: {
        check_finite_range(all);
        const Bins distinct = bin_by_value(reference, reference_size, current, current_size);
        bins.edges = sturges_edges(all.min, all.max, distinct.counts.size(), spec.integer_input);
        break;
      }
      case BinRule::kCount:
        check_finite_range(all);
        bins.edges = equal_width_edges(all.min, all.max, spec.count);
        break;
      case BinRule::kQuantile:
        SEAWALL_CHECK(spec.count >= 1, "the number of quantile bins must be positive, got ",
                      spec.count);
        check_finite_range(all);
        bins.edges = quantile_edges(reference, reference_size, all, spec.count);
        break;
      case BinRule::kEdges:
        check_edges(spec.edges);
        bins.edges = spec.edges;
        break;
      default:
        throw InvalidInput("unknown binning rule");
    }
    bins.counts.reference = count_in_edges(reference, reference_size, bins.edges);
    bins.counts.current = count_in_edges(current, current_size, bins.edges);
  }
  bins.counts.reference_total = reference_size;
  bins.counts.current_total = current_size;
  return bins;
}

namespace {

void count_strings(const Column& column, const char* which, StringTable* table,
                   std::vector<int64_t>* counts) {
  SEAWALL_CHECK(column.length() > 0, "the ", which, " sample is empty");
  auto count = [&](std::string_view key) {
    const int64_t id = table->insert(key);
    if (id >= static_cast<int64_t>(counts->size())) counts->resize(static_cast<size_t>(id) + 1, 0);
    ++(*counts)[static_cast<size_t>(id)];
  };
  int64_t row = 0;
  for (const ColumnChunk& chunk : column.chunks) {
    SEAWALL_CHECK_TYPE(is_string_like(chunk.type), "the ", which,
                       " sample must hold strings, got ", value_type_name(chunk.type));
    auto check_valid = [&](bool valid, int64_t i) {
      SEAWALL_CHECK(valid, "the ", which, " sample holds a null (first at position ", row + i,
                    "): drop or impute missing values first");
    };
    if (chunk.type == ValueType::kDictionary) {
      const ColumnChunk& dictionary = *chunk.dictionary;
      // Each dictionary entry is looked up once per chunk, not once per row.
      std::vector<int64_t> entry_counts(static_cast<size_t>(dictionary.length), 0);
      for (int64_t i = 0; i < chunk.length; ++i) {
        check_valid(chunk.is_valid(i), i);
        const int64_t index = chunk.dict_index(i);
        SEAWALL_CHECK(index >= 0 && index < dictionary.length, "the ", which,
                      " sample has a dictionary index out of range at position ", row + i);
        ++entry_counts[static_cast<size_t>(index)];
      }
      for (int64_t e = 0; e < dictionary.length; ++e) {
        const int64_t n = entry_counts[static_cast<size_t>(e)];
        if (n == 0) continue;
        SEAWALL_CHECK(dictionary.is_valid(e), "the ", which,
                      " sample holds a null dictionary entry: drop or impute missing values first");
        const int64_t id = table->insert(dictionary.str(e));
        if (id >= static_cast<int64_t>(counts->size())) {
          counts->resize(static_cast<size_t>(id) + 1, 0);
        }
        (*counts)[static_cast<size_t>(id)] += n;
      }
    } else {
      for (int64_t i = 0; i < chunk.length; ++i) {
        check_valid(chunk.is_valid(i), i);
        count(chunk.str(i));
      }
    }
    row += chunk.length;
  }
}

}  // namespace

Bins bin_categories(const Column& reference, const Column& current) {
  StringTable table;
  std::vector<int64_t> ref_counts, cur_counts;
  count_strings(reference, "reference", &table, &ref_counts);
  count_strings(current, "current", &table, &cur_counts);
  const int64_t k = table.size();
  ref_counts.resize(static_cast<size_t>(k), 0);
  cur_counts.resize(static_cast<size_t>(k), 0);

  std::vector<int64_t> order(static_cast<size_t>(k));
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](int64_t a, int64_t b) { return table.key(a) < table.key(b); });
  Bins bins;
  for (const int64_t id : order) {
    bins.categories.emplace_back(table.key(id));
    bins.counts.reference.push_back(ref_counts[static_cast<size_t>(id)]);
    bins.counts.current.push_back(cur_counts[static_cast<size_t>(id)]);
  }
  bins.counts.reference_total = reference.length();
  bins.counts.current_total = current.length();
  return bins;
}

}  // namespace seawall::drift
