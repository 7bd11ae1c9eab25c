#include "seawall/core/column.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "seawall/core/thread_pool.h"
#include "../error_message.h"
#include "seawall/errors.h"

namespace {

uint64_t fresh_seed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

// The structs are borrowed by the importer; the test owns every buffer, so release does nothing
// but must be non-null (null marks a released struct).
void release_schema(ArrowSchema*) {}
void release_array(ArrowArray*) {}

ArrowSchema make_schema(const char* format, ArrowSchema* dictionary = nullptr) {
  ArrowSchema s{};
  s.format = format;
  s.name = "";
  s.flags = ARROW_FLAG_NULLABLE;
  s.dictionary = dictionary;
  s.release = &release_schema;
  return s;
}

ArrowArray make_array(int64_t length, int64_t null_count, int64_t offset,
                      std::vector<const void*>& buffers, ArrowArray* dictionary = nullptr) {
  ArrowArray a{};
  a.length = length;
  a.null_count = null_count;
  a.offset = offset;
  a.n_buffers = static_cast<int64_t>(buffers.size());
  a.buffers = buffers.data();
  a.dictionary = dictionary;
  a.release = &release_array;
  return a;
}

// A validity bitmap for `valid` (one flag per physical slot, LSB-first as Arrow lays it out).
std::vector<uint8_t> pack_bits(const std::vector<bool>& valid) {
  std::vector<uint8_t> bits((valid.size() + 7) / 8 + 1, 0);
  for (size_t i = 0; i < valid.size(); ++i) {
    if (valid[i]) bits[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
  }
  return bits;
}

int64_t count_nulls(const std::vector<bool>& valid, int64_t offset, int64_t length) {
  int64_t nulls = 0;
  for (int64_t i = 0; i < length; ++i) nulls += !valid[offset + i];
  return nulls;
}

template <typename T>
T random_value(std::mt19937_64& rng) {
  if constexpr (std::is_floating_point_v<T>) {
    switch (rng() % 6) {
      case 0: return std::numeric_limits<T>::quiet_NaN();
      case 1: return static_cast<T>(-0.0);
      case 2: return std::numeric_limits<T>::max();
      case 3: return std::numeric_limits<T>::denorm_min();
      default: return static_cast<T>(std::ldexp(static_cast<double>(rng() % 2000001) - 1e6, static_cast<int>(rng() % 60) - 30));
    }
  } else {
    // Every bit pattern, so the extremes of each width (and uint64 above 2^63) occur.
    uint64_t bits = rng();
    T v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  }
}

void expect_same_double(double got, double expected, const std::string& what) {
  if (std::isnan(expected)) {
    EXPECT_TRUE(std::isnan(got)) << what;
  } else {
    EXPECT_EQ(std::memcmp(&got, &expected, sizeof got), 0) << what << ": got " << got << ", expected " << expected;
  }
}

template <typename T>
void check_numeric_import(const char* format, seawall::ValueType type) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(std::string("format '") + format + "', random seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (int trial = 0; trial < 30; ++trial) {
    const int64_t offset = trial == 0 ? 0 : static_cast<int64_t>(rng() % 19);
    const int64_t length = static_cast<int64_t>(rng() % 300);
    const int64_t physical = offset + length + static_cast<int64_t>(rng() % 5);
    std::vector<T> values(physical);
    std::vector<bool> valid(physical);
    const int null_mode = trial % 3;  // 0: no bitmap; 1: bitmap with nulls; 2: null_count unknown
    for (int64_t i = 0; i < physical; ++i) {
      values[i] = random_value<T>(rng);
      valid[i] = null_mode == 0 || rng() % 4 != 0;
    }
    const std::vector<uint8_t> bits = pack_bits(valid);
    std::vector<const void*> buffers = {null_mode == 0 ? nullptr : bits.data(), values.data()};
    const int64_t null_count = null_mode == 0 ? 0 : null_mode == 1 ? count_nulls(valid, offset, length) : -1;
    ArrowSchema schema = make_schema(format);
    ArrowArray array = make_array(length, null_count, offset, buffers);

    const seawall::ColumnChunk chunk = seawall::import_arrow_chunk(schema, array, "num");
    ASSERT_EQ(chunk.type, type);
    ASSERT_EQ(chunk.length, length);
    ASSERT_EQ(chunk.offset, offset);
    EXPECT_TRUE(seawall::is_numeric(chunk.type));
    for (int64_t i = 0; i < length; ++i) {
      ASSERT_EQ(chunk.is_valid(i), static_cast<bool>(valid[offset + i])) << "row " << i;
      if (valid[offset + i]) {
        expect_same_double(seawall::numeric_value(chunk, i), static_cast<double>(values[offset + i]),
                           "numeric_value row " + std::to_string(i));
      }
    }
    // Sub-ranges, including empty ones and ones touching both ends.
    for (int r = 0; r < 6 && length > 0; ++r) {
      int64_t begin = static_cast<int64_t>(rng() % (length + 1));
      int64_t end = static_cast<int64_t>(rng() % (length + 1));
      if (r == 0) begin = 0, end = length;
      if (begin > end) std::swap(begin, end);
      const int64_t n = end - begin;
      std::vector<double> out(n + 2, 12345.0);
      std::vector<uint8_t> missing(n + 2, 77);
      seawall::read_numeric(chunk, begin, end, out.data() + 1, missing.data() + 1);
      // Writes stay inside [begin, end).
      EXPECT_EQ(out[0], 12345.0);
      EXPECT_EQ(out[n + 1], 12345.0);
      EXPECT_EQ(missing[0], 77);
      EXPECT_EQ(missing[n + 1], 77);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t row = begin + i;
        ASSERT_EQ(missing[i + 1] != 0, !valid[offset + row]) << "row " << row;
        if (valid[offset + row]) {
          expect_same_double(out[i + 1], static_cast<double>(values[offset + row]),
                             "read_numeric row " + std::to_string(row));
        }
      }
    }
  }
}

TEST(Column, ImportsEveryNumericType) {
  using seawall::ValueType;
  check_numeric_import<int8_t>("c", ValueType::kInt8);
  check_numeric_import<int16_t>("s", ValueType::kInt16);
  check_numeric_import<int32_t>("i", ValueType::kInt32);
  check_numeric_import<int64_t>("l", ValueType::kInt64);
  check_numeric_import<uint8_t>("C", ValueType::kUInt8);
  check_numeric_import<uint16_t>("S", ValueType::kUInt16);
  check_numeric_import<uint32_t>("I", ValueType::kUInt32);
  check_numeric_import<uint64_t>("L", ValueType::kUInt64);
  check_numeric_import<float>("f", ValueType::kFloat32);
  check_numeric_import<double>("g", ValueType::kFloat64);
}

TEST(Column, ZeroNullCountMeansEveryValueIsValid) {
  // Arrow lets a producer leave garbage in a validity buffer when null_count is 0.
  std::vector<int32_t> values = {1, 2, 3, 4};
  std::vector<uint8_t> bits = {0x00, 0x00};
  std::vector<const void*> buffers = {bits.data(), values.data()};
  ArrowSchema schema = make_schema("i");
  ArrowArray array = make_array(4, 0, 0, buffers);
  const auto chunk = seawall::import_arrow_chunk(schema, array, "c");
  std::vector<double> out(4);
  std::vector<uint8_t> missing(4, 1);
  seawall::read_numeric(chunk, 0, 4, out.data(), missing.data());
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(chunk.is_valid(i));
    EXPECT_EQ(missing[i], 0);
    EXPECT_EQ(out[i], values[i]);
  }
}

TEST(Column, UnknownNullCountWithoutBitmapMeansAllValid) {
  std::vector<double> values = {1.5, -2.5};
  std::vector<const void*> buffers = {nullptr, values.data()};
  ArrowSchema schema = make_schema("g");
  ArrowArray array = make_array(2, -1, 0, buffers);
  const auto chunk = seawall::import_arrow_chunk(schema, array, "c");
  EXPECT_TRUE(chunk.is_valid(0));
  EXPECT_TRUE(chunk.is_valid(1));
}

// Owns the buffers of an Arrow string array (int32 or int64 offsets).
template <typename Offset>
struct StringArray {
  std::vector<std::string> values;
  std::vector<bool> valid;
  std::vector<Offset> offsets;
  std::string data;
  std::vector<uint8_t> bits;

  void build() {
    offsets.assign(1, 0);
    data.clear();
    for (size_t i = 0; i < values.size(); ++i) {
      if (valid[i]) data += values[i];  // null slots may have zero length, as pyarrow makes them
      offsets.push_back(static_cast<Offset>(data.size()));
    }
    bits = pack_bits(valid);
  }
};

std::string random_text(std::mt19937_64& rng) {
  switch (rng() % 5) {
    case 0: return std::string();
    case 1: return std::string("a\0b", 3);
    case 2: return "\xC3\xA9t\xC3\xA9";  // "été"
    default: return "s" + std::to_string(rng() % 1000);
  }
}

template <typename Offset>
void check_string_import(const char* format, seawall::ValueType type) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(std::string("format '") + format + "', random seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (int trial = 0; trial < 20; ++trial) {
    const int64_t offset = trial == 0 ? 0 : static_cast<int64_t>(rng() % 13);
    const int64_t length = static_cast<int64_t>(rng() % 200);
    StringArray<Offset> arr;
    for (int64_t i = 0; i < offset + length + 2; ++i) {
      arr.values.push_back(random_text(rng));
      arr.valid.push_back(rng() % 5 != 0);
    }
    arr.build();
    std::vector<const void*> buffers = {arr.bits.data(), arr.offsets.data(), arr.data.data()};
    ArrowSchema schema = make_schema(format);
    ArrowArray array = make_array(length, count_nulls(arr.valid, offset, length), offset, buffers);
    const auto chunk = seawall::import_arrow_chunk(schema, array, "text");
    ASSERT_EQ(chunk.type, type);
    EXPECT_TRUE(seawall::is_string_like(chunk.type));
    ASSERT_EQ(chunk.length, length);
    for (int64_t i = 0; i < length; ++i) {
      const bool v = arr.valid[offset + i];
      // A slice with no nulls may drop the bitmap; either way validity must match.
      ASSERT_EQ(chunk.is_valid(i), v) << "row " << i;
      if (v) {
        ASSERT_EQ(chunk.str(i), std::string_view(arr.values[offset + i])) << "row " << i;
      }
    }
    // Strings are not numbers.
    std::vector<double> out(1);
    std::vector<uint8_t> missing(1);
    if (length > 0) {
      EXPECT_THROW(seawall::read_numeric(chunk, 0, 1, out.data(), missing.data()), seawall::TypeMismatch);
    }
  }
}

TEST(Column, ImportsUtf8AndLargeUtf8) {
  check_string_import<int32_t>("u", seawall::ValueType::kUtf8);
  check_string_import<int64_t>("U", seawall::ValueType::kLargeUtf8);
}

TEST(Column, AllEmptyStringsWithoutDataBuffer) {
  std::vector<int32_t> offsets = {0, 0, 0, 0};
  std::vector<const void*> buffers = {nullptr, offsets.data(), nullptr};
  ArrowSchema schema = make_schema("u");
  ArrowArray array = make_array(3, 0, 0, buffers);
  const auto chunk = seawall::import_arrow_chunk(schema, array, "empty");
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(chunk.is_valid(i));
    EXPECT_EQ(chunk.str(i).size(), 0u);
  }
}

template <typename Index, typename DictOffset>
void check_dictionary_import(const char* index_format, const char* value_format,
                             seawall::ValueType index_type) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(std::string("dictionary<") + index_format + ", " + value_format + ">, random seed " +
               std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (int trial = 0; trial < 15; ++trial) {
    // The dictionary itself may be a slice (non-zero offset) with null entries.
    StringArray<DictOffset> dict;
    const int64_t dict_offset = trial == 0 ? 0 : static_cast<int64_t>(rng() % 4);
    const int64_t dict_length = 1 + static_cast<int64_t>(rng() % 50);
    for (int64_t d = 0; d < dict_offset + dict_length; ++d) {
      dict.values.push_back("level" + std::to_string(d) + (d % 7 == 0 ? std::string("\0x", 2) : ""));
      dict.valid.push_back(d % 11 != 5);
    }
    dict.build();
    std::vector<const void*> dict_buffers = {dict.bits.data(), dict.offsets.data(), dict.data.data()};
    ArrowArray dict_array =
        make_array(dict_length, count_nulls(dict.valid, dict_offset, dict_length), dict_offset, dict_buffers);
    ArrowSchema dict_schema = make_schema(value_format);

    const int64_t offset = trial == 0 ? 0 : static_cast<int64_t>(rng() % 9);
    const int64_t length = static_cast<int64_t>(rng() % 300);
    std::vector<Index> indices(offset + length);
    std::vector<bool> valid(offset + length);
    for (size_t i = 0; i < indices.size(); ++i) {
      indices[i] = static_cast<Index>(rng() % dict_length);
      valid[i] = rng() % 6 != 0;
    }
    const auto bits = pack_bits(valid);
    std::vector<const void*> buffers = {bits.data(), indices.data()};
    ArrowArray array = make_array(length, count_nulls(valid, offset, length), offset, buffers, &dict_array);
    ArrowSchema schema = make_schema(index_format, &dict_schema);

    const auto chunk = seawall::import_arrow_chunk(schema, array, "dict");
    ASSERT_EQ(chunk.type, seawall::ValueType::kDictionary);
    ASSERT_EQ(chunk.index_type, index_type);
    EXPECT_TRUE(seawall::is_string_like(chunk.type));
    ASSERT_NE(chunk.dictionary, nullptr);
    ASSERT_EQ(chunk.dictionary->length, dict_length);
    for (int64_t i = 0; i < length; ++i) {
      ASSERT_EQ(chunk.is_valid(i), static_cast<bool>(valid[offset + i])) << "row " << i;
      if (!valid[offset + i]) continue;
      const int64_t idx = chunk.dict_index(i);
      ASSERT_EQ(idx, static_cast<int64_t>(indices[offset + i])) << "row " << i;
      const bool entry_valid = dict.valid[dict_offset + idx];
      ASSERT_EQ(chunk.dictionary->is_valid(idx), entry_valid);
      if (entry_valid) {
        ASSERT_EQ(chunk.dictionary->str(idx), std::string_view(dict.values[dict_offset + idx]));
      }
    }
  }
}

TEST(Column, ImportsDictionaries) {
  using seawall::ValueType;
  check_dictionary_import<int32_t, int32_t>("i", "u", ValueType::kInt32);
  check_dictionary_import<int8_t, int32_t>("c", "u", ValueType::kInt8);
  check_dictionary_import<uint8_t, int64_t>("C", "U", ValueType::kUInt8);
  check_dictionary_import<int16_t, int32_t>("s", "u", ValueType::kInt16);
  check_dictionary_import<uint16_t, int32_t>("S", "u", ValueType::kUInt16);
  check_dictionary_import<uint32_t, int64_t>("I", "U", ValueType::kUInt32);
  check_dictionary_import<int64_t, int64_t>("l", "U", ValueType::kInt64);
  check_dictionary_import<uint64_t, int32_t>("L", "u", ValueType::kUInt64);
}

TEST(Column, UnsupportedFormatsThrowTypeMismatch) {
  std::vector<uint8_t> payload(64, 0);
  for (const char* format : {"b", "tsu:", "tsu:UTC", "tdD", "e", "z", "Z", "d:10,2", "+l", "n", "w:4",
                             "vu", "", "gg", "ii"}) {
    SCOPED_TRACE(std::string("format '") + format + "'");
    std::vector<const void*> buffers = {nullptr, payload.data()};
    ArrowSchema schema = make_schema(format);
    ArrowArray array = make_array(2, 0, 0, buffers);
    EXPECT_THROW(seawall::import_arrow_chunk(schema, array, "odd_col"), seawall::TypeMismatch);
    EXPECT_NE(message_of([&] { seawall::import_arrow_chunk(schema, array, "odd_col"); }).find("odd_col"),
              std::string::npos);
  }
  std::vector<const void*> buffers = {nullptr, payload.data()};
  ArrowSchema schema = make_schema(nullptr);
  ArrowArray array = make_array(2, 0, 0, buffers);
  EXPECT_THROW(seawall::import_arrow_chunk(schema, array, "c"), seawall::TypeMismatch);
}

TEST(Column, UnsupportedDictionariesThrowTypeMismatch) {
  std::vector<int64_t> dict_values = {10, 20, 30};
  std::vector<const void*> dict_buffers = {nullptr, dict_values.data()};
  ArrowArray dict_array = make_array(3, 0, 0, dict_buffers);
  std::vector<int32_t> indices = {0, 2, 1};
  std::vector<const void*> buffers = {nullptr, indices.data()};
  ArrowArray array = make_array(3, 0, 0, buffers, &dict_array);

  // Dictionary of int64 values.
  ArrowSchema dict_schema = make_schema("l");
  ArrowSchema schema = make_schema("i", &dict_schema);
  EXPECT_THROW(seawall::import_arrow_chunk(schema, array, "d"), seawall::TypeMismatch);

  // Dictionary of bools and of timestamps.
  for (const char* f : {"b", "tsu:"}) {
    ArrowSchema other = make_schema(f);
    ArrowSchema s = make_schema("i", &other);
    EXPECT_THROW(seawall::import_arrow_chunk(s, array, "d"), seawall::TypeMismatch) << f;
  }

  // Index types that are not integers.
  std::vector<int32_t> offsets = {0, 1, 2, 3};
  std::string data = "abc";
  std::vector<const void*> str_buffers = {nullptr, offsets.data(), data.data()};
  ArrowArray str_dict = make_array(3, 0, 0, str_buffers);
  ArrowArray array2 = make_array(3, 0, 0, buffers, &str_dict);
  ArrowSchema utf8 = make_schema("u");
  for (const char* f : {"f", "g", "u", "b"}) {
    ArrowSchema s = make_schema(f, &utf8);
    EXPECT_THROW(seawall::import_arrow_chunk(s, array2, "d"), seawall::TypeMismatch) << f;
  }
}

TEST(Column, ReleasedStructsThrowInvalidInput) {
  std::vector<double> values = {1, 2};
  std::vector<const void*> buffers = {nullptr, values.data()};
  ArrowSchema schema = make_schema("g");
  ArrowArray array = make_array(2, 0, 0, buffers);

  ArrowArray released_array = array;
  released_array.release = nullptr;
  EXPECT_THROW(seawall::import_arrow_chunk(schema, released_array, "gone"), seawall::InvalidInput);
  EXPECT_NE(message_of([&] { seawall::import_arrow_chunk(schema, released_array, "gone"); }).find("gone"),
            std::string::npos);

  ArrowSchema released_schema = schema;
  released_schema.release = nullptr;
  EXPECT_THROW(seawall::import_arrow_chunk(released_schema, array, "gone"), seawall::InvalidInput);
  // Released must win over type checks: a released struct's other fields are not to be trusted.
  ArrowSchema released_odd = make_schema("b");
  released_odd.release = nullptr;
  EXPECT_THROW(seawall::import_arrow_chunk(released_odd, array, "gone"), seawall::InvalidInput);
}

TEST(Column, MalformedArraysThrowInvalidInput) {
  std::vector<double> values = {1, 2};
  std::vector<const void*> one_buffer = {nullptr};
  std::vector<const void*> three_buffers = {nullptr, values.data(), values.data()};
  std::vector<const void*> no_values = {nullptr, nullptr};
  std::vector<const void*> ok = {nullptr, values.data()};
  ArrowSchema g = make_schema("g");
  {
    ArrowArray a = make_array(2, 0, 0, one_buffer);
    EXPECT_THROW(seawall::import_arrow_chunk(g, a, "m"), seawall::InvalidInput);
  }
  {
    ArrowArray a = make_array(2, 0, 0, three_buffers);
    EXPECT_THROW(seawall::import_arrow_chunk(g, a, "m"), seawall::InvalidInput);
  }
  {
    ArrowArray a = make_array(2, 0, 0, no_values);
    EXPECT_THROW(seawall::import_arrow_chunk(g, a, "m"), seawall::InvalidInput);
  }
  {
    ArrowArray a = make_array(-1, 0, 0, ok);
    EXPECT_THROW(seawall::import_arrow_chunk(g, a, "m"), seawall::InvalidInput);
  }
  {
    ArrowArray a = make_array(1, 0, -1, ok);
    EXPECT_THROW(seawall::import_arrow_chunk(g, a, "m"), seawall::InvalidInput);
  }
  {
    // A string array needs three buffers and an offsets buffer.
    ArrowSchema u = make_schema("u");
    ArrowArray a = make_array(2, 0, 0, ok);
    EXPECT_THROW(seawall::import_arrow_chunk(u, a, "m"), seawall::InvalidInput);
    std::vector<const void*> no_offsets = {nullptr, nullptr, "ab"};
    ArrowArray b = make_array(2, 0, 0, no_offsets);
    EXPECT_THROW(seawall::import_arrow_chunk(u, b, "m"), seawall::InvalidInput);
  }
  {
    // Dictionary schema without a dictionary array.
    ArrowSchema utf8 = make_schema("u");
    ArrowSchema s = make_schema("i", &utf8);
    std::vector<int32_t> idx = {0, 0};
    std::vector<const void*> buffers = {nullptr, idx.data()};
    ArrowArray a = make_array(2, 0, 0, buffers, nullptr);
    EXPECT_THROW(seawall::import_arrow_chunk(s, a, "m"), seawall::InvalidInput);
  }
  {
    // An empty array may come without value buffers.
    ArrowArray a = make_array(0, 0, 0, no_values);
    const auto c = seawall::import_arrow_chunk(g, a, "m");
    EXPECT_EQ(c.length, 0);
  }
}

TEST(Column, ColumnLengthAndType) {
  seawall::Column empty;
  EXPECT_EQ(empty.length(), 0);
  seawall::Column c;
  c.chunks.resize(3);
  c.chunks[0].length = 5;
  c.chunks[1].length = 0;
  c.chunks[2].length = 7;
  for (auto& ch : c.chunks) ch.type = seawall::ValueType::kInt16;
  EXPECT_EQ(c.length(), 12);
  EXPECT_EQ(c.type(), seawall::ValueType::kInt16);
}

TEST(Column, TypeNamesAreDistinct) {
  using seawall::ValueType;
  std::vector<std::string> names;
  for (int t = 0; t <= static_cast<int>(ValueType::kDictionary); ++t) {
    names.emplace_back(seawall::value_type_name(static_cast<ValueType>(t)));
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::unique(names.begin(), names.end()), names.end());
  EXPECT_STREQ(seawall::value_type_name(ValueType::kFloat32), "float32");
}

}  // namespace

namespace {

// Strings that are not UTF-8 are refused where they come in, naming the column and the row
// (counted from first_row); null slots are not read, whatever bytes they hold.
template <typename Offset>
void check_invalid_utf8_is_refused(const char* format) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(std::string("format '") + format + "', random seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const char* bad_values[] = {"\xFF", "ab\xC3", "\xED\xA0\x80", "\xC0\xAF", "long ascii text\x80"};
  for (int trial = 0; trial < 40; ++trial) {
    const int64_t offset = static_cast<int64_t>(rng() % 5);
    const int64_t length = 1 + static_cast<int64_t>(rng() % 100);
    StringArray<Offset> arr;
    for (int64_t i = 0; i < offset + length; ++i) {
      arr.values.push_back(random_text(rng));
      arr.valid.push_back(rng() % 4 != 0);
    }
    const int64_t bad_row = static_cast<int64_t>(rng() % length);
    arr.values[offset + bad_row] = bad_values[rng() % 5];
    const bool bad_is_null = trial % 4 == 0;
    arr.valid[offset + bad_row] = !bad_is_null;
    // build(), but null slots keep their bytes: the bad value is there even when it is null.
    arr.offsets.assign(1, 0);
    for (const auto& v : arr.values) {
      arr.data += v;
      arr.offsets.push_back(static_cast<Offset>(arr.data.size()));
    }
    arr.bits = pack_bits(arr.valid);
    std::vector<const void*> buffers = {arr.bits.data(), arr.offsets.data(), arr.data.data()};
    ArrowSchema schema = make_schema(format);
    ArrowArray array = make_array(length, count_nulls(arr.valid, offset, length), offset, buffers);
    const int64_t first_row = static_cast<int64_t>(rng() % 1000);
    if (bad_is_null) {
      EXPECT_NO_THROW(seawall::import_arrow_chunk(schema, array, "text", first_row));
      continue;
    }
    EXPECT_THROW(seawall::import_arrow_chunk(schema, array, "text", first_row), seawall::InvalidInput);
    const std::string message =
        message_of([&] { seawall::import_arrow_chunk(schema, array, "text", first_row); });
    EXPECT_NE(message.find("column 'text', row " + std::to_string(first_row + bad_row) + ":"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("UTF-8"), std::string::npos) << message;
  }
}

}  // namespace

TEST(Column, RefusesStringsThatAreNotUtf8) {
  check_invalid_utf8_is_refused<int32_t>("u");
  check_invalid_utf8_is_refused<int64_t>("U");
}

TEST(Column, RefusesASequenceSplitAcrossTwoValues) {
  // "\xC3" then "\xA9": together the bytes of "é", each on its own not UTF-8.
  std::vector<int32_t> offsets = {0, 1, 2};
  const std::string data = "\xC3\xA9";
  std::vector<const void*> buffers = {nullptr, offsets.data(), data.data()};
  ArrowSchema schema = make_schema("u");
  ArrowArray array = make_array(2, 0, 0, buffers);
  const std::string message = message_of([&] { seawall::import_arrow_chunk(schema, array, "s"); });
  EXPECT_NE(message.find("column 's', row 0:"), std::string::npos) << message;
}

TEST(Column, RefusesADictionaryValueThatIsNotUtf8) {
  StringArray<int32_t> dict;
  dict.values = {"ok", "bad\xFF", "fine"};
  dict.valid = {true, true, true};
  dict.build();
  std::vector<const void*> dict_buffers = {nullptr, dict.offsets.data(), dict.data.data()};
  ArrowArray dict_array = make_array(3, 0, 0, dict_buffers);
  ArrowSchema dict_schema = make_schema("u");
  ArrowSchema schema = make_schema("i", &dict_schema);
  {  // a row uses it: that row is named
    std::vector<int32_t> indices = {0, 2, 2, 1, 1};
    std::vector<const void*> buffers = {nullptr, indices.data()};
    ArrowArray array = make_array(5, 0, 0, buffers, &dict_array);
    EXPECT_THROW(seawall::import_arrow_chunk(schema, array, "d", 10), seawall::InvalidInput);
    const std::string message = message_of([&] { seawall::import_arrow_chunk(schema, array, "d", 10); });
    EXPECT_NE(message.find("column 'd', row 13:"), std::string::npos) << message;
  }
  {  // no row uses it: the dictionary entry is named
    std::vector<int32_t> indices = {0, 2};
    std::vector<const void*> buffers = {nullptr, indices.data()};
    ArrowArray array = make_array(2, 0, 0, buffers, &dict_array);
    const std::string message = message_of([&] { seawall::import_arrow_chunk(schema, array, "d"); });
    EXPECT_NE(message.find("column 'd', dictionary value 1:"), std::string::npos) << message;
  }
}

TEST(Column, NamesTheFirstRowThatIsNotUtf8WhateverTheThreads) {
  // Many rows, checked in parallel pieces: the row named is the first bad one, every time.
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("random seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  StringArray<int64_t> arr;
  const int64_t n = 200000;
  for (int64_t i = 0; i < n; ++i) {
    arr.values.push_back(i % 3 == 0 ? "caf\xC3\xA9" : "v" + std::to_string(i));
    arr.valid.push_back(true);
  }
  const int64_t a = static_cast<int64_t>(rng() % n);
  const int64_t b = static_cast<int64_t>(rng() % n);
  arr.values[a] = "\xFF";
  arr.values[b] = "x\xC3";
  arr.build();
  std::vector<const void*> buffers = {nullptr, arr.offsets.data(), arr.data.data()};
  ArrowSchema schema = make_schema("U");
  ArrowArray array = make_array(n, 0, 0, buffers);
  const std::string want = "column 'big', row " + std::to_string(std::min(a, b)) + ":";
  for (const int threads : {1, 2, 5}) {
    seawall::set_num_threads(threads);
    for (int repeat = 0; repeat < 3; ++repeat) {
      const std::string message =
          message_of([&] { seawall::import_arrow_chunk(schema, array, "big"); });
      EXPECT_NE(message.find(want), std::string::npos) << message << " (" << threads << " threads)";
    }
  }
  seawall::set_num_threads(0);
}
