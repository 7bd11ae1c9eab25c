// Borrowed views of columnar data. A ColumnChunk points into buffers someone else owns (an Arrow
// array, a numpy array); a Column is the chunks of one column in row order. Kernels read these
// with the GIL released, so the owner must keep the buffers alive for the call.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "seawall/core/arrow_c_abi.h"

namespace seawall {

enum class ValueType : uint8_t {
  kInt8, kInt16, kInt32, kInt64, kUInt8, kUInt16, kUInt32, kUInt64,
  kFloat32, kFloat64,
  kUtf8,        // int32 offsets
  kLargeUtf8,   // int64 offsets
  kDictionary,  // integer indices into `dictionary`, itself kUtf8 or kLargeUtf8
};

const char* value_type_name(ValueType t);
inline bool is_string_like(ValueType t) {
  return t == ValueType::kUtf8 || t == ValueType::kLargeUtf8 || t == ValueType::kDictionary;
}
inline bool is_numeric(ValueType t) { return !is_string_like(t); }

struct ColumnChunk {
  ValueType type = ValueType::kFloat64;
  int64_t length = 0;
  int64_t offset = 0;                 // Arrow's logical offset into every buffer
  const uint8_t* validity = nullptr;  // bit-packed, LSB first; null means every value is valid
  const void* values = nullptr;       // numbers, or dictionary indices
  const void* offsets = nullptr;      // int32 or int64 string offsets
  const char* data = nullptr;         // string bytes
  ValueType index_type = ValueType::kInt32;   // for kDictionary
  std::shared_ptr<ColumnChunk> dictionary;    // for kDictionary

  bool is_valid(int64_t i) const {
    if (validity == nullptr) return true;
    const int64_t bit = i + offset;
    return (validity[bit >> 3] >> (bit & 7)) & 1;
  }
  // String value i (caller checked is_valid and the type is kUtf8/kLargeUtf8).
  std::string_view str(int64_t i) const {
    const int64_t j = i + offset;
    if (type == ValueType::kUtf8) {
      const int32_t* o = static_cast<const int32_t*>(offsets);
      return {data + o[j], static_cast<size_t>(o[j + 1] - o[j])};
    }
    const int64_t* o = static_cast<const int64_t*>(offsets);
    return {data + o[j], static_cast<size_t>(o[j + 1] - o[j])};
  }
  // Dictionary index of value i (caller checked is_valid and the type is kDictionary).
  int64_t dict_index(int64_t i) const;
};

struct Column {
  std::string name;
  std::vector<ColumnChunk> chunks;
  int64_t length() const {
    int64_t n = 0;
    for (const auto& c : chunks) n += c.length;
    return n;
  }
  ValueType type() const { return chunks.empty() ? ValueType::kFloat64 : chunks.front().type; }
};

// Where each chunk starts, in rows from the column's start.
std::vector<int64_t> chunk_starts(const Column& column);

// Calls fn(chunk, local_begin, local_end, global_begin) for the parts of rows [begin, end) that
// fall in each chunk of `column`; `starts` is chunk_starts(column).
template <typename Fn>
void for_each_piece(const Column& column, const std::vector<int64_t>& starts, int64_t begin,
                    int64_t end, Fn&& fn) {
  size_t c = static_cast<size_t>(std::upper_bound(starts.begin(), starts.end(), begin) -
                                 starts.begin() - 1);
  int64_t row = begin;
  while (row < end && c < column.chunks.size()) {
    const int64_t chunk_begin = starts[c];
    const int64_t stop = std::min(end, chunk_begin + column.chunks[c].length);
    if (stop > row) fn(column.chunks[c], row - chunk_begin, stop - chunk_begin, row);
    row = stop;
    ++c;
  }
}

// Reads an Arrow C array (borrowed: the caller keeps it alive and releases it) into a chunk view.
// Throws TypeMismatch for types the kernels do not read, InvalidInput for malformed arrays and,
// with check_utf8, for strings that are not valid UTF-8 (naming the row: first_row is the row of
// the chunk's first value in the caller's data). Without check_utf8 the strings are taken as
// they are: the caller must check them (first_invalid_utf8) before reading them as text.
ColumnChunk import_arrow_chunk(const ArrowSchema& schema, const ArrowArray& array,
                               const std::string& column_name, int64_t first_row = 0,
                               bool check_utf8 = true);

// The first valid value among rows [begin, end) of a kUtf8 or kLargeUtf8 chunk whose bytes are
// not UTF-8, or -1 when every one is. Usually one pass over the rows' bytes settles it.
int64_t first_invalid_utf8(const ColumnChunk& chunk, int64_t begin, int64_t end);

// Reads value i of a numeric chunk as a double (caller checked is_valid).
double numeric_value(const ColumnChunk& c, int64_t i);

// Converts rows [begin, end) of a numeric chunk to doubles; missing[i] is 1 where the value is
// null. NaN stays NaN: callers decide whether NaN counts as missing.
void read_numeric(const ColumnChunk& c, int64_t begin, int64_t end, double* out, uint8_t* missing);

}  // namespace seawall
