// A fitted feature pipeline in native form. Each output feature is a ColumnProgram: one input
// column, an optional imputation, a chain of numeric ops, and optionally one categorical op at the
// end. A Plan runs every program over a table (batch) or over one request's values (one row), and
// both paths call the same per-value code, so they give bit-identical floats.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "seawall/core/column.h"
#include "seawall/core/string_table.h"
#include "seawall/sketch/kll.h"

namespace seawall::transforms {

enum class NumericOpKind : uint8_t { kLog1p, kClip, kScale, kBucketize };

// The scalers (standard, min-max, robust) differ only in how they are fit: at transform time each
// is (x - shift) * (1 / scale), optionally clipped. Multiplying by the reciprocal (within an ulp of
// dividing) keeps the kernel memory-bound rather than divider-bound.
struct NumericOp {
  NumericOpKind kind = NumericOpKind::kScale;
  double shift = 0.0;
  double scale = 1.0;
  bool clip = false;  // kScale only: clip the result to [lower, upper]
  double lower = -std::numeric_limits<double>::infinity();
  double upper = std::numeric_limits<double>::infinity();
  std::vector<double> boundaries;  // kBucketize: sorted; output = number of boundaries <= x
};

struct Imputation {
  bool enabled = false;
  double number = 0.0;     // fill for numeric columns
  std::string text;        // fill for string columns
  bool indicator = false;  // also output 1.0 where the value was missing, else 0.0
};

enum class CategoricalKind : uint8_t { kNone, kCategorify, kOneHot, kHashBucket };

// Categorify's reserved ids; categories follow from kFirstCategoryId in vocabulary order.
inline constexpr int64_t kNullId = 0;
inline constexpr int64_t kUnknownId = 1;
inline constexpr int64_t kInfrequentId = 2;
inline constexpr int64_t kFirstCategoryId = 3;

struct CategoricalOp {
  CategoricalKind kind = CategoricalKind::kNone;
  std::vector<std::string> categories;  // kept, in output order
  std::vector<std::string> infrequent;  // seen when fitting but grouped together
  bool infrequent_column = false;       // OneHot: one output column for the infrequent group
  bool unknown_column = false;          // OneHot: unseen values set an extra column (else all zeros)
  uint64_t buckets = 0;                 // HashBucket: output = xxh64(bytes) % buckets, null = buckets
};

struct ColumnProgram {
  std::string column;  // input column name, used in error messages
  int input = 0;       // index into the columns handed to transform()/collect()
  bool string_input = false;
  Imputation impute;
  std::vector<NumericOp> numeric_ops;
  CategoricalOp categorical;

  // How many output columns this program writes.
  int64_t width() const;
};

// What to gather while fitting the next op of a program (on the values the fitted prefix yields).
struct CollectSpec {
  enum class Quantiles : uint8_t { kNone, kSketch, kExact };
  bool skip_missing = false;   // fitting the imputation itself: missing values are counted, not used
  bool moments = false;        // count, mean, M2, min, max
  Quantiles quantiles = Quantiles::kNone;
  uint32_t sketch_k = sketch::KllSketch::kDefaultK;
  bool number_counts = false;  // frequency of each numeric value (most_frequent imputation)
  bool string_counts = false;  // frequency of each string (vocabularies, most_frequent imputation)
};

// Mergeable statistics of one program's values. Merging partial states in any grouping gives the
// same moments up to rounding; quantile sketches within their stated rank error.
class FitState {
 public:
  FitState() = default;
  explicit FitState(const CollectSpec& spec);

  void merge(const FitState& other);

  // Rows seen, and how many of them were missing (null, or NaN for numbers).
  int64_t rows = 0;
  int64_t missing = 0;
  // Moments of the non-missing values (Chan et al.'s parallel update).
  int64_t count = 0;
  double mean = 0.0;
  double m2 = 0.0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();

  // Quantiles at qs (numpy's 'linear' definition; exact, or from the sketch within its bound).
  std::vector<double> quantiles(const std::vector<double>& qs) const;
  bool exact_quantiles() const { return spec_.quantiles == CollectSpec::Quantiles::kExact; }
  // The most frequent number (smallest on ties); NaN when none was seen.
  double most_frequent_number() const;
  // Distinct strings with their counts, most frequent first, ties by byte order.
  std::vector<std::pair<std::string, int64_t>> string_counts() const;

  // Used by the collecting kernel.
  void add_numbers(const double* v, int64_t n);
  void add_string(std::string_view s, int64_t times = 1);

 private:
  // Pickling (bindings/transforms.cpp): a state travels whole between processes, so that
  // partial states gathered elsewhere merge exactly as local ones do.
  friend struct FitStatePickle;
  CollectSpec spec_;
  std::optional<sketch::KllSketch> sketch_;
  std::vector<double> exact_;
  std::unordered_map<uint64_t, int64_t> number_counts_;  // keyed by the value's bits, -0 as +0
  StringTable strings_;
  std::vector<int64_t> string_counts_;
  void count_string(std::string_view s, int64_t times);
};

// One request's value for one input column.
struct RowValue {
  bool missing = true;
  bool is_text = false;
  double number = 0.0;
  std::string_view text;
};

class Plan {
 public:
  explicit Plan(std::vector<ColumnProgram> programs);

  int64_t width() const { return width_; }
  int64_t num_inputs() const { return num_inputs_; }
  const std::vector<ColumnProgram>& programs() const { return programs_; }

  // Writes rows [0, n) of every program into `out`, row-major n x width(). Multi-threaded.
  // out_is_zeroed promises `out` holds zeros already (fresh calloc'd memory), which saves a pass.
  void transform(const std::vector<Column>& columns, float* out, bool out_is_zeroed = false) const;
  // The same numbers for one row: values[i] is input column i.
  void transform_row(const std::vector<RowValue>& values, float* out) const;
  // Gathers one FitState per program, in program order. Multi-threaded; the result does not
  // depend on the thread count (rows are split at fixed boundaries and merged in order).
  // row_offset is the number of rows before these in the data (a streamed fit passes one batch
  // at a time), so that errors name the row of the whole data.
  std::vector<FitState> collect(const std::vector<Column>& columns,
                                const std::vector<CollectSpec>& specs, int64_t row_offset = 0) const;

 private:
  struct Compiled;
  // Throws unless every program ends in an op that writes output (fit-time plans may not).
  void require_output_ops() const;
  std::vector<ColumnProgram> programs_;
  // A string program without a categorical op: such a plan can collect but not transform.
  int64_t incomplete_ = -1;
  std::vector<int64_t> offsets_;
  std::vector<std::shared_ptr<const Compiled>> compiled_;
  int64_t width_ = 0;
  int64_t num_inputs_ = 0;
};

}  // namespace seawall::transforms
