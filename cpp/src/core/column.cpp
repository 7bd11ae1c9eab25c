#include "seawall/core/column.h"

#include <atomic>
#include <cstring>

#include "seawall/core/thread_pool.h"
#include "seawall/core/utf8.h"
#include "seawall/errors.h"

namespace seawall {

const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::kInt8: return "int8";
    case ValueType::kInt16: return "int16";
    case ValueType::kInt32: return "int32";
    case ValueType::kInt64: return "int64";
    case ValueType::kUInt8: return "uint8";
    case ValueType::kUInt16: return "uint16";
    case ValueType::kUInt32: return "uint32";
    case ValueType::kUInt64: return "uint64";
    case ValueType::kFloat32: return "float32";
    case ValueType::kFloat64: return "float64";
    case ValueType::kUtf8: return "string";
    case ValueType::kLargeUtf8: return "large_string";
    case ValueType::kDictionary: return "dictionary";
  }
  return "unknown";
}

int64_t ColumnChunk::dict_index(int64_t i) const {
  const int64_t j = i + offset;
  switch (index_type) {
    case ValueType::kInt8: return static_cast<const int8_t*>(values)[j];
    case ValueType::kInt16: return static_cast<const int16_t*>(values)[j];
    case ValueType::kInt32: return static_cast<const int32_t*>(values)[j];
    case ValueType::kInt64: return static_cast<const int64_t*>(values)[j];
    case ValueType::kUInt8: return static_cast<const uint8_t*>(values)[j];
    case ValueType::kUInt16: return static_cast<const uint16_t*>(values)[j];
    case ValueType::kUInt32: return static_cast<const uint32_t*>(values)[j];
    case ValueType::kUInt64: return static_cast<int64_t>(static_cast<const uint64_t*>(values)[j]);
    default: return -1;
  }
}

namespace {

bool parse_format(const char* f, ValueType* out) {
  if (f == nullptr || f[0] == '\0' || f[1] != '\0') return false;
  switch (f[0]) {
    case 'c': *out = ValueType::kInt8; return true;
    case 's': *out = ValueType::kInt16; return true;
    case 'i': *out = ValueType::kInt32; return true;
    case 'l': *out = ValueType::kInt64; return true;
    case 'C': *out = ValueType::kUInt8; return true;
    case 'S': *out = ValueType::kUInt16; return true;
    case 'I': *out = ValueType::kUInt32; return true;
    case 'L': *out = ValueType::kUInt64; return true;
    case 'f': *out = ValueType::kFloat32; return true;
    case 'g': *out = ValueType::kFloat64; return true;
    case 'u': *out = ValueType::kUtf8; return true;
    case 'U': *out = ValueType::kLargeUtf8; return true;
    default: return false;
  }
}

ColumnChunk import_plain(const ArrowSchema& schema, const ArrowArray& array, ValueType type,
                         const std::string& name) {
  ColumnChunk c;
  c.type = type;
  c.length = array.length;
  c.offset = array.offset;
  SEAWALL_CHECK(array.length >= 0 && array.offset >= 0, "column '", name, "': malformed Arrow array");
  const bool strings = type == ValueType::kUtf8 || type == ValueType::kLargeUtf8;
  SEAWALL_CHECK(array.n_buffers == (strings ? 3 : 2), "column '", name,
                "': malformed Arrow array (unexpected buffer count)");
  c.validity = array.null_count == 0 ? nullptr : static_cast<const uint8_t*>(array.buffers[0]);
  if (strings) {
    c.offsets = array.buffers[1];
    c.data = static_cast<const char*>(array.buffers[2]);
    static const char kEmpty[1] = {0};
    if (c.data == nullptr) c.data = kEmpty;  // all-empty strings may come without a data buffer
    SEAWALL_CHECK(c.offsets != nullptr || array.length == 0, "column '", name, "': missing offsets");
  } else {
    c.values = array.buffers[1];
    SEAWALL_CHECK(c.values != nullptr || array.length == 0, "column '", name, "': missing values");
  }
  (void)schema;
  return c;
}

// The first valid value among rows [begin, end) of a string chunk that is not UTF-8, or -1.
// One pass over their bytes usually settles it: when those are UTF-8 and no value starts inside
// a character (on a continuation byte), every value is. Otherwise (a bad byte, or a character
// split across two values) each value is checked on its own, skipping nulls, whose bytes mean
// nothing.
template <typename Offset>
int64_t first_invalid_utf8_in(const ColumnChunk& c, int64_t begin, int64_t end) {
  const Offset* o = static_cast<const Offset*>(c.offsets) + c.offset;
  const int64_t lo = o[begin];
  const int64_t hi = o[end];
  if (lo <= hi && is_valid_utf8(std::string_view(c.data + lo, static_cast<size_t>(hi - lo)))) {
    bool aligned = true;
    for (int64_t i = begin + 1; i < end && aligned; ++i) {
      const int64_t at = o[i];
      aligned = at < lo || at >= hi || (static_cast<unsigned char>(c.data[at]) & 0xC0) != 0x80;
    }
    if (aligned) return -1;
  }
  for (int64_t i = begin; i < end; ++i) {
    if (c.is_valid(i) && !is_valid_utf8(c.str(i))) return i;
  }
  return -1;
}

// The first invalid value of the whole chunk (the same whatever the thread count), or -1.
int64_t first_invalid_utf8_parallel(const ColumnChunk& c) {
  constexpr int64_t kGrain = int64_t{1} << 14;
  std::atomic<int64_t> first{c.length};
  parallel_for(c.length, kGrain, [&](int64_t begin, int64_t end) {
    const int64_t bad = first_invalid_utf8(c, begin, end);
    int64_t seen = first.load();
    while (bad >= 0 && bad < seen && !first.compare_exchange_weak(seen, bad)) {
    }
  });
  return first.load() < c.length ? first.load() : -1;
}

[[noreturn]] void not_utf8(const std::string& name, int64_t row, const char* what) {
  throw InvalidInput(detail::concat("column '", name, "', ", what, row,
                                    ": not valid UTF-8 (string columns must hold UTF-8 text)"));
}

}  // namespace

int64_t first_invalid_utf8(const ColumnChunk& c, int64_t begin, int64_t end) {
  if (end <= begin) return -1;
  return c.type == ValueType::kUtf8 ? first_invalid_utf8_in<int32_t>(c, begin, end)
                                    : first_invalid_utf8_in<int64_t>(c, begin, end);
}

ColumnChunk import_arrow_chunk(const ArrowSchema& schema, const ArrowArray& array,
                               const std::string& name, int64_t first_row, bool check_utf8) {
  SEAWALL_CHECK(schema.release != nullptr && array.release != nullptr, "column '", name,
                "': the Arrow array was already released");
  if (schema.dictionary != nullptr) {
    ValueType index_type;
    SEAWALL_CHECK_TYPE(parse_format(schema.format, &index_type) && is_numeric(index_type) &&
                           index_type != ValueType::kFloat32 && index_type != ValueType::kFloat64,
                       "column '", name, "': dictionary indices must be integers");
    SEAWALL_CHECK(array.dictionary != nullptr, "column '", name, "': dictionary array missing");
    ValueType value_type;
    SEAWALL_CHECK_TYPE(parse_format(schema.dictionary->format, &value_type) &&
                           (value_type == ValueType::kUtf8 || value_type == ValueType::kLargeUtf8),
                       "column '", name, "': only dictionaries of strings are supported, got format '",
                       schema.dictionary->format ? schema.dictionary->format : "?", "'");
    ColumnChunk c = import_plain(schema, array, index_type, name);
    c.index_type = index_type;
    c.type = ValueType::kDictionary;
    c.dictionary = std::make_shared<ColumnChunk>(
        import_plain(*schema.dictionary, *array.dictionary, value_type, name));
    if (!check_utf8) return c;
    const int64_t bad = first_invalid_utf8_parallel(*c.dictionary);
    if (bad >= 0) {
      for (int64_t i = 0; i < c.length; ++i) {  // name the first row that holds it, if any does
        if (c.is_valid(i) && c.dict_index(i) == bad) not_utf8(name, first_row + i, "row ");
      }
      not_utf8(name, bad, "dictionary value ");
    }
    return c;
  }
  ValueType type;
  SEAWALL_CHECK_TYPE(parse_format(schema.format, &type), "column '", name,
                     "': unsupported Arrow type (format '", schema.format ? schema.format : "?",
                     "'); expected integers, floats or strings");
  ColumnChunk c = import_plain(schema, array, type, name);
  if (check_utf8 && (type == ValueType::kUtf8 || type == ValueType::kLargeUtf8)) {
    const int64_t bad = first_invalid_utf8_parallel(c);
    if (bad >= 0) not_utf8(name, first_row + bad, "row ");
  }
  return c;
}

std::vector<int64_t> chunk_starts(const Column& column) {
  std::vector<int64_t> starts;
  starts.reserve(column.chunks.size());
  int64_t at = 0;
  for (const auto& chunk : column.chunks) {
    starts.push_back(at);
    at += chunk.length;
  }
  return starts;
}

double numeric_value(const ColumnChunk& c, int64_t i) {
  const int64_t j = i + c.offset;
  switch (c.type) {
    case ValueType::kInt8: return static_cast<const int8_t*>(c.values)[j];
    case ValueType::kInt16: return static_cast<const int16_t*>(c.values)[j];
    case ValueType::kInt32: return static_cast<const int32_t*>(c.values)[j];
    case ValueType::kInt64: return static_cast<double>(static_cast<const int64_t*>(c.values)[j]);
    case ValueType::kUInt8: return static_cast<const uint8_t*>(c.values)[j];
    case ValueType::kUInt16: return static_cast<const uint16_t*>(c.values)[j];
    case ValueType::kUInt32: return static_cast<const uint32_t*>(c.values)[j];
    case ValueType::kUInt64: return static_cast<double>(static_cast<const uint64_t*>(c.values)[j]);
    case ValueType::kFloat32: return static_cast<const float*>(c.values)[j];
    case ValueType::kFloat64: return static_cast<const double*>(c.values)[j];
    default: return std::nan("");
  }
}

namespace {
template <typename T>
void convert(const T* src, int64_t n, double* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<double>(src[i]);
}
}  // namespace

void read_numeric(const ColumnChunk& c, int64_t begin, int64_t end, double* out, uint8_t* missing) {
  const int64_t n = end - begin;
  if (n <= 0) return;  // an empty Arrow array may have no buffers at all
  const int64_t j = begin + c.offset;
  switch (c.type) {
    case ValueType::kInt8: convert(static_cast<const int8_t*>(c.values) + j, n, out); break;
    case ValueType::kInt16: convert(static_cast<const int16_t*>(c.values) + j, n, out); break;
    case ValueType::kInt32: convert(static_cast<const int32_t*>(c.values) + j, n, out); break;
    case ValueType::kInt64: convert(static_cast<const int64_t*>(c.values) + j, n, out); break;
    case ValueType::kUInt8: convert(static_cast<const uint8_t*>(c.values) + j, n, out); break;
    case ValueType::kUInt16: convert(static_cast<const uint16_t*>(c.values) + j, n, out); break;
    case ValueType::kUInt32: convert(static_cast<const uint32_t*>(c.values) + j, n, out); break;
    case ValueType::kUInt64: convert(static_cast<const uint64_t*>(c.values) + j, n, out); break;
    case ValueType::kFloat32: convert(static_cast<const float*>(c.values) + j, n, out); break;
    case ValueType::kFloat64: std::memcpy(out, static_cast<const double*>(c.values) + j, n * 8); break;
    default: throw TypeMismatch(detail::concat("a ", value_type_name(c.type), " column is not numeric"));
  }
  if (c.validity == nullptr) {
    std::memset(missing, 0, n);
  } else {
    for (int64_t i = 0; i < n; ++i) missing[i] = !c.is_valid(begin + i);
  }
}

}  // namespace seawall
