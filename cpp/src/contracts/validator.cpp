#include "seawall/contracts/validator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "contracts/domain_set_internal.h"
#include "core/simd_internal.h"
#include "contracts/value_set_internal.h"
#include "seawall/core/segments.h"
#include "seawall/core/thread_pool.h"
#include "seawall/core/utf8.h"
#include "seawall/errors.h"

namespace seawall::contracts {

namespace {

// Rows checked at once on the fast path: a block without a failure costs a few vector
// instructions; only the rows of a block with one are looked at one by one.
constexpr int64_t kBlock = 64;

// How a dictionary's entries read: the same for every row that points at one.
enum Verdict : uint8_t { kOk = 0, kVerdictOffDomain = 1, kVerdictInvalidUtf8 = 2, kVerdictNull = 3 };

// A bound of an integer column in the column's own type: none, every value fails, or a value to
// compare with.
template <typename T>
struct IntBounds {
  bool check_lo = false, check_hi = false;
  bool all_below = false, all_above = false;
  T lo = std::numeric_limits<T>::lowest();
  T hi = std::numeric_limits<T>::max();

  explicit IntBounds(const ColumnRule& r) {
    const Int128 tmin = static_cast<Int128>(std::numeric_limits<T>::lowest());
    const Int128 tmax = static_cast<Int128>(std::numeric_limits<T>::max());
    if (r.has_int_lo && r.int_lo > tmin) {
      if (r.int_lo > tmax) {
        all_below = true;
      } else {
        check_lo = true;
        lo = static_cast<T>(r.int_lo);
      }
    }
    if (r.has_int_hi && r.int_hi < tmax) {
      if (r.int_hi < tmin) {
        all_above = true;
      } else {
        check_hi = true;
        hi = static_cast<T>(r.int_hi);
      }
    }
  }
};

// Values of n <= kBlock rows that fail: outside [lo, hi], NaN or infinite (floats), what a null
// slot holds included (the rows of a block with any are looked at again, validity first).
template <typename T>
inline uint32_t count_fails(const T* x, int64_t n, T lo, T hi) {
  uint32_t fails = 0;
  for (int64_t k = 0; k < n; ++k) {
    if constexpr (std::is_floating_point_v<T>) {
      // d - d is 0 for finite d, NaN for NaN and +-inf
      fails += !((x[k] >= lo) & (x[k] <= hi) & (x[k] - x[k] == T(0)));
    } else {
      fails += (x[k] < lo) | (x[k] > hi);
    }
  }
  return fails;
}

// The hot element types get their own AVX2 clone.
SEAWALL_SIMD_CLONES uint32_t count_fails_f64(const double* x, int64_t n, double lo, double hi) {
  return count_fails(x, n, lo, hi);
}
SEAWALL_SIMD_CLONES uint32_t count_fails_f32(const float* x, int64_t n, float lo, float hi) {
  return count_fails(x, n, lo, hi);
}
SEAWALL_SIMD_CLONES uint32_t count_fails_i64(const int64_t* x, int64_t n, int64_t lo, int64_t hi) {
  return count_fails(x, n, lo, hi);
}
SEAWALL_SIMD_CLONES uint32_t count_fails_i32(const int32_t* x, int64_t n, int32_t lo, int32_t hi) {
  return count_fails(x, n, lo, hi);
}

template <typename T>
inline uint32_t block_fails(const T* x, int64_t n, T lo, T hi) {
  if constexpr (std::is_same_v<T, double>) return count_fails_f64(x, n, lo, hi);
  if constexpr (std::is_same_v<T, float>) return count_fails_f32(x, n, lo, hi);
  if constexpr (std::is_same_v<T, int64_t>) return count_fails_i64(x, n, lo, hi);
  if constexpr (std::is_same_v<T, int32_t>) return count_fails_i32(x, n, lo, hi);
  return count_fails(x, n, lo, hi);
}

// The smallest T >= x, and the largest T <= x (T double: x itself).
template <typename T>
T round_up(double x) {
  if constexpr (std::is_same_v<T, double>) {
    return x;
  } else {
    constexpr double kMax = std::numeric_limits<T>::max();
    if (x > kMax) return std::numeric_limits<T>::infinity();
    if (x < -kMax) return -std::numeric_limits<T>::max();
    T f = static_cast<T>(x);
    return static_cast<double>(f) < x ? std::nextafter(f, std::numeric_limits<T>::infinity()) : f;
  }
}
template <typename T>
T round_down(double x) {
  if constexpr (std::is_same_v<T, double>) {
    return x;
  } else {
    constexpr double kMax = std::numeric_limits<T>::max();
    if (x < -kMax) return -std::numeric_limits<T>::infinity();
    if (x > kMax) return std::numeric_limits<T>::max();
    T f = static_cast<T>(x);
    return static_cast<double>(f) > x ? std::nextafter(f, -std::numeric_limits<T>::infinity()) : f;
  }
}

// The validity bits of rows [start, start + n) of a bitmap, n <= 64, as one word (bit k: row
// start + k). Reads only the bytes that hold those bits.
inline uint64_t validity_word(const uint8_t* bitmap, int64_t start, int64_t n) {
  const uint8_t* p = bitmap + (start >> 3);
  const int shift = static_cast<int>(start & 7);
  const int64_t bytes = (shift + n + 7) >> 3;
  uint64_t w = 0;
  for (int64_t k = 0; k < std::min<int64_t>(bytes, 8); ++k) w |= static_cast<uint64_t>(p[k]) << (8 * k);
  w >>= shift;
  if (bytes > 8) w |= static_cast<uint64_t>(p[8]) << (64 - shift);
  return n == 64 ? w : w & ((uint64_t{1} << n) - 1);
}

inline uint64_t all_rows(int64_t n) { return n == 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1; }

// Numbers of type T in rows [lb, le) of chunk `c`; global row of lb is `row0`. A block whose
// values all pass and that has no null is settled by the fast test; the rows of the others are
// sorted into their checks one by one.
template <typename T>
void scan_integers(const ColumnChunk& c, int64_t lb, int64_t le, int64_t row0,
                   const IntBounds<T>& b, ColumnTally& t, size_t limit) {
  const T* v = static_cast<const T*>(c.values) + c.offset;
  const bool every_value_fails = b.all_below || b.all_above;
  for (int64_t b0 = lb; b0 < le; b0 += kBlock) {
    const int64_t n = std::min(le, b0 + kBlock) - b0;
    const uint64_t valid = c.validity == nullptr ? all_rows(n) : validity_word(c.validity, c.offset + b0, n);
    if (!every_value_fails && valid == all_rows(n) && block_fails<T>(v + b0, n, b.lo, b.hi) == 0) {
      continue;
    }
    for (int64_t k = 0; k < n; ++k) {
      const int64_t row = row0 + (b0 + k - lb);
      const T x = v[b0 + k];
      if (!((valid >> k) & 1)) {
        t.checks[kNull].add(row, limit);
      } else if (b.all_below || (b.check_lo && x < b.lo)) {
        t.checks[kBelow].add(row, limit);
      } else if (b.all_above || (b.check_hi && x > b.hi)) {
        t.checks[kAbove].add(row, limit);
      }
    }
  }
}

template <typename T>
void scan_floats(const ColumnChunk& c, int64_t lb, int64_t le, int64_t row0, double lo, double hi,
                 ColumnTally& t, size_t limit) {
  const T* v = static_cast<const T*>(c.values) + c.offset;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  // The bounds in the column's own type, rounded inwards: a value the fast test passes also
  // passes the exact test in double below.
  const T flo = round_up<T>(lo);
  const T fhi = round_down<T>(hi);
  for (int64_t b0 = lb; b0 < le; b0 += kBlock) {
    const int64_t n = std::min(le, b0 + kBlock) - b0;
    const uint64_t valid = c.validity == nullptr ? all_rows(n) : validity_word(c.validity, c.offset + b0, n);
    if (valid == all_rows(n) && block_fails<T>(v + b0, n, flo, fhi) == 0) continue;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t row = row0 + (b0 + k - lb);
      const double d = static_cast<double>(v[b0 + k]);
      if (!((valid >> k) & 1)) {
        t.checks[kNull].add(row, limit);
        continue;
      }
      if (d != d) {
        t.checks[kNaN].add(row, limit);
        continue;
      }
      if (d == kInf) t.checks[kPosInf].add(row, limit);
      if (d == -kInf) t.checks[kNegInf].add(row, limit);
      if (d < lo) {
        t.checks[kBelow].add(row, limit);
      } else if (d > hi) {
        t.checks[kAbove].add(row, limit);
      }
    }
  }
}

void scan_numbers(const ColumnChunk& c, int64_t lb, int64_t le, int64_t row0, const ColumnRule& r,
                  ColumnTally& t, size_t limit) {
  switch (c.type) {
    case ValueType::kInt8: return scan_integers<int8_t>(c, lb, le, row0, IntBounds<int8_t>(r), t, limit);
    case ValueType::kInt16: return scan_integers<int16_t>(c, lb, le, row0, IntBounds<int16_t>(r), t, limit);
    case ValueType::kInt32: return scan_integers<int32_t>(c, lb, le, row0, IntBounds<int32_t>(r), t, limit);
    case ValueType::kInt64: return scan_integers<int64_t>(c, lb, le, row0, IntBounds<int64_t>(r), t, limit);
    case ValueType::kUInt8: return scan_integers<uint8_t>(c, lb, le, row0, IntBounds<uint8_t>(r), t, limit);
    case ValueType::kUInt16: return scan_integers<uint16_t>(c, lb, le, row0, IntBounds<uint16_t>(r), t, limit);
    case ValueType::kUInt32: return scan_integers<uint32_t>(c, lb, le, row0, IntBounds<uint32_t>(r), t, limit);
    case ValueType::kUInt64: return scan_integers<uint64_t>(c, lb, le, row0, IntBounds<uint64_t>(r), t, limit);
    case ValueType::kFloat32: return scan_floats<float>(c, lb, le, row0, r.float_lo, r.float_hi, t, limit);
    case ValueType::kFloat64: return scan_floats<double>(c, lb, le, row0, r.float_lo, r.float_hi, t, limit);
    default: throw TypeMismatch(detail::concat("column '", r.name, "': a ", value_type_name(c.type),
                                               " chunk is not numeric"));
  }
}

// Strings in rows [lb, le) of a plain (not dictionary) chunk.
void scan_strings(const ColumnChunk& c, int64_t lb, int64_t le, int64_t row0,
                  const internal::DomainSet* domain, ColumnTally& t, size_t limit) {
  const bool all_utf8 = first_invalid_utf8(c, lb, le) < 0;
  if (all_utf8 && domain == nullptr) {
    if (c.validity == nullptr) return;
    for (int64_t i = lb; i < le; ++i) {
      if (!c.is_valid(i)) t.checks[kNull].add(row0 + (i - lb), limit);
    }
    return;
  }
  for (int64_t i = lb; i < le; ++i) {
    const int64_t row = row0 + (i - lb);
    if (!c.is_valid(i)) {
      t.checks[kNull].add(row, limit);
      continue;
    }
    const std::string_view s = c.str(i);
    if (!all_utf8 && !is_valid_utf8(s)) {
      t.checks[kInvalidUtf8].add(row, limit);
    } else if (domain != nullptr && !domain->contains(s)) {
      t.checks[kOffDomain].add(row, limit);
      t.off_domain.add(s, 1);
    }
  }
}

// Rows [lb, le) of a dictionary chunk whose entries' verdicts are known.
void scan_dictionary(const ColumnChunk& c, int64_t lb, int64_t le, int64_t row0,
                     const std::vector<uint8_t>& verdicts, ColumnTally& t, size_t limit) {
  const ColumnChunk& dict = *c.dictionary;
  for (int64_t i = lb; i < le; ++i) {
    const int64_t row = row0 + (i - lb);
    if (!c.is_valid(i)) {
      t.checks[kNull].add(row, limit);
      continue;
    }
    const int64_t idx = c.dict_index(i);
    switch (verdicts[idx]) {
      case kOk: break;
      case kVerdictNull: t.checks[kNull].add(row, limit); break;
      case kVerdictInvalidUtf8: t.checks[kInvalidUtf8].add(row, limit); break;
      case kVerdictOffDomain:
        t.checks[kOffDomain].add(row, limit);
        t.off_domain.add(dict.str(idx), 1);
        break;
      default: break;
    }
  }
}

// Checks the dictionary's indices (every one points at an entry) and reads each entry once.
std::vector<uint8_t> dictionary_verdicts(const ColumnChunk& c, const std::string& name,
                                         const internal::DomainSet* domain) {
  const ColumnChunk& dict = *c.dictionary;
  for (int64_t i = 0; i < c.length; ++i) {
    if (!c.is_valid(i)) continue;
    const int64_t idx = c.dict_index(i);
    SEAWALL_CHECK(idx >= 0 && idx < dict.length, "column '", name, "': dictionary index ", idx,
                  " out of range");
  }
  std::vector<uint8_t> verdicts(static_cast<size_t>(dict.length), kOk);
  for (int64_t d = 0; d < dict.length; ++d) {
    if (!dict.is_valid(d)) {
      verdicts[d] = kVerdictNull;
    } else if (!is_valid_utf8(dict.str(d))) {
      verdicts[d] = kVerdictInvalidUtf8;
    } else if (domain != nullptr && !domain->contains(dict.str(d))) {
      verdicts[d] = kVerdictOffDomain;
    }
  }
  return verdicts;
}

// --- distinct values ---------------------------------------------------------------------------

// Distinct values are split into this many partitions by the top bits of their hash.
constexpr int kParts = 64;
constexpr int kPartShift = 58;
constexpr uint8_t kNoValue = 0xFF;  // a null or NaN row: no value to repeat

// Whether row i of a chunk holds a value that can repeat (not null, not a null dictionary entry,
// not NaN).
bool has_value(const ColumnChunk& c, int64_t i) {
  if (!c.is_valid(i)) return false;
  if (c.type == ValueType::kDictionary) return c.dictionary->is_valid(c.dict_index(i));
  if (c.type == ValueType::kFloat32 || c.type == ValueType::kFloat64) {
    const double x = numeric_value(c, i);
    return x == x;
  }
  return true;
}

std::string_view string_at(const ColumnChunk& c, int64_t i) {
  return c.type == ValueType::kDictionary ? c.dictionary->str(c.dict_index(i)) : c.str(i);
}

internal::NumberKey number_at(const ColumnChunk& c, int64_t i) {
  const int64_t j = i + c.offset;
  using internal::NumberKey;
  switch (c.type) {
    case ValueType::kInt8: return NumberKey::of_signed(static_cast<const int8_t*>(c.values)[j]);
    case ValueType::kInt16: return NumberKey::of_signed(static_cast<const int16_t*>(c.values)[j]);
    case ValueType::kInt32: return NumberKey::of_signed(static_cast<const int32_t*>(c.values)[j]);
    case ValueType::kInt64: return NumberKey::of_signed(static_cast<const int64_t*>(c.values)[j]);
    case ValueType::kUInt8: return NumberKey::of_unsigned(static_cast<const uint8_t*>(c.values)[j]);
    case ValueType::kUInt16: return NumberKey::of_unsigned(static_cast<const uint16_t*>(c.values)[j]);
    case ValueType::kUInt32: return NumberKey::of_unsigned(static_cast<const uint32_t*>(c.values)[j]);
    case ValueType::kUInt64: return NumberKey::of_unsigned(static_cast<const uint64_t*>(c.values)[j]);
    default: return NumberKey::of_double(numeric_value(c, i));
  }
}


}  // namespace

struct Validator::Domain {
  internal::DomainSet set;
};

// Every distinct value of a column seen so far, in kParts partitions by hash, and the batch
// being checked: each segment's values sorted into partitions (in row order), so that each
// partition then reads its own values in row order, from memory laid out for it.
struct Validator::DistinctState {
  // A value of a segment; `row` counts from the segment's first row (segments are shorter than
  // 2^32 rows), which keeps the entries small: they are written and read once per value.
  struct NumberEntry {
    uint64_t key;
    uint32_t row;
    uint8_t tag;
  };
  struct StringEntry {
    uint64_t hash;
    const char* data;
    uint32_t size;
    uint32_t row;
  };

  std::vector<internal::NumberSet> numbers = std::vector<internal::NumberSet>(kParts);
  std::vector<StringTable> strings = std::vector<StringTable>(kParts);
  // per segment, per partition
  std::vector<std::vector<std::vector<NumberEntry>>> number_entries;
  std::vector<std::vector<std::vector<StringEntry>>> string_entries;
  std::vector<CheckTally> repeats = std::vector<CheckTally>(kParts);

  uint64_t size() const {
    uint64_t n = 0;
    for (const auto& s : numbers) n += s.size();
    for (const auto& s : strings) n += static_cast<uint64_t>(s.size());
    return n;
  }

  void start_batch(int64_t segments, bool is_string) {
    if (is_string) {
      string_entries.assign(static_cast<size_t>(segments), std::vector<std::vector<StringEntry>>(kParts));
    } else {
      number_entries.assign(static_cast<size_t>(segments), std::vector<std::vector<NumberEntry>>(kParts));
    }
    for (CheckTally& r : repeats) r = CheckTally();
  }

  // Sorts rows [lb, le) of a chunk (batch rows gb..., segment rows from seg_row) into the
  // segment's partitions.
  void sort_piece(const ColumnChunk& c, int64_t lb, int64_t le, int64_t seg_row,
                  int64_t segment) {
    const int64_t expected = (le - lb) / kParts + (le - lb) / (4 * kParts) + 8;
    if (is_string_like(c.type)) {
      auto& parts = string_entries[segment];
      for (auto& p : parts) p.reserve(p.size() + static_cast<size_t>(expected));
      for (int64_t i = lb; i < le; ++i) {
        if (!has_value(c, i)) continue;
        const std::string_view v = string_at(c, i);
        const uint64_t h = StringTable::hash(v);
        parts[h >> kPartShift].push_back({h, v.data(), static_cast<uint32_t>(v.size()),
                                          static_cast<uint32_t>(seg_row + (i - lb))});
      }
      return;
    }
    auto& parts = number_entries[segment];
    for (auto& p : parts) p.reserve(p.size() + static_cast<size_t>(expected));
    for (int64_t i = lb; i < le; ++i) {
      if (!has_value(c, i)) continue;
      const internal::NumberKey k = number_at(c, i);
      parts[k.hash() >> kPartShift].push_back({k.key, static_cast<uint32_t>(seg_row + (i - lb)), k.tag});
    }
  }

  // Inserts partition `part`'s values in row order; a value already there is a repeat.
  void insert(int part, int64_t row_offset, size_t limit) {
    CheckTally& found = repeats[part];
    if (!string_entries.empty()) {
      int64_t keys = 0, bytes = 0;
      for (const auto& seg : string_entries) {
        keys += static_cast<int64_t>(seg[part].size());
        for (const StringEntry& e : seg[part]) bytes += e.size;
      }
      StringTable& table = strings[part];
      table.reserve(table.size() + keys, bytes);  // the arena: a lower bound is enough
      for (size_t s = 0; s < string_entries.size(); ++s) {
        const int64_t first = row_offset + static_cast<int64_t>(s) * kSegmentRows;
        for (const StringEntry& e : string_entries[s][part]) {
          const int64_t before = table.size();
          if (table.insert(std::string_view(e.data, e.size), e.hash) != before) {
            found.add(first + e.row, limit);
          }
        }
      }
      return;
    }
    uint64_t keys = 0;
    for (const auto& seg : number_entries) keys += seg[part].size();
    internal::NumberSet& set = numbers[part];
    set.reserve(set.size() + keys);
    for (size_t s = 0; s < number_entries.size(); ++s) {
      const int64_t first = row_offset + static_cast<int64_t>(s) * kSegmentRows;
      for (const NumberEntry& e : number_entries[s][part]) {
        const internal::NumberKey k{e.key, e.tag};
        if (!set.insert(k, k.hash())) found.add(first + e.row, limit);
      }
    }
  }

  // The batch's repeats, in row order, appended to the column's.
  void finish_batch(CheckTally& total, size_t limit) {
    std::vector<int64_t> rows;
    for (const CheckTally& r : repeats) {
      total.count += r.count;
      rows.insert(rows.end(), r.rows.begin(), r.rows.end());
    }
    std::sort(rows.begin(), rows.end());
    for (const int64_t row : rows) {
      if (total.rows.size() >= limit) break;
      total.rows.push_back(row);
    }
    number_entries = {};
    string_entries = {};
  }
};

const char* check_name(Check check) {
  switch (check) {
    case kNull: return "null";
    case kNaN: return "nan";
    case kPosInf: return "pos_inf";
    case kNegInf: return "neg_inf";
    case kBelow: return "below";
    case kAbove: return "above";
    case kOffDomain: return "off_domain";
    case kInvalidUtf8: return "invalid_utf8";
    case kDuplicate: return "duplicate";
    case kCheckCount: break;
  }
  return "unknown";
}

void CheckTally::append(const CheckTally& later, size_t row_limit) {
  count += later.count;
  for (const int64_t row : later.rows) {
    if (rows.size() >= row_limit) break;
    rows.push_back(row);
  }
}

void OffDomainValues::add(std::string_view value, uint64_t times) {
  const int64_t id = values.find(value);
  if (id != StringTable::kAbsent) {
    counts[id] += times;
  } else if (values.size() < kMaxValues) {
    values.insert(value);
    counts.push_back(times);
  } else {
    other += times;
  }
}

void OffDomainValues::append(const OffDomainValues& later) {
  for (int64_t id = 0; id < later.values.size(); ++id) add(later.values.key(id), later.counts[id]);
  other += later.other;
}

void ColumnTally::append(const ColumnTally& later, size_t row_limit) {
  rows += later.rows;
  for (int k = 0; k < kCheckCount; ++k) checks[k].append(later.checks[k], row_limit);
  off_domain.append(later.off_domain);
}

Validator::Validator(std::vector<ColumnRule> rules, size_t row_limit)
    : rules_(std::move(rules)), row_limit_(row_limit) {
  for (const ColumnRule& r : rules_) {
    SEAWALL_CHECK(!(r.float_lo != r.float_lo) && !(r.float_hi != r.float_hi), "column '", r.name,
                  "': a bound is NaN");
    SEAWALL_CHECK(!r.check_domain || r.kind == ColumnKind::kString, "column '", r.name,
                  "': a domain of values is checked on string columns only");
    domains_.push_back(r.check_domain ? std::make_unique<Domain>(Domain{internal::DomainSet(r.domain)})
                                      : nullptr);
    ColumnTally tally;
    if (r.track_distinct) tally.distinct = 0;
    tallies_.push_back(std::move(tally));
    distinct_.push_back(r.track_distinct ? std::make_unique<DistinctState>() : nullptr);
  }
}

Validator::~Validator() = default;
Validator::Validator(Validator&&) noexcept = default;
Validator& Validator::operator=(Validator&&) noexcept = default;

void Validator::update(const std::vector<Column>& columns, int64_t row_offset) {
  SEAWALL_CHECK(columns.size() == rules_.size(), "validate: ", rules_.size(),
                " columns are checked, but the batch has ", columns.size());
  SEAWALL_CHECK(row_offset >= 0, "validate: the row offset must not be negative");
  const int64_t rows = columns.empty() ? 0 : columns.front().length();
  for (size_t c = 0; c < columns.size(); ++c) {
    const ColumnRule& r = rules_[c];
    SEAWALL_CHECK(columns[c].name == r.name, "validate: column ", c, " is '", columns[c].name,
                  "', expected '", r.name, "'");
    SEAWALL_CHECK(columns[c].length() == rows, "column '", r.name, "' has ", columns[c].length(),
                  " rows, but '", columns.front().name, "' has ", rows);
    for (const ColumnChunk& chunk : columns[c].chunks) {
      SEAWALL_CHECK_TYPE(is_string_like(chunk.type) == (r.kind == ColumnKind::kString), "column '",
                         r.name, "': expected ", r.kind == ColumnKind::kString ? "strings" : "numbers",
                         ", got ", value_type_name(chunk.type));
    }
  }
  // Each dictionary chunk's entries are read once, before the rows that point at them.
  std::vector<std::vector<std::vector<uint8_t>>> verdicts(columns.size());
  for (size_t c = 0; c < columns.size(); ++c) {
    verdicts[c].resize(columns[c].chunks.size());
    for (size_t k = 0; k < columns[c].chunks.size(); ++k) {
      const ColumnChunk& chunk = columns[c].chunks[k];
      if (chunk.type != ValueType::kDictionary) continue;
      const internal::DomainSet* domain = domains_[c] ? &domains_[c]->set : nullptr;
      verdicts[c][k] = dictionary_verdicts(chunk, rules_[c].name, domain);
    }
  }

  std::vector<std::vector<int64_t>> starts;
  for (const Column& column : columns) starts.push_back(chunk_starts(column));
  const int64_t ncols = static_cast<int64_t>(columns.size());
  const int64_t segments = std::max<int64_t>(1, (rows + kSegmentRows - 1) / kSegmentRows);
  std::vector<int64_t> tracked;
  for (int64_t c = 0; c < ncols; ++c) {
    if (distinct_[c]) {
      tracked.push_back(c);
      distinct_[c]->start_batch(segments, rules_[c].kind == ColumnKind::kString);
    }
  }
  const int64_t ntracked = static_cast<int64_t>(tracked.size());
  std::vector<ColumnTally> partial(static_cast<size_t>(ncols * segments));
  const size_t limit = row_limit_;

  // 1. Every (column, segment): the checks, and tracked columns' values sorted by partition.
  parallel_for(ncols * segments, 1, [&](int64_t task_begin, int64_t task_end) {
    for (int64_t task = task_begin; task < task_end; ++task) {
      const int64_t c = task / segments;
      const int64_t segment = task % segments;
      const int64_t begin = segment * kSegmentRows;
      const int64_t end = std::min(rows, begin + kSegmentRows);
      const ColumnRule& r = rules_[c];
      ColumnTally& t = partial[task];
      t.rows = static_cast<uint64_t>(end - begin);
      const internal::DomainSet* domain = domains_[c] ? &domains_[c]->set : nullptr;
      const std::vector<ColumnChunk>& chunks = columns[c].chunks;
      for_each_piece(columns[c], starts[c], begin, end,
                     [&](const ColumnChunk& chunk, int64_t lb, int64_t le, int64_t gb) {
        const int64_t row0 = row_offset + gb;
        if (chunk.type == ValueType::kDictionary) {
          const size_t k = static_cast<size_t>(&chunk - chunks.data());
          scan_dictionary(chunk, lb, le, row0, verdicts[c][k], t, limit);
        } else if (r.kind == ColumnKind::kString) {
          scan_strings(chunk, lb, le, row0, domain, t, limit);
        } else {
          scan_numbers(chunk, lb, le, row0, r, t, limit);
        }
        if (distinct_[c]) distinct_[c]->sort_piece(chunk, lb, le, gb - begin, segment);
      });
    }
  });
  // 2. Each partition of each tracked column: its values inserted in row order, a value already
  // there being a repeat.
  parallel_for(ntracked * kParts, 1, [&](int64_t task_begin, int64_t task_end) {
    for (int64_t task = task_begin; task < task_end; ++task) {
      distinct_[tracked[task / kParts]]->insert(static_cast<int>(task % kParts), row_offset, limit);
    }
  });
  for (int64_t c = 0; c < ncols; ++c) {
    for (int64_t s = 0; s < segments; ++s) tallies_[c].append(partial[c * segments + s], limit);
    if (distinct_[c]) {
      distinct_[c]->finish_batch(tallies_[c].checks[kDuplicate], limit);
      tallies_[c].distinct = static_cast<int64_t>(distinct_[c]->size());
    }
  }
}

}  // namespace seawall::contracts
