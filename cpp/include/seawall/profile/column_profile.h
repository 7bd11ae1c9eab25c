// Data profiles: per-column summaries gathered in one pass, mergeable, and of a size that does not
// depend on the number of rows. A numeric column keeps counts, moments (count/mean/M2, merged with
// Chan et al.'s formula), min/max, a KLL quantile sketch and a HyperLogLog; a string column keeps
// counts, a HyperLogLog and a Misra–Gries summary of its frequent values.
//
// Conventions for numbers: null and NaN are counted apart (nulls, nans) and excluded from
// everything else. +-inf are values: they count in count, min, max, the sketch and the distinct
// estimate; the moments are kept over the finite values, and mean()/variance() then follow
// numpy.nanmean/nanvar (inf when +inf is present, NaN with both signs, variance NaN with any).
//
// Determinism: a batch is split into fixed row segments (whatever the thread count) whose partial
// profiles are merged in order, so the same batch gives a bit-identical profile on any machine
// with any number of threads.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "seawall/core/column.h"
#include "seawall/profile/frequent_items.h"
#include "seawall/profile/hyperloglog.h"
#include "seawall/sketch/kll.h"

namespace seawall::profile {

enum class ColumnKind : uint8_t { kNumeric = 1, kString = 2 };
const char* column_kind_name(ColumnKind kind);

struct ProfileOptions {
  // Bounded so that a numeric column stays within 64 KiB serialized whatever the options.
  static constexpr uint32_t kMaxSketchK = 1024;
  uint32_t sketch_k = sketch::KllSketch::kDefaultK;
  uint8_t hll_precision = HyperLogLog::kDefaultPrecision;
  uint32_t top_k = FrequentItems::kDefaultCapacity;

  // Throws InvalidInput for out-of-range options.
  void check() const;
  bool operator==(const ProfileOptions& o) const {
    return sketch_k == o.sketch_k && hll_precision == o.hll_precision && top_k == o.top_k;
  }
};

class ColumnProfile {
 public:
  ColumnProfile(std::string name, ColumnKind kind, const ProfileOptions& options);

  // Folds `other` in. Throws TypeMismatch if the kinds differ, InvalidInput if the names or the
  // options differ.
  void merge(const ColumnProfile& other);

  std::string name;
  ColumnKind kind;
  ProfileOptions options;

  uint64_t rows = 0;   // every row, null or not
  uint64_t nulls = 0;  // null rows
  uint64_t nans = 0;   // NaN values (numeric columns)
  uint64_t count = 0;  // the rest: values that count (numbers including +-inf, or strings)
  uint64_t pos_inf = 0;
  uint64_t neg_inf = 0;
  // Moments of the finite values (count - pos_inf - neg_inf of them).
  double finite_mean = 0.0;
  double finite_m2 = 0.0;
  double min = std::numeric_limits<double>::infinity();  // +inf / -inf while count == 0
  double max = -std::numeric_limits<double>::infinity();

  sketch::KllSketch sketch;  // numeric columns only
  HyperLogLog distinct;
  FrequentItems frequent;  // string columns only

  uint64_t finite_count() const { return count - pos_inf - neg_inf; }
  // numpy.nanmean / numpy.nanvar (ddof=0) semantics; NaN when there is no value.
  double mean() const;
  double variance() const;
};

// Chan, Golub & LeVeque's pairwise update: folds (nb, mb, m2b) into (n, mean, m2).
void merge_moments(uint64_t& n, double& mean, double& m2, uint64_t nb, double mb, double m2b);

// One profile per column, columns[i] of kinds[i]. Every column must have the same number of rows.
// Throws TypeMismatch when a column's chunks do not fit its kind. Multi-threaded; the result does
// not depend on the thread count.
std::vector<ColumnProfile> profile_columns(const std::vector<Column>& columns,
                                           const std::vector<ColumnKind>& kinds,
                                           const ProfileOptions& options);

// Compact little-endian binary form of a whole profile (all integers little-endian):
//   0 char[4] magic "SWPF"   4 u16 format version (1)   6 u16 reserved (0)   8 u64 body size B
//   16 body (B bytes)        16 + B u64 XXH64 (seed 0) of the body
// body: u32 sketch_k, u8 hll_precision, u32 top_k, u32 number of columns, then per column a
// section: u32 section size S, then S bytes:
//   u32 name size, name bytes, u8 kind, u64 rows, nulls, nans, count, pos_inf, neg_inf,
//   f64 finite_mean, finite_m2, min, max, u8 precision + 2^p registers,
//   numeric: u32 sketch size + KllSketch::serialize() bytes;
//   string: u64 total, u32 entries, then per entry u32 size, bytes, u64 count.
constexpr uint16_t kProfileFormatVersion = 1;
std::vector<uint8_t> serialize_profile(const std::vector<ColumnProfile>& columns,
                                       const ProfileOptions& options);
// Validates everything (magic, version, sizes, checksum, each section's invariants): any
// malformed, truncated or trailing input throws CorruptState, never undefined behaviour.
std::vector<ColumnProfile> deserialize_profile(const uint8_t* data, size_t size,
                                               ProfileOptions* options);

}  // namespace seawall::profile
