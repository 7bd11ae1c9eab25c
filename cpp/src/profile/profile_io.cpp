// The binary form of a profile (layout in column_profile.h). Reading trusts nothing: every size is
// checked against the bytes left before anything is allocated or read.
#include <cmath>
#include <cstring>
#include <unordered_set>

#include "seawall/core/hash.h"
#include "seawall/errors.h"
#include "seawall/profile/column_profile.h"

namespace seawall::profile {

namespace {

constexpr uint8_t kMagic[4] = {'S', 'W', 'P', 'F'};
constexpr size_t kHeaderSize = 16;
constexpr size_t kChecksumSize = 8;

class Writer {
 public:
  void u8(uint8_t v) { bytes.push_back(v); }
  void u16(uint16_t v) { uint(v, 2); }
  void u32(uint32_t v) { uint(v, 4); }
  void u64(uint64_t v) { uint(v, 8); }
  void f64(double v) {
    uint64_t b;
    std::memcpy(&b, &v, sizeof b);
    u64(b);
  }
  void raw(const void* p, size_t n) {
    const auto* c = static_cast<const uint8_t*>(p);
    bytes.insert(bytes.end(), c, c + n);
  }
  void put_u32_at(size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<uint8_t>(v >> (8 * i));
  }
  std::vector<uint8_t> bytes;

 private:
  void uint(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) bytes.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
};

[[noreturn]] void corrupt(const std::string& what) {
  throw CorruptState("profile: " + what);
}

class Reader {
 public:
  Reader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  size_t left() const { return n_ - at_; }
  const uint8_t* take(size_t n) {
    if (n > left()) corrupt("truncated data");
    const uint8_t* out = p_ + at_;
    at_ += n;
    return out;
  }
  uint64_t uint(int n) {
    const uint8_t* b = take(n);
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | b[i];
    return v;
  }
  uint8_t u8() { return static_cast<uint8_t>(uint(1)); }
  uint32_t u32() { return static_cast<uint32_t>(uint(4)); }
  uint64_t u64() { return uint(8); }
  double f64() {
    const uint64_t b = u64();
    double v;
    std::memcpy(&v, &b, sizeof v);
    return v;
  }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t at_ = 0;
};

void write_column(Writer& w, const ColumnProfile& c) {
  w.u32(static_cast<uint32_t>(c.name.size()));
  w.raw(c.name.data(), c.name.size());
  w.u8(static_cast<uint8_t>(c.kind));
  for (uint64_t v : {c.rows, c.nulls, c.nans, c.count, c.pos_inf, c.neg_inf}) w.u64(v);
  for (double v : {c.finite_mean, c.finite_m2, c.min, c.max}) w.f64(v);
  w.u8(c.distinct.precision());
  w.raw(c.distinct.registers().data(), c.distinct.registers().size());
  if (c.kind == ColumnKind::kNumeric) {
    const std::vector<uint8_t> sketch = c.sketch.serialize();
    w.u32(static_cast<uint32_t>(sketch.size()));
    w.raw(sketch.data(), sketch.size());
  } else {
    const auto top = c.frequent.top(c.frequent.size());
    w.u64(c.frequent.total());
    w.u32(static_cast<uint32_t>(top.size()));
    for (const auto& [value, count] : top) {
      w.u32(static_cast<uint32_t>(value.size()));
      w.raw(value.data(), value.size());
      w.u64(count);
    }
  }
}

ColumnProfile read_column(Reader& r, const ProfileOptions& options) {
  const uint32_t name_size = r.u32();
  const uint8_t* name = r.take(name_size);
  const uint8_t kind = r.u8();
  if (kind != static_cast<uint8_t>(ColumnKind::kNumeric) &&
      kind != static_cast<uint8_t>(ColumnKind::kString)) {
    corrupt("unknown column kind");
  }
  ColumnProfile c(std::string(reinterpret_cast<const char*>(name), name_size),
                  static_cast<ColumnKind>(kind), options);
  c.rows = r.u64();
  c.nulls = r.u64();
  c.nans = r.u64();
  c.count = r.u64();
  c.pos_inf = r.u64();
  c.neg_inf = r.u64();
  c.finite_mean = r.f64();
  c.finite_m2 = r.f64();
  c.min = r.f64();
  c.max = r.f64();
  // Sums checked without overflow: each part is at most the whole.
  if (c.nulls > c.rows || c.nans > c.rows - c.nulls || c.count != c.rows - c.nulls - c.nans ||
      c.pos_inf > c.count || c.neg_inf > c.count - c.pos_inf) {
    corrupt("column '" + c.name + "': inconsistent counts");
  }
  // Mean and M2 may be NaN or inf after an overflow on values near the double range: not corrupt.
  if (std::isnan(c.min) || std::isnan(c.max) || c.finite_m2 < 0) {
    corrupt("column '" + c.name + "': invalid moments");
  }
  const bool empty_range = c.min == std::numeric_limits<double>::infinity() &&
                           c.max == -std::numeric_limits<double>::infinity();
  if (c.kind == ColumnKind::kNumeric && (c.count == 0 ? !empty_range : !(c.min <= c.max))) {
    corrupt("column '" + c.name + "': invalid min/max");
  }
  if (c.finite_count() == 0 && (c.finite_mean != 0.0 || c.finite_m2 != 0.0)) {
    corrupt("column '" + c.name + "': moments without values");
  }
  const uint8_t p = r.u8();
  if (p != options.hll_precision) corrupt("column '" + c.name + "': wrong HyperLogLog precision");
  const size_t m = size_t{1} << p;
  c.distinct = HyperLogLog::from_registers(p, r.take(m), m);
  if (c.kind == ColumnKind::kNumeric) {
    const uint32_t size = r.u32();
    const uint8_t* bytes = r.take(size);
    try {
      c.sketch = sketch::KllSketch::deserialize(bytes, size);
    } catch (const InvalidInput& e) {
      corrupt(std::string("column '") + c.name + "': " + e.what());
    }
    if (c.sketch.k() != options.sketch_k || c.sketch.count() != c.count ||
        c.sketch.nan_count() != 0 ||
        (c.count > 0 && !(c.sketch.min() == c.min && c.sketch.max() == c.max))) {
      corrupt("column '" + c.name + "': sketch does not match the column");
    }
  } else {
    // Strings keep no moments and no min/max.
    if (c.nans != 0 || c.pos_inf != 0 || c.neg_inf != 0 || c.finite_mean != 0.0 ||
        c.finite_m2 != 0.0 || c.min != std::numeric_limits<double>::infinity() ||
        c.max != -std::numeric_limits<double>::infinity()) {
      corrupt("column '" + c.name + "': numeric statistics on a string column");
    }
    const uint64_t total = r.u64();
    const uint32_t entries = r.u32();
    if (total != c.count || entries > options.top_k) {
      corrupt("column '" + c.name + "': invalid frequent values");
    }
    std::vector<std::pair<std::string, uint64_t>> counters;
    std::unordered_set<std::string> seen;
    uint64_t sum = 0;
    for (uint32_t i = 0; i < entries; ++i) {
      const uint32_t size = r.u32();
      const uint8_t* bytes = r.take(size);
      const uint64_t count = r.u64();
      std::string value(reinterpret_cast<const char*>(bytes), size);
      if (count == 0 || count > total - sum || !seen.insert(value).second) {
        corrupt("column '" + c.name + "': invalid frequent values");
      }
      sum += count;
      counters.emplace_back(std::move(value), count);
    }
    c.frequent.restore(total, std::move(counters));
  }
  return c;
}

}  // namespace

std::vector<uint8_t> serialize_profile(const std::vector<ColumnProfile>& columns,
                                       const ProfileOptions& options) {
  Writer body;
  body.u32(options.sketch_k);
  body.u8(options.hll_precision);
  body.u32(options.top_k);
  body.u32(static_cast<uint32_t>(columns.size()));
  for (const auto& c : columns) {
    const size_t at = body.bytes.size();
    body.u32(0);
    write_column(body, c);
    body.put_u32_at(at, static_cast<uint32_t>(body.bytes.size() - at - 4));
  }
  Writer out;
  out.raw(kMagic, 4);
  out.u16(kProfileFormatVersion);
  out.u16(0);
  out.u64(body.bytes.size());
  out.raw(body.bytes.data(), body.bytes.size());
  out.u64(xxh64(body.bytes.data(), body.bytes.size()));
  return std::move(out.bytes);
}

std::vector<ColumnProfile> deserialize_profile(const uint8_t* data, size_t size,
                                               ProfileOptions* options_out) {
  if (data == nullptr && size != 0) corrupt("null data");
  if (size < kHeaderSize + kChecksumSize) corrupt("truncated data (no header)");
  if (std::memcmp(data, kMagic, 4) != 0) corrupt("not a seawall profile (bad magic)");
  Reader header(data + 4, kHeaderSize - 4);
  const auto version = static_cast<uint16_t>(header.uint(2));
  const auto reserved = static_cast<uint16_t>(header.uint(2));
  const uint64_t body_size = header.u64();
  if (version != kProfileFormatVersion) {
    corrupt("unsupported format version " + std::to_string(version));
  }
  if (reserved != 0) corrupt("bad reserved field");
  if (body_size != size - kHeaderSize - kChecksumSize) corrupt("truncated data or trailing bytes");
  const uint8_t* body = data + kHeaderSize;
  Reader tail(body + body_size, kChecksumSize);
  if (tail.u64() != xxh64(body, body_size)) corrupt("checksum mismatch (corrupted data)");

  Reader r(body, body_size);
  ProfileOptions options;
  options.sketch_k = r.u32();
  options.hll_precision = r.u8();
  options.top_k = r.u32();
  try {
    options.check();
  } catch (const InvalidInput& e) {
    corrupt(e.what());
  }
  const uint32_t ncols = r.u32();
  std::vector<ColumnProfile> columns;
  std::unordered_set<std::string> names;
  for (uint32_t i = 0; i < ncols; ++i) {
    const uint32_t section = r.u32();
    Reader s(r.take(section), section);
    ColumnProfile c = read_column(s, options);
    if (s.left() != 0) corrupt("column '" + c.name + "': section has trailing bytes");
    if (!names.insert(c.name).second) corrupt("column '" + c.name + "' appears twice");
    columns.push_back(std::move(c));
  }
  if (r.left() != 0) corrupt("trailing bytes in the body");
  if (options_out != nullptr) *options_out = options;
  return columns;
}

}  // namespace seawall::profile
