#include "seawall/profile/column_profile.h"

#include <algorithm>
#include <cmath>

#include "seawall/core/string_table.h"
#include "seawall/core/segments.h"
#include "seawall/core/thread_pool.h"
#include "seawall/errors.h"

namespace seawall::profile {

namespace {

// Rows read at once: the converted values stay in L1 while every statistic reads them.
constexpr int64_t kBlockRows = 1024;

constexpr double kInf = std::numeric_limits<double>::infinity();

// Folds m non-NaN numbers into p.
void add_numbers(ColumnProfile& p, const double* v, size_t m) {
  if (m == 0) return;
  // Four accumulators: without -ffast-math a single one serialises on the add latency.
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  double lo = p.min;
  double hi = p.max;
  size_t i = 0;
  for (; i + 4 <= m; i += 4) {
    s0 += v[i];
    s1 += v[i + 1];
    s2 += v[i + 2];
    s3 += v[i + 3];
  }
  for (; i < m; ++i) s0 += v[i];
  for (i = 0; i < m; ++i) {
    lo = v[i] < lo ? v[i] : lo;
    hi = v[i] > hi ? v[i] : hi;
  }
  p.min = lo;
  p.max = hi;
  const double sum = (s0 + s1) + (s2 + s3);
  uint64_t finite = 0;
  double mean = 0.0;
  double m2 = 0.0;
  uint64_t pos = 0;
  uint64_t neg = 0;
  if (std::isfinite(sum)) {
    // Two passes over an L1-resident block: the deviations are taken from the block's own mean,
    // so large offsets do not cancel catastrophically.
    finite = m;
    mean = sum / static_cast<double>(m);
    double a0 = 0, a1 = 0;
    for (i = 0; i + 2 <= m; i += 2) {
      const double d0 = v[i] - mean;
      const double d1 = v[i + 1] - mean;
      a0 += d0 * d0;
      a1 += d1 * d1;
    }
    if (i < m) a0 += (v[i] - mean) * (v[i] - mean);
    m2 = a0 + a1;
  } else {
    // Infinities, or finite values whose sum overflowed: Welford, one value at a time.
    for (i = 0; i < m; ++i) {
      const double x = v[i];
      if (x == kInf) {
        ++pos;
      } else if (x == -kInf) {
        ++neg;
      } else {
        ++finite;
        const double d = x - mean;
        mean += d / static_cast<double>(finite);
        m2 += d * (x - mean);
      }
    }
  }
  uint64_t n = p.finite_count();
  merge_moments(n, p.finite_mean, p.finite_m2, finite, mean, m2);
  p.count += m;
  p.pos_inf += pos;
  p.neg_inf += neg;
  // Hashes first, registers after: the hash loop then has no store in it that might alias.
  uint64_t hashes[kBlockRows];
  for (size_t b = 0; b < m; b += kBlockRows) {
    const size_t e = std::min(m, b + kBlockRows);
    for (i = b; i < e; ++i) hashes[i - b] = hash_double(v[i]);
    for (i = b; i < e; ++i) p.distinct.add_hash(hashes[i - b]);
  }
  p.sketch.update(v, m);
}

void profile_numeric_segment(const Column& column, const std::vector<int64_t>& starts,
                             int64_t begin, int64_t end, ColumnProfile& p) {
  double values[kBlockRows];
  uint8_t missing[kBlockRows];
  double kept[kBlockRows];
  for (int64_t b0 = begin; b0 < end; b0 += kBlockRows) {
    const int64_t b1 = std::min(end, b0 + kBlockRows);
    const int64_t n = b1 - b0;
    for_each_piece(column, starts, b0, b1,
                   [&](const ColumnChunk& chunk, int64_t lb, int64_t le, int64_t gb) {
      read_numeric(chunk, lb, le, values + (gb - b0), missing + (gb - b0));
    });
    size_t m = 0;
    uint64_t nulls = 0;
    uint64_t nans = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double x = values[i];
      const bool null = missing[i] != 0;
      const bool nan = !null && x != x;
      nulls += null;
      nans += nan;
      kept[m] = x;
      m += (null || nan) ? 0 : 1;
    }
    p.rows += n;
    p.nulls += nulls;
    p.nans += nans;
    add_numbers(p, kept, m);
  }
}

void profile_string_segment(const Column& column, const std::vector<int64_t>& starts,
                            int64_t begin, int64_t end, ColumnProfile& p) {
  // Exact counts for the segment first: hashing and summarising each distinct value once.
  StringTable table;
  std::vector<uint64_t> counts;
  uint64_t nulls = 0;
  auto add = [&](std::string_view s, uint64_t times) {
    const int64_t id = table.insert(s);
    if (id == static_cast<int64_t>(counts.size())) counts.push_back(0);
    counts[id] += times;
  };
  for_each_piece(column, starts, begin, end,
                 [&](const ColumnChunk& chunk, int64_t lb, int64_t le, int64_t) {
    if (chunk.type == ValueType::kDictionary) {
      const ColumnChunk& dict = *chunk.dictionary;
      std::vector<uint64_t> by_index(dict.length, 0);
      for (int64_t i = lb; i < le; ++i) {
        if (!chunk.is_valid(i)) {
          ++nulls;
          continue;
        }
        const int64_t idx = chunk.dict_index(i);
        SEAWALL_CHECK(idx >= 0 && idx < dict.length, "column '", column.name,
                      "': dictionary index ", idx, " out of range");
        if (dict.is_valid(idx)) {
          ++by_index[idx];
        } else {
          ++nulls;
        }
      }
      for (int64_t d = 0; d < dict.length; ++d) {
        if (by_index[d] > 0) add(dict.str(d), by_index[d]);
      }
      return;
    }
    for (int64_t i = lb; i < le; ++i) {
      if (chunk.is_valid(i)) {
        add(chunk.str(i), 1);
      } else {
        ++nulls;
      }
    }
  });
  p.rows += end - begin;
  p.nulls += nulls;
  for (int64_t id = 0; id < table.size(); ++id) {
    p.count += counts[id];
    p.distinct.add_bytes(table.key(id));
    p.frequent.add(table.key(id), counts[id]);
  }
  p.frequent.prune();
}

}  // namespace

const char* column_kind_name(ColumnKind kind) {
  return kind == ColumnKind::kNumeric ? "numeric" : "string";
}

void ProfileOptions::check() const {
  SEAWALL_CHECK(sketch_k >= sketch::KllSketch::kMinK && sketch_k <= kMaxSketchK,
                "profile: sketch_k must be in [", sketch::KllSketch::kMinK, ", ", kMaxSketchK,
                "], got ", sketch_k);
  SEAWALL_CHECK(hll_precision >= HyperLogLog::kMinPrecision &&
                    hll_precision <= HyperLogLog::kMaxPrecision,
                "profile: hll_precision must be in [", int(HyperLogLog::kMinPrecision), ", ",
                int(HyperLogLog::kMaxPrecision), "], got ", int(hll_precision));
  SEAWALL_CHECK(top_k >= 1 && top_k <= FrequentItems::kMaxCapacity, "profile: top_k must be in [1, ",
                FrequentItems::kMaxCapacity, "], got ", top_k);
}

ColumnProfile::ColumnProfile(std::string name_, ColumnKind kind_, const ProfileOptions& options_)
    : name(std::move(name_)),
      kind(kind_),
      options(options_),
      sketch(options_.sketch_k),
      distinct(options_.hll_precision),
      frequent(options_.top_k) {
  options.check();
}

void merge_moments(uint64_t& n, double& mean, double& m2, uint64_t nb, double mb, double m2b) {
  if (nb == 0) return;
  if (n == 0) {
    n = nb;
    mean = mb;
    m2 = m2b;
    return;
  }
  const double na_d = static_cast<double>(n);
  const double nb_d = static_cast<double>(nb);
  const double total = na_d + nb_d;
  const double delta = mb - mean;
  mean += delta * (nb_d / total);
  m2 += m2b + delta * delta * (na_d * nb_d / total);
  n += nb;
}

void ColumnProfile::merge(const ColumnProfile& other) {
  SEAWALL_CHECK(other.name == name, "profile: cannot merge column '", other.name, "' into '", name, "'");
  SEAWALL_CHECK_TYPE(other.kind == kind, "column '", name, "' is ", column_kind_name(kind),
                     " in one profile and ", column_kind_name(other.kind), " in the other");
  SEAWALL_CHECK(other.options == options, "column '", name,
                "': profiles made with different options (sketch_k, hll_precision, top_k) cannot be merged");
  SEAWALL_CHECK(other.rows <= std::numeric_limits<uint64_t>::max() - rows, "profile: row count overflow");
  if (&other == this) {
    const ColumnProfile copy(other);
    merge(copy);
    return;
  }
  uint64_t n = finite_count();
  merge_moments(n, finite_mean, finite_m2, other.finite_count(), other.finite_mean, other.finite_m2);
  rows += other.rows;
  nulls += other.nulls;
  nans += other.nans;
  count += other.count;
  pos_inf += other.pos_inf;
  neg_inf += other.neg_inf;
  min = std::min(min, other.min);
  max = std::max(max, other.max);
  if (kind == ColumnKind::kNumeric) sketch.merge(other.sketch);
  distinct.merge(other.distinct);
  if (kind == ColumnKind::kString) frequent.merge(other.frequent);
}

double ColumnProfile::mean() const {
  if (count == 0) return std::nan("");
  if (pos_inf > 0 && neg_inf > 0) return std::nan("");
  if (pos_inf > 0) return kInf;
  if (neg_inf > 0) return -kInf;
  return finite_mean;
}

double ColumnProfile::variance() const {
  if (count == 0 || pos_inf > 0 || neg_inf > 0) return std::nan("");
  return finite_m2 / static_cast<double>(count);
}

std::vector<ColumnProfile> profile_columns(const std::vector<Column>& columns,
                                           const std::vector<ColumnKind>& kinds,
                                           const ProfileOptions& options) {
  options.check();
  SEAWALL_CHECK(kinds.size() == columns.size(), "profile: one kind per column is needed");
  const int64_t rows = columns.empty() ? 0 : columns.front().length();
  for (size_t c = 0; c < columns.size(); ++c) {
    SEAWALL_CHECK(columns[c].length() == rows, "column '", columns[c].name, "' has ",
                  columns[c].length(), " rows, but '", columns.front().name, "' has ", rows);
    for (const auto& chunk : columns[c].chunks) {
      SEAWALL_CHECK_TYPE(is_string_like(chunk.type) == (kinds[c] == ColumnKind::kString),
                         "column '", columns[c].name, "': expected ",
                         kinds[c] == ColumnKind::kString ? "strings" : "numbers", ", got ",
                         value_type_name(chunk.type));
    }
  }
  std::vector<std::vector<int64_t>> starts;
  for (const auto& c : columns) starts.push_back(chunk_starts(c));
  const int64_t ncols = static_cast<int64_t>(columns.size());
  std::vector<ColumnProfile> out = collect_by_segments<ColumnProfile>(
      ncols, rows,
      [&](int64_t c) { return ColumnProfile(columns[c].name, kinds[c], options); },
      [&](int64_t c, int64_t begin, int64_t end, ColumnProfile& part) {
        if (kinds[c] == ColumnKind::kNumeric) {
          profile_numeric_segment(columns[c], starts[c], begin, end, part);
        } else {
          profile_string_segment(columns[c], starts[c], begin, end, part);
        }
      });
  return out;
}

}  // namespace seawall::profile
