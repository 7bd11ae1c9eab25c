#include "seawall/contracts/validator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "contracts/value_set_internal.h"
#include "seawall/core/segments.h"
#include "seawall/core/thread_pool.h"
#include "seawall/core/utf8.h"
#include "seawall/errors.h"

namespace seawall::contracts {

namespace {

// Rows checked at once on the fast path: a block without a failure costs one branch.
constexpr int64_t kBlock = 256;

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

// Numbers of type T in rows [lb, le) of chunk `c`; global row of lb is `row0`.
template <typename T>
void scan_integers(const ColumnChunk& c, int64_t lb, int64_t le, int64_t row0,
                   const IntBounds<T>& b, ColumnTally& t, size_t limit) {
  const T* v = static_cast<const T*>(c.values) + c.offset;
  const bool exact_fast = !b.all_below && !b.all_above;
  for (int64_t b0 = lb; b0 < le; b0 += kBlock) {
    const int64_t b1 = std::min(le, b0 + kBlock);
    if (exact_fast) {
      // Branch-free count of the block's failures; most blocks have none.
      uint32_t fails = 0;
      if (c.validity == nullptr) {
        for (int64_t i = b0; i < b1; ++i) fails += (v[i] < b.lo) | (v[i] > b.hi);
      } else {
        for (int64_t i = b0; i < b1; ++i) {
          fails += (v[i] < b.lo) | (v[i] > b.hi) | !c.is_valid(i);
        }
      }
      if (fails == 0) continue;
    }
    for (int64_t i = b0; i < b1; ++i) {
      const int64_t row = row0 + (i - lb);
      if (!c.is_valid(i)) {
        t.checks[kNull].add(row, limit);
      } else if (b.all_below || (b.check_lo && v[i] < b.lo)) {
        t.checks[kBelow].add(row, limit);
      } else if (b.all_above || (b.check_hi && v[i] > b.hi)) {
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
  for (int64_t b0 = lb; b0 < le; b0 += kBlock) {
    const int64_t b1 = std::min(le, b0 + kBlock);
    uint32_t fails = 0;
    // NaN fails every comparison below, so it counts as a failure through !(x >= lo).
    if (c.validity == nullptr) {
      for (int64_t i = b0; i < b1; ++i) {
        const double x = static_cast<double>(v[i]);
        fails += !(x >= lo) | (x > hi) | (std::fabs(x) == kInf);
      }
    } else {
      for (int64_t i = b0; i < b1; ++i) {
        const double x = static_cast<double>(v[i]);
        fails += !(x >= lo) | (x > hi) | (std::fabs(x) == kInf) | !c.is_valid(i);
      }
    }
    if (fails == 0) continue;
    for (int64_t i = b0; i < b1; ++i) {
      const int64_t row = row0 + (i - lb);
      const double x = static_cast<double>(v[i]);
      if (!c.is_valid(i)) {
        t.checks[kNull].add(row, limit);
        continue;
      }
      if (x != x) {
        t.checks[kNaN].add(row, limit);
        continue;
      }
      if (x == kInf) t.checks[kPosInf].add(row, limit);
      if (x == -kInf) t.checks[kNegInf].add(row, limit);
      if (x < lo) {
        t.checks[kBelow].add(row, limit);
      } else if (x > hi) {
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
                  const StringTable* domain, ColumnTally& t, size_t limit) {
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
    } else if (domain != nullptr && domain->find(s) == StringTable::kAbsent) {
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
                                         const StringTable* domain) {
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
    } else if (domain != nullptr && domain->find(dict.str(d)) == StringTable::kAbsent) {
      verdicts[d] = kVerdictOffDomain;
    }
  }
  return verdicts;
}

}  // namespace

// Every distinct value of a column seen so far (numbers or strings).
struct Validator::DistinctState {
  internal::NumberSet numbers;
  StringTable strings;

  uint64_t size() const {
    return numbers.size() + static_cast<uint64_t>(strings.size());
  }

  // Adds rows of one chunk; repeats are counted as duplicates.
  void add(const ColumnChunk& c, int64_t row0, ColumnTally& t, size_t limit) {
    CheckTally& dup = t.checks[kDuplicate];
    if (c.type == ValueType::kDictionary) {
      // Each entry is looked up once: afterwards, any row pointing at it is a repeat.
      const ColumnChunk& dict = *c.dictionary;
      std::vector<uint8_t> seen(static_cast<size_t>(dict.length), 0);
      for (int64_t i = 0; i < c.length; ++i) {
        if (!c.is_valid(i)) continue;
        const int64_t idx = c.dict_index(i);
        if (!dict.is_valid(idx)) continue;
        if (seen[idx]) {
          dup.add(row0 + i, limit);
          continue;
        }
        seen[idx] = 1;
        const int64_t before = strings.size();
        if (strings.insert(dict.str(idx)) < before) dup.add(row0 + i, limit);
      }
      return;
    }
    if (is_string_like(c.type)) {
      for (int64_t i = 0; i < c.length; ++i) {
        if (!c.is_valid(i)) continue;
        const int64_t before = strings.size();
        if (strings.insert(c.str(i)) < before) dup.add(row0 + i, limit);
      }
      return;
    }
    for (int64_t i = 0; i < c.length; ++i) {
      if (!c.is_valid(i)) continue;
      const int64_t j = i + c.offset;
      bool fresh = true;
      switch (c.type) {
        case ValueType::kInt8: fresh = numbers.insert_signed(static_cast<const int8_t*>(c.values)[j]); break;
        case ValueType::kInt16: fresh = numbers.insert_signed(static_cast<const int16_t*>(c.values)[j]); break;
        case ValueType::kInt32: fresh = numbers.insert_signed(static_cast<const int32_t*>(c.values)[j]); break;
        case ValueType::kInt64: fresh = numbers.insert_signed(static_cast<const int64_t*>(c.values)[j]); break;
        case ValueType::kUInt8: fresh = numbers.insert_unsigned(static_cast<const uint8_t*>(c.values)[j]); break;
        case ValueType::kUInt16: fresh = numbers.insert_unsigned(static_cast<const uint16_t*>(c.values)[j]); break;
        case ValueType::kUInt32: fresh = numbers.insert_unsigned(static_cast<const uint32_t*>(c.values)[j]); break;
        case ValueType::kUInt64: fresh = numbers.insert_unsigned(static_cast<const uint64_t*>(c.values)[j]); break;
        case ValueType::kFloat32:
        case ValueType::kFloat64: {
          const double x = numeric_value(c, i);
          if (x != x) continue;  // NaN is no value to repeat
          fresh = numbers.insert_double(x);
          break;
        }
        default: break;
      }
      if (!fresh) dup.add(row0 + i, limit);
    }
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
    StringTable domain;
    if (r.check_domain) {
      for (const std::string& value : r.domain) domain.insert(value);
    }
    domains_.push_back(std::move(domain));
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
      const StringTable* domain = rules_[c].check_domain ? &domains_[c] : nullptr;
      verdicts[c][k] = dictionary_verdicts(chunk, rules_[c].name, domain);
    }
  }

  std::vector<std::vector<int64_t>> starts;
  for (const Column& column : columns) starts.push_back(chunk_starts(column));
  const int64_t ncols = static_cast<int64_t>(columns.size());
  const int64_t segments = std::max<int64_t>(1, (rows + kSegmentRows - 1) / kSegmentRows);
  std::vector<int64_t> tracked;
  for (int64_t c = 0; c < ncols; ++c) {
    if (distinct_[c]) tracked.push_back(c);
  }
  const int64_t ntracked = static_cast<int64_t>(tracked.size());
  std::vector<ColumnTally> partial(static_cast<size_t>(ncols * segments));
  const size_t limit = row_limit_;
  // The distinct-value tasks come first: each reads a whole column in row order, so they are the
  // longest, and the segment tasks fill the other threads meanwhile.
  parallel_for(ntracked + ncols * segments, 1, [&](int64_t task_begin, int64_t task_end) {
    for (int64_t task = task_begin; task < task_end; ++task) {
      if (task < ntracked) {
        const int64_t c = tracked[task];
        int64_t row0 = row_offset;
        for (const ColumnChunk& chunk : columns[c].chunks) {
          distinct_[c]->add(chunk, row0, tallies_[c], limit);
          row0 += chunk.length;
        }
        continue;
      }
      const int64_t c = (task - ntracked) / segments;
      const int64_t begin = ((task - ntracked) % segments) * kSegmentRows;
      const int64_t end = std::min(rows, begin + kSegmentRows);
      const ColumnRule& r = rules_[c];
      ColumnTally& t = partial[task - ntracked];
      t.rows = static_cast<uint64_t>(end - begin);
      const StringTable* domain = r.check_domain ? &domains_[c] : nullptr;
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
      });
    }
  });
  for (int64_t c = 0; c < ncols; ++c) {
    for (int64_t s = 0; s < segments; ++s) tallies_[c].append(partial[c * segments + s], limit);
    if (distinct_[c]) tallies_[c].distinct = static_cast<int64_t>(distinct_[c]->size());
  }
}

}  // namespace seawall::contracts
