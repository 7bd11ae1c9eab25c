// Data contracts: one pass over a table's columns that counts, per column, the values that break
// its rules (null, NaN, infinite, below or above a range, outside a string domain, not UTF-8, a
// repeat of an earlier value), with exact counts and the positions of the first failing rows.
//
// A Validator keeps its tallies across batches, so a stream of record batches (or the row groups
// of a Parquet dataset) is validated in one pass with constant memory, except for columns that
// must be unique or whose distinct values are counted: those keep every distinct value seen.
//
// Determinism: each batch is cut into fixed row segments (core/segments.h) whose tallies are
// merged in row order, so counts, row positions and the list of unexpected values do not depend
// on the thread count. Distinct values are split by hash into a fixed number of partitions, each
// checked in row order on its own (equal values always meet in the same partition), which keeps
// every set small enough for the cache and the work spread over the threads.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "seawall/core/column.h"
#include "seawall/core/string_table.h"

namespace seawall::contracts {

__extension__ typedef __int128 Int128;  // exact integer bounds for any 64-bit integer column

enum class ColumnKind : uint8_t { kNumeric = 1, kString = 2 };

// What one column must satisfy. Numbers: every valid value is compared with the bounds; NaN is
// neither below nor above (it has its own count), and infinities are compared like any value.
// Floating-point chunks are compared with float_lo/float_hi, integer chunks with int_lo/int_hi:
// a numeric rule gives both forms of its bounds. Bounds may cross (no integer lies in [0.2, 0.8]):
// then every value fails, as below when under the lower bound, else as above.
struct ColumnRule {
  std::string name;
  ColumnKind kind = ColumnKind::kNumeric;

  // Bounds for floating-point values: a value fails when x < float_lo or x > float_hi.
  // -inf / +inf mean "no bound". The caller rounds an integer bound to the nearest double on the
  // safe side (float_lo: the smallest double >= the bound), so the comparison is exact.
  double float_lo = -std::numeric_limits<double>::infinity();
  double float_hi = std::numeric_limits<double>::infinity();
  // Bounds for integer values, compared exactly whatever the integer type.
  bool has_int_lo = false;
  bool has_int_hi = false;
  Int128 int_lo = 0;
  Int128 int_hi = 0;

  // Strings: the allowed values (checked only when check_domain is set).
  bool check_domain = false;
  std::vector<std::string> domain;

  // Keep every distinct value: flags repeats (unique) and counts distinct values exactly.
  bool track_distinct = false;
};

// The counts a column can fail; the order is the index into ColumnTally::checks.
enum Check : uint8_t {
  kNull = 0,     // null rows
  kNaN,          // NaN values (floating-point columns)
  kPosInf,       // +inf values
  kNegInf,       // -inf values
  kBelow,        // below the lower bound
  kAbove,        // above the upper bound
  kOffDomain,    // strings outside the domain (valid UTF-8 only)
  kInvalidUtf8,  // strings whose bytes are not UTF-8
  kDuplicate,    // a value equal to an earlier row's (null and NaN excluded), when tracked
  kCheckCount
};

const char* check_name(Check check);

struct CheckTally {
  uint64_t count = 0;
  std::vector<int64_t> rows;  // the first `row_limit` failing rows, ascending, as global positions

  void add(int64_t row, size_t row_limit) {
    ++count;
    if (rows.size() < row_limit) rows.push_back(row);
  }
  // Appends a tally of later rows.
  void append(const CheckTally& later, size_t row_limit);
};

// Unexpected string values with exact counts, for the first kMaxValues distinct ones in row
// order; the occurrences of any further value are counted in `other`.
struct OffDomainValues {
  static constexpr int64_t kMaxValues = 1000;
  StringTable values;
  std::vector<uint64_t> counts;
  uint64_t other = 0;

  void add(std::string_view value, uint64_t times);
  void append(const OffDomainValues& later);
};

struct ColumnTally {
  uint64_t rows = 0;
  std::array<CheckTally, kCheckCount> checks;
  OffDomainValues off_domain;
  int64_t distinct = -1;  // exact distinct values (null and NaN excluded), -1 when not tracked

  void append(const ColumnTally& later, size_t row_limit);
};

class Validator {
 public:
  // row_limit: failing rows kept per check and column (0 keeps counts only).
  Validator(std::vector<ColumnRule> rules, size_t row_limit);
  ~Validator();
  Validator(Validator&&) noexcept;
  Validator& operator=(Validator&&) noexcept;

  // Checks one batch: columns[i] is checked against rules[i] (names must match), and row r of
  // the batch is row row_offset + r of the data. Every column must have the same length; string
  // chunks may hold bytes that are not UTF-8 (they are counted, not refused). Throws
  // InvalidInput / TypeMismatch on a malformed call, leaving the tallies as they were unless a
  // column's kind does not match its chunks (checked before anything is counted).
  void update(const std::vector<Column>& columns, int64_t row_offset);

  const std::vector<ColumnRule>& rules() const { return rules_; }
  const std::vector<ColumnTally>& tallies() const { return tallies_; }
  size_t row_limit() const { return row_limit_; }

 private:
  struct Domain;
  struct DistinctState;
  std::vector<ColumnRule> rules_;
  std::vector<std::unique_ptr<Domain>> domains_;          // per rule, when check_domain
  std::vector<ColumnTally> tallies_;
  std::vector<std::unique_ptr<DistinctState>> distinct_;  // per rule, when track_distinct
  size_t row_limit_;
};

}  // namespace seawall::contracts
