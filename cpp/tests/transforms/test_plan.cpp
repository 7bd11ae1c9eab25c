// End-to-end tests of transforms::Plan. Every expected number comes from an oracle written here
// from the documented semantics (program.h and the Python op docs), evaluated in double (or long
// double) one row at a time; the batch kernel, its chunking, its threading and the one-row path
// are then also compared with each other bit for bit.
#include "seawall/transforms/program.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <ios>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "seawall/core/column.h"
#include "seawall/core/hash.h"
#include "seawall/core/thread_pool.h"
#include "seawall/errors.h"

namespace {

namespace sw = seawall;
namespace tf = seawall::transforms;
using sw::ValueType;

constexpr double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::nan("");

// Fresh per run; SEAWALL_TEST_SEED=<n> replays a failing run.
uint64_t fresh_seed() {
  if (const char* s = std::getenv("SEAWALL_TEST_SEED")) return std::strtoull(s, nullptr, 0);
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}
#define SEED_TRACE(seed) \
  SCOPED_TRACE("random seed " + std::to_string(seed) + " (replay with SEAWALL_TEST_SEED)")

double uniform(std::mt19937_64& rng, double lo, double hi) {
  return std::uniform_real_distribution<double>(lo, hi)(rng);
}

// ---------------------------------------------------------------------------------------------
// Logical inputs and their physical (Arrow-like) layouts.

struct Cell {
  bool null = false;
  double number = 0.0;  // may be NaN (a present value that counts as missing)
  std::string text;
};

struct Input {
  std::string name;
  ValueType type = ValueType::kFloat64;  // a numeric type, or kUtf8 for any string input
  std::vector<Cell> cells;
  bool is_string() const { return sw::is_string_like(type); }
  int64_t rows() const { return static_cast<int64_t>(cells.size()); }
};

enum class Repr { kPlain, kLarge, kDictionary };

// Owns every buffer the chunks of one Column point into.
struct Built {
  sw::Column column;
  std::vector<std::shared_ptr<void>> keep;

  template <typename T>
  T* buffer(size_t n) {
    auto v = std::make_shared<std::vector<T>>(n + 1);
    keep.push_back(v);
    return v->data();
  }
  uint8_t* bitmap(int64_t bits, std::mt19937_64& rng) {
    uint8_t* b = buffer<uint8_t>(static_cast<size_t>(bits / 8 + 1));
    // Random bits everywhere first, so a reader that ignores the offset sees garbage.
    for (int64_t i = 0; i <= bits / 8; ++i) b[i] = static_cast<uint8_t>(rng());
    return b;
  }
};

void set_bit(uint8_t* bits, int64_t i, bool v) {
  if (v) {
    bits[i >> 3] |= static_cast<uint8_t>(1u << (i & 7));
  } else {
    bits[i >> 3] &= static_cast<uint8_t>(~(1u << (i & 7)));
  }
}

template <typename T>
sw::ColumnChunk numeric_chunk(Built& b, const Input& in, int64_t start, int64_t len,
                              std::mt19937_64& rng) {
  const int64_t pad = static_cast<int64_t>(rng() % 11);
  T* values = b.buffer<T>(pad + len);
  bool any_null = false;
  for (int64_t i = 0; i < pad; ++i) values[i] = static_cast<T>(rng() % 100);
  for (int64_t r = 0; r < len; ++r) {
    const Cell& cell = in.cells[start + r];
    any_null |= cell.null;
    values[pad + r] = cell.null ? static_cast<T>(rng() % 100) : static_cast<T>(cell.number);
  }
  sw::ColumnChunk c;
  c.type = in.type;
  c.length = len;
  c.offset = pad;
  c.values = values;
  if (any_null || rng() % 3 == 0) {  // sometimes an all-valid bitmap, as Arrow allows
    uint8_t* bits = b.bitmap(pad + len, rng);
    for (int64_t r = 0; r < len; ++r) set_bit(bits, pad + r, !in.cells[start + r].null);
    c.validity = bits;
  }
  return c;
}

// Lays out strings [start, start + n) as an Arrow (large_)utf8 array behind `pad` junk slots.
// Null slots hold junk bytes too: readers must go by validity, not by length.
template <typename Offset>
sw::ColumnChunk string_chunk(Built& b, const std::vector<const std::string*>& texts, int64_t pad,
                             ValueType type, std::mt19937_64& rng) {
  const int64_t len = static_cast<int64_t>(texts.size());
  std::string data;
  Offset* offsets = b.buffer<Offset>(pad + len + 1);
  offsets[0] = 0;
  for (int64_t i = 0; i < pad; ++i) {
    data += "PAD" + std::to_string(i);
    offsets[i + 1] = static_cast<Offset>(data.size());
  }
  bool any_null = false;
  for (int64_t r = 0; r < len; ++r) {
    if (texts[r] == nullptr) {
      any_null = true;
      if (rng() % 2) data += "JUNK";
    } else {
      data += *texts[r];
    }
    offsets[pad + r + 1] = static_cast<Offset>(data.size());
  }
  char* bytes = b.buffer<char>(data.size());
  std::memcpy(bytes, data.data(), data.size());
  sw::ColumnChunk c;
  c.type = type;
  c.length = len;
  c.offset = pad;
  c.offsets = offsets;
  c.data = bytes;
  if (any_null || rng() % 3 == 0) {
    uint8_t* bits = b.bitmap(pad + len, rng);
    for (int64_t r = 0; r < len; ++r) set_bit(bits, pad + r, texts[r] != nullptr);
    c.validity = bits;
  }
  return c;
}

template <typename Index>
void write_indices(Built& b, sw::ColumnChunk& c, const std::vector<int64_t>& idx, int64_t pad) {
  Index* out = b.buffer<Index>(pad + idx.size());
  for (int64_t i = 0; i < pad; ++i) out[i] = static_cast<Index>(-1);
  // Null rows carry index -1 (or the type's max): never in range, so reading one is caught.
  for (size_t r = 0; r < idx.size(); ++r) out[pad + r] = static_cast<Index>(idx[r]);
  c.values = out;
}

// A dictionary-encoded chunk with its own dictionary: the chunk's distinct values shuffled,
// some unused decoys, and sometimes a null entry that some null rows point at.
sw::ColumnChunk dictionary_chunk(Built& b, const Input& in, int64_t start, int64_t len,
                                 std::mt19937_64& rng) {
  std::vector<std::string> entries;
  std::map<std::string, int64_t> seen;
  for (int64_t r = 0; r < len; ++r) {
    const Cell& cell = in.cells[start + r];
    if (!cell.null && seen.emplace(cell.text, 0).second) entries.push_back(cell.text);
  }
  for (int d = 0, decoys = static_cast<int>(rng() % 3); d < decoys; ++d) {
    const std::string decoy = "decoy#" + std::to_string(rng() % 1000);
    if (seen.emplace(decoy, 0).second) entries.push_back(decoy);
  }
  std::shuffle(entries.begin(), entries.end(), rng);
  std::vector<const std::string*> dict_texts;
  for (const auto& e : entries) dict_texts.push_back(&e);
  int64_t null_entry = -1;
  if (rng() % 2) {
    null_entry = static_cast<int64_t>(rng() % (dict_texts.size() + 1));
    dict_texts.insert(dict_texts.begin() + null_entry, nullptr);
  }
  for (size_t d = 0; d < dict_texts.size(); ++d) {
    if (dict_texts[d] != nullptr) seen[*dict_texts[d]] = static_cast<int64_t>(d);
  }
  const bool large = rng() % 2;
  auto dict = std::make_shared<sw::ColumnChunk>(
      large ? string_chunk<int64_t>(b, dict_texts, rng() % 4, ValueType::kLargeUtf8, rng)
            : string_chunk<int32_t>(b, dict_texts, rng() % 4, ValueType::kUtf8, rng));

  const int64_t pad = static_cast<int64_t>(rng() % 9);
  std::vector<int64_t> idx(len);
  sw::ColumnChunk c;
  c.type = ValueType::kDictionary;
  c.length = len;
  c.offset = pad;
  c.dictionary = dict;
  bool any_invalid = false;
  std::vector<bool> valid(len, true);
  for (int64_t r = 0; r < len; ++r) {
    const Cell& cell = in.cells[start + r];
    if (!cell.null) {
      idx[r] = seen.at(cell.text);
    } else if (null_entry >= 0 && rng() % 2) {
      idx[r] = null_entry;  // a valid index to a null dictionary entry is a null value too
    } else {
      idx[r] = -1;
      valid[r] = false;
      any_invalid = true;
    }
  }
  const size_t dict_size = dict_texts.size();
  std::vector<ValueType> index_types = {ValueType::kInt16, ValueType::kInt32, ValueType::kInt64,
                                        ValueType::kUInt16, ValueType::kUInt32, ValueType::kUInt64};
  if (dict_size < 127) index_types.push_back(ValueType::kInt8);
  if (dict_size < 255) index_types.push_back(ValueType::kUInt8);
  c.index_type = index_types[rng() % index_types.size()];
  switch (c.index_type) {
    case ValueType::kInt8: write_indices<int8_t>(b, c, idx, pad); break;
    case ValueType::kInt16: write_indices<int16_t>(b, c, idx, pad); break;
    case ValueType::kInt32: write_indices<int32_t>(b, c, idx, pad); break;
    case ValueType::kInt64: write_indices<int64_t>(b, c, idx, pad); break;
    case ValueType::kUInt8: write_indices<uint8_t>(b, c, idx, pad); break;
    case ValueType::kUInt16: write_indices<uint16_t>(b, c, idx, pad); break;
    case ValueType::kUInt32: write_indices<uint32_t>(b, c, idx, pad); break;
    default: write_indices<uint64_t>(b, c, idx, pad); break;
  }
  if (any_invalid || rng() % 3 == 0) {
    uint8_t* bits = b.bitmap(pad + len, rng);
    for (int64_t r = 0; r < len; ++r) set_bit(bits, pad + r, valid[r]);
    c.validity = bits;
  }
  return c;
}

sw::ColumnChunk make_chunk(Built& b, const Input& in, int64_t start, int64_t len, Repr repr,
                           std::mt19937_64& rng) {
  switch (in.type) {
    case ValueType::kInt8: return numeric_chunk<int8_t>(b, in, start, len, rng);
    case ValueType::kInt16: return numeric_chunk<int16_t>(b, in, start, len, rng);
    case ValueType::kInt32: return numeric_chunk<int32_t>(b, in, start, len, rng);
    case ValueType::kInt64: return numeric_chunk<int64_t>(b, in, start, len, rng);
    case ValueType::kUInt8: return numeric_chunk<uint8_t>(b, in, start, len, rng);
    case ValueType::kUInt16: return numeric_chunk<uint16_t>(b, in, start, len, rng);
    case ValueType::kUInt32: return numeric_chunk<uint32_t>(b, in, start, len, rng);
    case ValueType::kUInt64: return numeric_chunk<uint64_t>(b, in, start, len, rng);
    case ValueType::kFloat32: return numeric_chunk<float>(b, in, start, len, rng);
    case ValueType::kFloat64: return numeric_chunk<double>(b, in, start, len, rng);
    default: break;
  }
  if (repr == Repr::kDictionary) return dictionary_chunk(b, in, start, len, rng);
  std::vector<const std::string*> texts;
  for (int64_t r = 0; r < len; ++r) {
    const Cell& cell = in.cells[start + r];
    texts.push_back(cell.null ? nullptr : &cell.text);
  }
  const int64_t pad = static_cast<int64_t>(rng() % 7);
  return repr == Repr::kLarge ? string_chunk<int64_t>(b, texts, pad, ValueType::kLargeUtf8, rng)
                              : string_chunk<int32_t>(b, texts, pad, ValueType::kUtf8, rng);
}

// Chunk sizes summing to n: random cut points (repeats give empty chunks, as Arrow allows).
std::vector<int64_t> random_sizes(int64_t n, int max_cuts, std::mt19937_64& rng) {
  std::vector<int64_t> cuts = {0, n};
  const int k = max_cuts <= 0 ? 0 : static_cast<int>(rng() % (max_cuts + 1));
  for (int i = 0; i < k; ++i) cuts.push_back(n == 0 ? 0 : static_cast<int64_t>(rng() % (n + 1)));
  std::sort(cuts.begin(), cuts.end());
  std::vector<int64_t> sizes;
  for (size_t i = 1; i < cuts.size(); ++i) sizes.push_back(cuts[i] - cuts[i - 1]);
  return sizes;
}

// Physical tables built from logical inputs; keeps the buffers alive.
struct Table {
  std::vector<Built> built;
  std::vector<sw::Column> columns;
};

// max_cuts == 0 gives one chunk per column; otherwise every column gets its own random cuts.
Table materialize(const std::vector<Input>& inputs, int max_cuts, Repr repr, std::mt19937_64& rng) {
  Table t;
  t.built.resize(inputs.size());
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Input& in = inputs[k];
    Built& b = t.built[k];
    b.column.name = in.name;
    int64_t start = 0;
    for (int64_t size : random_sizes(in.rows(), max_cuts, rng)) {
      b.column.chunks.push_back(make_chunk(b, in, start, size, repr, rng));
      start += size;
    }
  }
  for (const auto& b : t.built) t.columns.push_back(b.column);
  return t;
}

// ---------------------------------------------------------------------------------------------
// Input generators.

Input numeric_input(const std::string& name, ValueType type, int64_t n, double null_rate,
                    double nan_rate, double lo, double hi, std::mt19937_64& rng) {
  Input in;
  in.name = name;
  in.type = type;
  in.cells.resize(n);
  for (auto& c : in.cells) {
    const double u = uniform(rng, 0, 1);
    if (u < null_rate) {
      c.null = true;
      continue;
    }
    if (u < null_rate + nan_rate && (type == ValueType::kFloat32 || type == ValueType::kFloat64)) {
      c.number = kNaN;
      continue;
    }
    double v = uniform(rng, lo, hi);
    switch (type) {
      case ValueType::kFloat32: v = static_cast<float>(v); break;
      case ValueType::kFloat64: break;
      default: v = std::floor(v); break;  // caller keeps [lo, hi] inside the integer type
    }
    c.number = v;
  }
  return in;
}

// Strings from `levels` with a skewed distribution, plus a share of values outside it.
Input string_input(const std::string& name, int64_t n, const std::vector<std::string>& levels,
                   double null_rate, double unseen_rate, std::mt19937_64& rng) {
  Input in;
  in.name = name;
  in.type = ValueType::kUtf8;
  in.cells.resize(n);
  for (auto& c : in.cells) {
    const double u = uniform(rng, 0, 1);
    if (u < null_rate) {
      c.null = true;
    } else if (u < null_rate + unseen_rate) {
      c.text = "unseen-" + std::to_string(rng() % 50);
    } else {
      // Squaring a uniform favours the first levels, so frequencies differ.
      const double w = uniform(rng, 0, 1);
      c.text = levels[static_cast<size_t>(w * w * static_cast<double>(levels.size()))];
    }
  }
  return in;
}

std::vector<std::string> make_levels(int count, const std::string& prefix) {
  std::vector<std::string> levels;
  for (int i = 0; i < count; ++i) levels.push_back(prefix + std::to_string(i));
  return levels;
}

// Levels with awkward bytes: empty, embedded NUL, non-ASCII.
std::vector<std::string> awkward_levels() {
  return {"", std::string("a\0b", 3), std::string("a\0c", 3), "a", "\xC3\xA9t\xC3\xA9", "Z",
          "zz", "\xFF", "lvl-1", "lvl-2"};
}

// ---------------------------------------------------------------------------------------------
// Program builders.

tf::NumericOp scale_op(double shift, double scale, bool clip = false, double lo = -kInf,
                       double hi = kInf) {
  tf::NumericOp op;
  op.kind = tf::NumericOpKind::kScale;
  op.shift = shift;
  op.scale = scale;
  op.clip = clip;
  op.lower = lo;
  op.upper = hi;
  return op;
}
tf::NumericOp clip_op(double lo, double hi) {
  tf::NumericOp op;
  op.kind = tf::NumericOpKind::kClip;
  op.lower = lo;
  op.upper = hi;
  return op;
}
tf::NumericOp log1p_op() {
  tf::NumericOp op;
  op.kind = tf::NumericOpKind::kLog1p;
  return op;
}
tf::NumericOp bucketize_op(std::vector<double> boundaries) {
  tf::NumericOp op;
  op.kind = tf::NumericOpKind::kBucketize;
  op.boundaries = std::move(boundaries);
  return op;
}

tf::ColumnProgram numeric_program(const std::string& column, int input, std::vector<tf::NumericOp> ops = {}) {
  tf::ColumnProgram p;
  p.column = column;
  p.input = input;
  p.numeric_ops = std::move(ops);
  return p;
}

tf::ColumnProgram with_impute(tf::ColumnProgram p, double number, bool indicator) {
  p.impute.enabled = true;
  p.impute.number = number;
  p.impute.indicator = indicator;
  return p;
}

tf::ColumnProgram string_program(const std::string& column, int input, tf::CategoricalKind kind) {
  tf::ColumnProgram p;
  p.column = column;
  p.input = input;
  p.string_input = true;
  p.categorical.kind = kind;
  return p;
}

// A random chain whose domain is safe for inputs in about [-1e4, 1e4]: Log1p is always preceded
// by a clip to [-0.5, inf), and scales stay away from zero so nothing approaches FLT_MAX.
tf::ColumnProgram random_numeric_program(const std::string& name, int input, bool needs_impute,
                                         std::mt19937_64& rng) {
  tf::ColumnProgram p = numeric_program(name, input);
  if (needs_impute || rng() % 3 == 0) p = with_impute(p, std::round(uniform(rng, -50, 50)), rng() % 2);
  const int ops = static_cast<int>(rng() % 5);
  for (int i = 0; i < ops; ++i) {
    switch (rng() % 4) {
      case 0: {
        const double scale = (rng() % 2 ? 1.0 : -1.0) * uniform(rng, 0.05, 50.0);
        if (rng() % 3 == 0) {
          p.numeric_ops.push_back(scale_op(uniform(rng, -100, 100), scale, true, -uniform(rng, 0, 5), uniform(rng, 0, 5)));
        } else {
          p.numeric_ops.push_back(scale_op(uniform(rng, -100, 100), scale));
        }
        break;
      }
      case 1: {
        const double lo = rng() % 4 == 0 ? -kInf : uniform(rng, -100, 0);
        const double hi = rng() % 4 == 0 ? kInf : uniform(rng, 0, 100);
        p.numeric_ops.push_back(clip_op(lo, hi));
        break;
      }
      case 2:
        p.numeric_ops.push_back(clip_op(-0.5, kInf));
        p.numeric_ops.push_back(log1p_op());
        break;
      default: {
        std::vector<double> b;
        for (int k = 0, nb = static_cast<int>(rng() % 8); k < nb; ++k) b.push_back(std::round(uniform(rng, -20, 20)));
        if (!b.empty() && rng() % 2) b.push_back(b.front());  // duplicated boundary
        std::sort(b.begin(), b.end());
        p.numeric_ops.push_back(bucketize_op(b));
        break;
      }
    }
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// The oracle.

int64_t oracle_width(const tf::ColumnProgram& p) {
  int64_t w = 1;
  if (p.categorical.kind == tf::CategoricalKind::kOneHot) {
    w = static_cast<int64_t>(p.categorical.categories.size()) + (p.categorical.infrequent_column ? 1 : 0) +
        (p.categorical.unknown_column ? 1 : 0);
  }
  return w + (p.impute.enabled && p.impute.indicator ? 1 : 0);
}

int64_t oracle_width(const std::vector<tf::ColumnProgram>& ps) {
  int64_t w = 0;
  for (const auto& p : ps) w += oracle_width(p);
  return w;
}

double oracle_op(const tf::NumericOp& op, double x) {
  auto clamp = [](double v, double lo, double hi) {
    if (v < lo) v = lo;
    if (v > hi) v = hi;
    return v;
  };
  switch (op.kind) {
    case tf::NumericOpKind::kScale: {
      // program.h fixes the arithmetic: (x - shift) * (1 / scale), the reciprocal rounded once.
      const double inverse = 1.0 / op.scale;
      const double y = (x - op.shift) * inverse;
      return op.clip ? clamp(y, op.lower, op.upper) : y;
    }
    case tf::NumericOpKind::kClip:
      return clamp(x, op.lower, op.upper);
    case tf::NumericOpKind::kLog1p:
      return std::log1p(x);
    case tf::NumericOpKind::kBucketize: {
      int64_t count = 0;
      for (double b : op.boundaries) count += b <= x;
      return static_cast<double>(count);
    }
  }
  return kNaN;
}

// The value a numeric program yields before the float cast; *missing tells whether it was imputed.
double oracle_number(const tf::ColumnProgram& p, const Cell& cell, bool* missing) {
  *missing = cell.null || std::isnan(cell.number);
  double x = *missing ? p.impute.number : cell.number;
  for (const auto& op : p.numeric_ops) x = oracle_op(op, x);
  return x;
}

int64_t position(const std::vector<std::string>& v, const std::string& s) {
  const auto it = std::find(v.begin(), v.end(), s);
  return it == v.end() ? -1 : static_cast<int64_t>(it - v.begin());
}

// Writes one row's outputs; row holds the cell of every input.
void oracle_row(const std::vector<tf::ColumnProgram>& ps, const std::vector<Input>& inputs,
                int64_t row, float* out) {
  std::fill(out, out + oracle_width(ps), 0.0f);
  int64_t off = 0;
  for (const auto& p : ps) {
    const Cell& cell = inputs[p.input].cells[row];
    const bool indicator = p.impute.enabled && p.impute.indicator;
    if (!p.string_input) {
      bool missing = false;
      const double x = oracle_number(p, cell, &missing);
      out[off] = static_cast<float>(x);
      if (indicator) out[off + 1] = missing ? 1.0f : 0.0f;
      off += oracle_width(p);
      continue;
    }
    const tf::CategoricalOp& op = p.categorical;
    const bool missing = cell.null;
    const bool null_after_impute = missing && !p.impute.enabled;
    const std::string text = missing ? p.impute.text : cell.text;
    const int64_t cat = null_after_impute ? -1 : position(op.categories, text);
    const int64_t infrequent = null_after_impute ? -1 : position(op.infrequent, text);
    int64_t main_width = 1;
    switch (op.kind) {
      case tf::CategoricalKind::kCategorify: {
        int64_t id = tf::kUnknownId;
        if (null_after_impute) {
          id = tf::kNullId;
        } else if (cat >= 0) {
          id = tf::kFirstCategoryId + cat;
        } else if (infrequent >= 0) {
          id = tf::kInfrequentId;
        }
        out[off] = static_cast<float>(id);
        break;
      }
      case tf::CategoricalKind::kOneHot: {
        const int64_t k = static_cast<int64_t>(op.categories.size());
        main_width = k + op.infrequent_column + op.unknown_column;
        if (cat >= 0) {
          out[off + cat] = 1.0f;
        } else if (infrequent >= 0 && op.infrequent_column) {
          out[off + k] = 1.0f;
        } else if (infrequent < 0 && op.unknown_column) {
          // Unseen values and nulls share the "other" column.
          out[off + k + (op.infrequent_column ? 1 : 0)] = 1.0f;
        }
        break;
      }
      case tf::CategoricalKind::kHashBucket: {
        const uint64_t bucket = null_after_impute ? op.buckets : sw::xxh64(text.data(), text.size()) % op.buckets;
        out[off] = static_cast<float>(bucket);
        break;
      }
      case tf::CategoricalKind::kNone:
        ADD_FAILURE() << "string program without a categorical op";
        break;
    }
    if (indicator) out[off + main_width] = missing ? 1.0f : 0.0f;
    off += oracle_width(p);
  }
}

int64_t float_ulps(float a, float b) {
  auto ordered = [](float f) {
    int32_t i;
    std::memcpy(&i, &f, sizeof i);
    return i < 0 ? static_cast<int64_t>(INT32_MIN) - i : static_cast<int64_t>(i);
  };
  return std::llabs(ordered(a) - ordered(b));
}

// Compares the batch output with the oracle row by row: at most one float ulp apart (the oracle
// follows the documented formula; an implementation is free to round its last double bit
// differently), and categorical outputs exactly since they are small integers either way.
void expect_matches_oracle(const std::vector<tf::ColumnProgram>& ps, const std::vector<Input>& inputs,
                           const std::vector<float>& got) {
  const int64_t width = oracle_width(ps);
  const int64_t rows = inputs.front().rows();
  ASSERT_EQ(static_cast<int64_t>(got.size()), rows * width);
  std::vector<float> expected(width);
  int reported = 0;
  int64_t bad = 0;
  for (int64_t r = 0; r < rows; ++r) {
    oracle_row(ps, inputs, r, expected.data());
    for (int64_t j = 0; j < width; ++j) {
      const float g = got[r * width + j];
      const float e = expected[j];
      const bool ok = std::memcmp(&g, &e, sizeof g) == 0 || (std::isfinite(e) && float_ulps(g, e) <= 1);
      if (!ok) {
        ++bad;
        if (reported++ < 8) ADD_FAILURE() << "row " << r << " output " << j << ": got " << g << ", expected " << e;
      }
    }
  }
  EXPECT_EQ(bad, 0) << "outputs differing from the oracle";
}

std::vector<float> run_transform(const tf::Plan& plan, const std::vector<sw::Column>& columns) {
  const int64_t rows = columns.empty() ? 0 : columns.front().length();
  // NaN fill: any output the kernel forgets to write shows up.
  std::vector<float> out(static_cast<size_t>(rows * plan.width()), std::numeric_limits<float>::quiet_NaN());
  plan.transform(columns, out.data());
  return out;
}

void expect_bitwise_equal(const std::vector<float>& a, const std::vector<float>& b, int64_t width,
                          const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  if (std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0) return;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) {
      ADD_FAILURE() << what << ": first difference at row " << i / width << " output " << i % width
                    << ": " << a[i] << " vs " << b[i];
      return;
    }
  }
}

std::vector<tf::RowValue> row_values(const std::vector<Input>& inputs, int64_t r) {
  std::vector<tf::RowValue> values(inputs.size());
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Cell& c = inputs[k].cells[r];
    values[k].missing = c.null;
    values[k].is_text = inputs[k].is_string();
    if (values[k].is_text) {
      values[k].text = c.text;
    } else {
      values[k].number = c.number;
    }
  }
  return values;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const sw::InvalidInput& e) {
    return e.what();
  }
  return "<no InvalidInput thrown>";
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The pool is global: tests that resize it put the default back.
class PlanTest : public ::testing::Test {
 protected:
  void TearDown() override { sw::set_num_threads(0); }
};

// A mixed table and plan covering every op; reused by the equivalence tests below.
struct Scenario {
  std::vector<Input> inputs;
  std::vector<tf::ColumnProgram> programs;
};

Scenario mixed_scenario(int64_t rows, std::mt19937_64& rng) {
  Scenario s;
  s.inputs.push_back(numeric_input("f64", ValueType::kFloat64, rows, 0.05, 0.05, -1e4, 1e4, rng));
  s.inputs.push_back(numeric_input("f32", ValueType::kFloat32, rows, 0.0, 0.0, -300, 300, rng));
  s.inputs.push_back(numeric_input("i32", ValueType::kInt32, rows, 0.1, 0.0, -5000, 5000, rng));
  s.inputs.push_back(numeric_input("u8", ValueType::kUInt8, rows, 0.0, 0.0, 0, 255, rng));
  s.inputs.push_back(numeric_input("i64", ValueType::kInt64, rows, 0.02, 0.0, -1e4, 1e4, rng));
  const auto colors = make_levels(12, "color");
  const auto awkward = awkward_levels();
  s.inputs.push_back(string_input("color", rows, colors, 0.05, 0.05, rng));
  s.inputs.push_back(string_input("awkward", rows, awkward, 0.1, 0.05, rng));
  s.inputs.push_back(string_input("city", rows, make_levels(300, "city"), 0.0, 0.02, rng));

  for (int k = 0; k < 5; ++k) {
    const bool has_missing = k == 0 || k == 2 || k == 4;
    s.programs.push_back(random_numeric_program(s.inputs[k].name, k, has_missing, rng));
  }
  // A second program on the same input, with a different chain.
  s.programs.push_back(random_numeric_program("f64", 0, true, rng));

  auto cat = string_program("color", 5, tf::CategoricalKind::kCategorify);
  cat.categorical.categories = {colors[0], colors[2], colors[1], colors[5]};
  cat.categorical.infrequent = {colors[7], colors[8]};
  s.programs.push_back(cat);

  auto cat_imputed = cat;
  cat_imputed.impute.enabled = true;
  cat_imputed.impute.text = colors[7];  // imputes into the infrequent group
  cat_imputed.impute.indicator = true;
  s.programs.push_back(cat_imputed);

  auto onehot = string_program("awkward", 6, tf::CategoricalKind::kOneHot);
  onehot.categorical.categories = {awkward[1], awkward[0], awkward[4], awkward[3]};
  onehot.categorical.infrequent = {awkward[2], awkward[7]};
  onehot.categorical.infrequent_column = true;
  onehot.categorical.unknown_column = true;
  s.programs.push_back(onehot);

  auto onehot_ignore = string_program("color", 5, tf::CategoricalKind::kOneHot);
  onehot_ignore.categorical.categories = {colors[3], colors[0]};
  onehot_ignore.impute.enabled = true;
  onehot_ignore.impute.text = "never-seen";
  onehot_ignore.impute.indicator = true;
  s.programs.push_back(onehot_ignore);

  auto onehot_other = string_program("awkward", 6, tf::CategoricalKind::kOneHot);
  onehot_other.categorical.categories = {awkward[5]};
  onehot_other.categorical.unknown_column = true;
  s.programs.push_back(onehot_other);

  auto hashed = string_program("city", 7, tf::CategoricalKind::kHashBucket);
  hashed.categorical.buckets = 97;
  s.programs.push_back(hashed);

  auto hashed_nulls = string_program("awkward", 6, tf::CategoricalKind::kHashBucket);
  hashed_nulls.categorical.buckets = 1000003;
  s.programs.push_back(hashed_nulls);

  auto many = string_program("city", 7, tf::CategoricalKind::kCategorify);
  for (int i = 0; i < 250; ++i) many.categorical.categories.push_back("city" + std::to_string(i));
  many.categorical.infrequent = {"city299", "city298"};
  s.programs.push_back(many);
  return s;
}

// ---------------------------------------------------------------------------------------------
// transform

TEST_F(PlanTest, NumericChainsMatchOracle) {
  const uint64_t seed = fresh_seed();
  SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 4; ++round) {
    const int64_t rows = 1 + static_cast<int64_t>(rng() % 6000);
    std::vector<Input> inputs = {
        numeric_input("a", ValueType::kFloat64, rows, 0.1, 0.1, -1e4, 1e4, rng),
        numeric_input("b", ValueType::kFloat32, rows, 0.0, 0.0, -10, 10, rng),
        numeric_input("c", ValueType::kInt16, rows, 0.2, 0.0, -30000, 30000, rng),
        numeric_input("d", ValueType::kUInt32, rows, 0.0, 0.0, 0, 4e9, rng),
        numeric_input("e", ValueType::kInt8, rows, 0.0, 0.0, -128, 127, rng),
        numeric_input("f", ValueType::kUInt16, rows, 0.0, 0.0, 0, 65535, rng),
    };
    std::vector<tf::ColumnProgram> programs;
    for (int k = 0; k < 12; ++k) {
      const int input = k % 6;
      programs.push_back(random_numeric_program(inputs[input].name, input, input == 0 || input == 2, rng));
    }
    // Fixed chains too, so every op meets the oracle even if the random draw skips it.
    programs.push_back(with_impute(numeric_program("a", 0, {scale_op(3.5, 2.0, true, -2, 2), clip_op(-1, 1.5),
                                                            clip_op(-0.5, kInf), log1p_op(),
                                                            bucketize_op({-0.1, 0.0, 0.2, 0.2, 0.5})}),
                                   0.25, true));
    programs.push_back(numeric_program("d", 3, {log1p_op(), scale_op(10.0, -0.5)}));
    const tf::Plan plan(programs);
    ASSERT_EQ(plan.width(), oracle_width(programs));
    const Table table = materialize(inputs, 0, Repr::kPlain, rng);
    expect_matches_oracle(programs, inputs, run_transform(plan, table.columns));
  }
}

TEST_F(PlanTest, ImputationWithIndicator) {
  Input in;
  in.name = "x";
  in.type = ValueType::kFloat64;
  in.cells = {{false, 1.0, ""}, {true, 0.0, ""}, {false, kNaN, ""}, {false, -4.0, ""}};
  std::mt19937_64 rng(1);
  const Table table = materialize({in}, 0, Repr::kPlain, rng);
  const tf::Plan plan({with_impute(numeric_program("x", 0, {scale_op(1.0, 2.0)}), 7.0, true)});
  ASSERT_EQ(plan.width(), 2);
  // (v - 1) / 2 with 7 filled in where null or NaN; the indicator marks those rows.
  const std::vector<float> expected = {0.0f, 0.0f, 3.0f, 1.0f, 3.0f, 1.0f, -2.5f, 0.0f};
  const auto got = run_transform(plan, table.columns);
  EXPECT_EQ(got, expected);

  // Without an indicator the width is one and the fill still applies.
  const tf::Plan plain({with_impute(numeric_program("x", 0), -1.5, false)});
  EXPECT_EQ(run_transform(plain, table.columns), (std::vector<float>{1.0f, -1.5f, -1.5f, -4.0f}));
}

TEST_F(PlanTest, MissingValueWithoutImputeNamesColumnAndRow) {
  const uint64_t seed = fresh_seed();
  SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  for (int threads : {1, 3}) {
    sw::set_num_threads(threads);
    for (bool use_nan : {false, true}) {
      const int64_t rows = 9000;
      const int64_t bad_row = 1000 + static_cast<int64_t>(rng() % 7000);
      SCOPED_TRACE("threads " + std::to_string(threads) + ", bad row " + std::to_string(bad_row) +
                   (use_nan ? " (NaN)" : " (null)"));
      std::vector<Input> inputs = {numeric_input("ok", ValueType::kFloat64, rows, 0, 0, -1, 1, rng),
                                   numeric_input("price_usd", ValueType::kFloat64, rows, 0, 0, -1, 1, rng)};
      if (use_nan) {
        inputs[1].cells[bad_row].number = kNaN;
      } else {
        inputs[1].cells[bad_row].null = true;
      }
      const Table table = materialize(inputs, 5, Repr::kPlain, rng);
      const tf::Plan plan({numeric_program("ok", 0), numeric_program("price_usd", 1, {scale_op(0, 2)})});
      std::vector<float> out(rows * plan.width());
      const std::string msg = error_of([&] { plan.transform(table.columns, out.data()); });
      EXPECT_TRUE(contains(msg, "price_usd")) << msg;
      EXPECT_TRUE(contains(msg, std::to_string(bad_row))) << msg;

      // The one-row path names the column too.
      const std::string row_msg = error_of([&] { plan.transform_row(row_values(inputs, bad_row), out.data()); });
      EXPECT_TRUE(contains(row_msg, "price_usd")) << row_msg;
    }
  }
}

TEST_F(PlanTest, InfinityIsAnErrorEvenWithImpute) {
  for (double bad : {kInf, -kInf}) {
    const int64_t rows = 3000, bad_row = 2049;
    std::mt19937_64 rng(7);
    std::vector<Input> inputs = {numeric_input("temp", ValueType::kFloat64, rows, 0.1, 0.1, -1, 1, rng)};
    inputs[0].cells[bad_row] = {false, bad, ""};
    const Table table = materialize(inputs, 3, Repr::kPlain, rng);
    const tf::Plan plan({with_impute(numeric_program("temp", 0), 0.0, true)});
    std::vector<float> out(rows * plan.width());
    const std::string msg = error_of([&] { plan.transform(table.columns, out.data()); });
    EXPECT_TRUE(contains(msg, "temp")) << msg;
    EXPECT_TRUE(contains(msg, std::to_string(bad_row))) << msg;
    EXPECT_THROW(plan.transform_row(row_values(inputs, bad_row), out.data()), sw::InvalidInput);
  }
  // float32 infinities too.
  std::mt19937_64 rng(8);
  std::vector<Input> inputs = {numeric_input("f", ValueType::kFloat32, 10, 0, 0, -1, 1, rng)};
  inputs[0].cells[4].number = kInf;
  const Table table = materialize(inputs, 0, Repr::kPlain, rng);
  const tf::Plan plan({numeric_program("f", 0)});
  std::vector<float> out(10);
  EXPECT_THROW(plan.transform(table.columns, out.data()), sw::InvalidInput);
}

TEST_F(PlanTest, Log1pDomain) {
  std::mt19937_64 rng(3);
  for (double bad : {-2.0, -1.0, -kInf}) {
    const int64_t rows = 2500, bad_row = 1500;
    std::vector<Input> inputs = {numeric_input("amount", ValueType::kFloat64, rows, 0, 0, 0, 10, rng)};
    inputs[0].cells[bad_row].number = bad;
    const Table table = materialize(inputs, 2, Repr::kPlain, rng);
    // Through a scale, so the error concerns the value Log1p sees (x + 0 / 1 here).
    const tf::Plan plan({numeric_program("amount", 0, {scale_op(0.0, 1.0), log1p_op()})});
    std::vector<float> out(rows);
    const std::string msg = error_of([&] { plan.transform(table.columns, out.data()); });
    EXPECT_TRUE(contains(msg, "amount")) << msg;
    EXPECT_TRUE(contains(msg, std::to_string(bad_row))) << msg;
    EXPECT_THROW(plan.transform_row(row_values(inputs, bad_row), out.data()), sw::InvalidInput);
  }
  // Just above -1 is in the domain.
  Input ok;
  ok.name = "amount";
  ok.cells = {{false, -0.999, ""}, {false, 0.0, ""}};
  const Table table = materialize({ok}, 0, Repr::kPlain, rng);
  const tf::Plan plan({numeric_program("amount", 0, {log1p_op()})});
  const auto got = run_transform(plan, table.columns);
  EXPECT_EQ(got[0], static_cast<float>(std::log1p(-0.999)));
  EXPECT_EQ(got[1], 0.0f);
}

TEST_F(PlanTest, OutputBeyondFloat32Throws) {
  std::mt19937_64 rng(4);
  {
    // The input itself too large for float32.
    std::vector<Input> inputs = {numeric_input("big", ValueType::kFloat64, 2000, 0, 0, -1, 1, rng)};
    inputs[0].cells[1234].number = 1e39;
    const Table table = materialize(inputs, 0, Repr::kPlain, rng);
    const tf::Plan plan({numeric_program("big", 0)});
    std::vector<float> out(2000);
    const std::string msg = error_of([&] { plan.transform(table.columns, out.data()); });
    EXPECT_TRUE(contains(msg, "big")) << msg;
    EXPECT_TRUE(contains(msg, "1234")) << msg;
    EXPECT_THROW(plan.transform_row(row_values(inputs, 1234), out.data()), sw::InvalidInput);
  }
  {
    // An op that overflows float32 from ordinary inputs.
    std::vector<Input> inputs = {numeric_input("x", ValueType::kFloat32, 100, 0, 0, 1, 2, rng)};
    const Table table = materialize(inputs, 0, Repr::kPlain, rng);
    const tf::Plan plan({numeric_program("x", 0, {scale_op(0.0, 1e-300)})});
    std::vector<float> out(100);
    EXPECT_THROW(plan.transform(table.columns, out.data()), sw::InvalidInput);
  }
  {
    // FLT_MAX itself fits; -FLT_MAX too.
    Input in;
    in.name = "edge";
    in.cells = {{false, FLT_MAX, ""}, {false, -static_cast<double>(FLT_MAX), ""}};
    const Table table = materialize({in}, 0, Repr::kPlain, rng);
    const tf::Plan plan({numeric_program("edge", 0)});
    const auto got = run_transform(plan, table.columns);
    EXPECT_EQ(got[0], FLT_MAX);
    EXPECT_EQ(got[1], -FLT_MAX);
  }
}

TEST_F(PlanTest, CategorifyReservedIds) {
  Input in;
  in.name = "fruit";
  in.type = ValueType::kUtf8;
  const std::vector<std::pair<bool, std::string>> rows = {
      {false, "banana"}, {true, ""}, {false, "kiwi"}, {false, "apple"}, {false, "durian"},
      {false, "cherry"}, {false, ""}, {false, "fig"}, {true, ""}, {false, "Apple"}};
  for (const auto& [null, text] : rows) in.cells.push_back({null, 0.0, text});
  std::mt19937_64 rng(5);
  auto p = string_program("fruit", 0, tf::CategoricalKind::kCategorify);
  p.categorical.categories = {"banana", "apple", "cherry"};
  p.categorical.infrequent = {"durian", "fig"};
  // 0 null, 1 unknown, 2 infrequent, 3.. categories in vocabulary order.
  const std::vector<float> expected = {3, 0, 1, 4, 2, 5, 1, 2, 0, 1};
  for (Repr repr : {Repr::kPlain, Repr::kLarge, Repr::kDictionary}) {
    const Table table = materialize({in}, 3, repr, rng);
    EXPECT_EQ(run_transform(tf::Plan({p}), table.columns), expected);
  }
  // Imputed nulls take the fill's id; the indicator marks them.
  auto imputed = p;
  imputed.impute.enabled = true;
  imputed.impute.text = "cherry";
  imputed.impute.indicator = true;
  const std::vector<float> expected_imputed = {3, 0, 5, 1, 1, 0, 4, 0, 2, 0, 5, 0, 1, 0, 2, 0, 5, 1, 1, 0};
  const Table table = materialize({in}, 0, Repr::kPlain, rng);
  EXPECT_EQ(run_transform(tf::Plan({imputed}), table.columns), expected_imputed);
}

TEST_F(PlanTest, OneHotColumns) {
  Input in;
  in.name = "color";
  in.type = ValueType::kUtf8;
  for (const char* v : {"red", "green", "teal", "mauve", "", "blue"}) in.cells.push_back({false, 0.0, v});
  in.cells.push_back({true, 0.0, ""});
  std::mt19937_64 rng(6);
  const Table table = materialize({in}, 0, Repr::kPlain, rng);

  auto p = string_program("color", 0, tf::CategoricalKind::kOneHot);
  p.categorical.categories = {"red", "green", "blue"};
  p.categorical.infrequent = {"teal", "mauve"};
  p.categorical.infrequent_column = true;
  {
    // unknown="ignore": unseen values and nulls give all zeros.
    const tf::Plan plan({p});
    ASSERT_EQ(plan.width(), 4);
    const std::vector<float> expected = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1,
                                         0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0};
    EXPECT_EQ(run_transform(plan, table.columns), expected);
  }
  {
    // unknown="other": unseen values and nulls set the last column.
    auto q = p;
    q.categorical.unknown_column = true;
    const tf::Plan plan({q});
    ASSERT_EQ(plan.width(), 5);
    const std::vector<float> expected = {1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0,
                                         0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1};
    EXPECT_EQ(run_transform(plan, table.columns), expected);
  }
  {
    // No infrequent group: no infrequent column, "other" right after the categories.
    auto q = string_program("color", 0, tf::CategoricalKind::kOneHot);
    q.categorical.categories = {"green"};
    q.categorical.unknown_column = true;
    q.impute.enabled = true;
    q.impute.text = "green";
    q.impute.indicator = true;
    const tf::Plan plan({q});
    ASSERT_EQ(plan.width(), 3);
    const std::vector<float> expected = {0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 1, 0, 1};
    EXPECT_EQ(run_transform(plan, table.columns), expected);
  }
}

TEST_F(PlanTest, OneHotInfrequentWithoutItsColumnStaysInsideItsOutputs) {
  // The native API accepts infrequent values without infrequent_column (Python never builds that,
  // but nothing rejects it). Either the plan refuses it, or an infrequent value must leave every
  // output outside this program's own columns alone. The OneHot program goes last, so a stray
  // write lands in the next row's first column or, for the last row, past the end of the output;
  // guard floats after the output catch that without tripping AddressSanitizer.
  auto p = string_program("color", 0, tf::CategoricalKind::kOneHot);
  p.categorical.categories = {"red", "green"};
  p.categorical.infrequent = {"teal"};
  p.categorical.infrequent_column = false;
  std::unique_ptr<tf::Plan> plan;
  try {
    plan = std::make_unique<tf::Plan>(std::vector<tf::ColumnProgram>{numeric_program("x", 1), p});
  } catch (const sw::InvalidInput&) {
    SUCCEED() << "rejected when the plan was built";
    return;
  }
  ASSERT_EQ(plan->width(), 3);
  Input colors;
  colors.name = "color";
  colors.type = ValueType::kUtf8;
  colors.cells = {{false, 0, "teal"}, {false, 0, "red"}, {false, 0, "teal"}};
  Input x;
  x.name = "x";
  x.cells = {{false, 5.0, ""}, {false, 6.0, ""}, {false, 7.0, ""}};
  std::mt19937_64 rng(9);
  const Table table = materialize({colors, x}, 0, Repr::kPlain, rng);
  constexpr float kGuard = -12345.0f;
  std::vector<float> out(3 * 3 + 4, kGuard);
  plan->transform(table.columns, out.data());
  const std::vector<float> expected = {5, 0, 0, 6, 1, 0, 7, 0, 0};
  EXPECT_EQ(std::vector<float>(out.begin(), out.begin() + 9), expected)
      << "an infrequent value set a column outside its program";
  for (size_t i = 9; i < out.size(); ++i) EXPECT_EQ(out[i], kGuard) << "write past the output, float " << i;

  std::vector<float> row(3 + 4, kGuard);
  plan->transform_row(row_values({colors, x}, 0), row.data());
  EXPECT_EQ(std::vector<float>(row.begin(), row.begin() + 3), (std::vector<float>{5, 0, 0}));
  for (size_t i = 3; i < row.size(); ++i) EXPECT_EQ(row[i], kGuard) << "transform_row wrote past its output";
}

TEST_F(PlanTest, HashBucketIsXxh64ModuloN) {
  const uint64_t seed = fresh_seed();
  SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const int64_t rows = 3000;
  auto levels = make_levels(500, "user-");
  for (const auto& a : awkward_levels()) levels.push_back(a);
  const Input in = string_input("user", rows, levels, 0.1, 0.1, rng);
  for (uint64_t n : {uint64_t{1}, uint64_t{2}, uint64_t{7}, uint64_t{1000}, uint64_t{1} << 20}) {
    auto p = string_program("user", 0, tf::CategoricalKind::kHashBucket);
    p.categorical.buckets = n;
    const tf::Plan plan({p});
    const Table table = materialize({in}, 4, Repr::kPlain, rng);
    const auto got = run_transform(plan, table.columns);
    for (int64_t r = 0; r < rows; ++r) {
      const Cell& c = in.cells[r];
      // Written out here rather than via the oracle: the spec is literally xxh64(bytes) % n.
      const uint64_t bucket = c.null ? n : sw::xxh64(c.text.data(), c.text.size(), 0) % n;
      ASSERT_EQ(got[r], static_cast<float>(bucket)) << "row " << r << " n " << n;
    }
  }
  auto zero = string_program("user", 0, tf::CategoricalKind::kHashBucket);
  EXPECT_THROW(tf::Plan({zero}), sw::InvalidInput);
}

TEST_F(PlanTest, MixedPlanMatchesOracle) {
  const uint64_t seed = fresh_seed();
  SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const Scenario s = mixed_scenario(7000 + static_cast<int64_t>(rng() % 3000), rng);
  const tf::Plan plan(s.programs);
  ASSERT_EQ(plan.width(), oracle_width(s.programs));
  for (Repr repr : {Repr::kPlain, Repr::kLarge, Repr::kDictionary}) {
    const Table table = materialize(s.inputs, 6, repr, rng);
    expect_matches_oracle(s.programs, s.inputs, run_transform(plan, table.columns));
  }
}

TEST_F(PlanTest, DictionaryEncodingGivesTheSameOutput) {
  const uint64_t seed = fresh_seed();
  SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const Scenario s = mixed_scenario(6000, rng);
  const tf::Plan plan(s.programs);
  const Table plain = materialize(s.inputs, 0, Repr::kPlain, rng);
  const auto expected = run_transform(plan, plain.columns);
  for (int cuts : {0, 1, 8}) {
    const Table dict = materialize(s.inputs, cuts, Repr::kDictionary, rng);
    expect_bitwise_equal(run_transform(plan, dict.columns), expected, plan.width(),
                         "dictionary, " + std::to_string(cuts) + " cuts");
    const Table large = materialize(s.inputs, cuts, Repr::kLarge, rng);
    expect_bitwise_equal(run_transform(plan, large.columns), expected, plan.width(),
                         "large_utf8, " + std::to_string(cuts) + " cuts");
  }
}

TEST_F(PlanTest, ChunkingAndThreadCountDoNotChangeTheOutput) {
  const uint64_t seed = fresh_seed();
  SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  // Not a multiple of 1024, and large enough that 3 threads cut it into pieces of odd sizes.
  const Scenario s = mixed_scenario(20011, rng);
  const tf::Plan plan(s.programs);
  sw::set_num_threads(1);
  const Table single = materialize(s.inputs, 0, Repr::kPlain, rng);
  const auto expected = run_transform(plan, single.columns);
  for (int threads : {1, 2, 3, 4}) {
    sw::set_num_threads(threads);
    for (int trial = 0; trial < 2; ++trial) {
      // Each column gets its own random cut points, so chunk edges differ across columns.
      const Table chunked = materialize(s.inputs, trial == 0 ? 3 : 40, Repr::kPlain, rng);
      expect_bitwise_equal(run_transform(plan, chunked.columns), expected, plan.width(),
                           "threads " + std::to_string(threads) + ", trial " + std::to_string(trial));
    }
  }
}

TEST_F(PlanTest, TransformRowIsBitIdenticalToTransform) {
  const uint64_t seed = fresh_seed();
  SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const Scenario s = mixed_scenario(4000, rng);
  const tf::Plan plan(s.programs);
  const Table table = materialize(s.inputs, 5, Repr::kDictionary, rng);
  const auto batch = run_transform(plan, table.columns);
  const int64_t width = plan.width();
  std::vector<float> row(width);
  for (int64_t r = 0; r < s.inputs.front().rows(); ++r) {
    std::fill(row.begin(), row.end(), std::numeric_limits<float>::quiet_NaN());
    plan.transform_row(row_values(s.inputs, r), row.data());
    ASSERT_EQ(std::memcmp(row.data(), batch.data() + r * width, width * sizeof(float)), 0) << "row " << r;
  }
}

TEST_F(PlanTest, ConcurrentTransformsAgree) {
  const uint64_t seed = fresh_seed();
  SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const Scenario s = mixed_scenario(5000, rng);
  const tf::Plan plan(s.programs);
  const Table table = materialize(s.inputs, 4, Repr::kPlain, rng);
  const auto expected = run_transform(plan, table.columns);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 3; ++i) {
        if (run_transform(plan, table.columns) != expected) mismatches++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST_F(PlanTest, EmptyTable) {
  std::mt19937_64 rng(10);
  const Scenario s = mixed_scenario(0, rng);
  const tf::Plan plan(s.programs);
  const Table table = materialize(s.inputs, 2, Repr::kDictionary, rng);
  EXPECT_TRUE(run_transform(plan, table.columns).empty());
  const auto states = plan.collect(table.columns, std::vector<tf::CollectSpec>(s.programs.size()));
  ASSERT_EQ(states.size(), s.programs.size());
  for (const auto& st : states) {
    EXPECT_EQ(st.rows, 0);
    EXPECT_EQ(st.count, 0);
  }
}

TEST_F(PlanTest, ColumnsOfDifferentLengthsThrow) {
  std::mt19937_64 rng(11);
  std::vector<Input> inputs = {numeric_input("a", ValueType::kFloat64, 100, 0, 0, 0, 1, rng),
                               numeric_input("b", ValueType::kFloat64, 99, 0, 0, 0, 1, rng)};
  const Table table = materialize(inputs, 2, Repr::kPlain, rng);
  const tf::Plan plan({numeric_program("a", 0), numeric_program("b", 1)});
  std::vector<float> out(200);
  EXPECT_THROW(plan.transform(table.columns, out.data()), sw::InvalidInput);
  EXPECT_THROW(plan.collect(table.columns, std::vector<tf::CollectSpec>(2)), sw::InvalidInput);
  // Too few columns.
  const std::vector<sw::Column> one = {table.columns[0]};
  EXPECT_THROW(plan.transform(one, out.data()), sw::InvalidInput);
  EXPECT_THROW(plan.transform_row({tf::RowValue{}}, out.data()), sw::InvalidInput);
}

TEST_F(PlanTest, WrongKindOfColumnThrowsTypeMismatch) {
  std::mt19937_64 rng(12);
  const std::vector<Input> inputs = {string_input("s", 50, {"a", "b"}, 0, 0, rng),
                                     numeric_input("n", ValueType::kInt32, 50, 0, 0, 0, 9, rng)};
  std::vector<float> out(100);
  for (Repr repr : {Repr::kPlain, Repr::kLarge, Repr::kDictionary}) {
    const Table table = materialize(inputs, 0, repr, rng);
    const tf::Plan numeric_on_string({numeric_program("s", 0)});
    EXPECT_THROW(numeric_on_string.transform(table.columns, out.data()), sw::TypeMismatch);
    EXPECT_THROW(numeric_on_string.collect(table.columns, {tf::CollectSpec{}}), sw::TypeMismatch);
    auto cat = string_program("n", 1, tf::CategoricalKind::kCategorify);
    const tf::Plan string_on_numeric({cat});
    EXPECT_THROW(string_on_numeric.transform(table.columns, out.data()), sw::TypeMismatch);
  }
  const tf::Plan numeric({numeric_program("n", 0)});
  tf::RowValue text;
  text.missing = false;
  text.is_text = true;
  text.text = "7";
  EXPECT_THROW(numeric.transform_row({text}, out.data()), sw::TypeMismatch);
  // A string program with no categorical op has nothing to output.
  tf::ColumnProgram bare = string_program("s", 0, tf::CategoricalKind::kNone);
  const tf::Plan bare_plan({bare});
  const Table table = materialize(inputs, 0, Repr::kPlain, rng);
  EXPECT_THROW(bare_plan.transform(table.columns, out.data()), sw::InvalidInput);
}

TEST_F(PlanTest, InvalidProgramsAreRejected) {
  auto cat_on_number = numeric_program("n", 0);
  cat_on_number.categorical.kind = tf::CategoricalKind::kCategorify;
  EXPECT_THROW(tf::Plan({cat_on_number}), sw::InvalidInput);

  auto ops_on_string = string_program("s", 0, tf::CategoricalKind::kCategorify);
  ops_on_string.numeric_ops.push_back(scale_op(0, 1));
  EXPECT_THROW(tf::Plan({ops_on_string}), sw::InvalidInput);

  auto duplicate = string_program("s", 0, tf::CategoricalKind::kOneHot);
  duplicate.categorical.categories = {"a", "b", "a"};
  EXPECT_THROW(tf::Plan({duplicate}), sw::InvalidInput);
  auto duplicate_infrequent = string_program("s", 0, tf::CategoricalKind::kCategorify);
  duplicate_infrequent.categorical.categories = {"a", "b"};
  duplicate_infrequent.categorical.infrequent = {"c", "b"};
  EXPECT_THROW(tf::Plan({duplicate_infrequent}), sw::InvalidInput);

  EXPECT_THROW(tf::Plan({numeric_program("n", 0, {bucketize_op({1.0, 0.0})})}), sw::InvalidInput);
  EXPECT_THROW(tf::Plan({numeric_program("n", -1)}), sw::InvalidInput);
}

TEST_F(PlanTest, WidthAndInputs) {
  std::mt19937_64 rng(13);
  const Scenario s = mixed_scenario(1, rng);
  const tf::Plan plan(s.programs);
  EXPECT_EQ(plan.width(), oracle_width(s.programs));
  EXPECT_EQ(plan.num_inputs(), static_cast<int64_t>(s.inputs.size()));
  for (const auto& p : s.programs) EXPECT_EQ(p.width(), oracle_width(p));
}

TEST_F(PlanTest, ScaleAndClipOnlyProgramsMatchTheOneRowPath) {
  // Programs of only scale/clip ops on columns without nulls may take a separate one-pass kernel;
  // it must agree bit for bit with the general path (transform_row), including when a piece of
  // rows spans chunks with and without validity bitmaps, or holds a NaN that needs imputing.
  const uint64_t seed = fresh_seed();
  SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const int64_t rows = 9000 + static_cast<int64_t>(rng() % 3000);
  std::vector<Input> inputs = {
      numeric_input("f32", ValueType::kFloat32, rows, 0, 0, -1e3, 1e3, rng),
      numeric_input("f64", ValueType::kFloat64, rows, 0, 0, -1e6, 1e6, rng),
      numeric_input("i32", ValueType::kInt32, rows, 0, 0, -2e9, 2e9, rng),
      numeric_input("i64", ValueType::kInt64, rows, 0, 0, -9e15, 9e15, rng),
      numeric_input("i16", ValueType::kInt16, rows, 0, 0, -3e4, 3e4, rng),
      numeric_input("f64nan", ValueType::kFloat64, rows, 0, 0, -10, 10, rng),
  };
  inputs[5].cells[rng() % rows].number = kNaN;
  const std::vector<tf::ColumnProgram> programs = {
      numeric_program("f32", 0, {scale_op(3.25, 0.7)}),
      numeric_program("f64", 1, {scale_op(-17.0, 1e-3)}),
      numeric_program("i32", 2, {scale_op(1e8, 3e3)}),
      numeric_program("i64", 3, {scale_op(0.5, 1e12)}),
      numeric_program("f64", 1, {scale_op(10.0, 7.0, true, -100.0, 150.0)}),
      numeric_program("i32", 2, {clip_op(-1e9, 1.5e9)}),
      numeric_program("f32", 0, {scale_op(1.0, 3.0), clip_op(-50, 50), scale_op(-2.0, 0.1)}),
      with_impute(numeric_program("f64nan", 5, {scale_op(0.1, 0.3)}), 4.0, false),
      numeric_program("i16", 4, {scale_op(0.0, 9.0)}),
      numeric_program("f64", 1),
  };
  const tf::Plan plan(programs);
  for (int threads : {1, 3}) {
    sw::set_num_threads(threads);
    for (int cuts : {0, 6}) {
      SCOPED_TRACE("threads " + std::to_string(threads) + ", cuts " + std::to_string(cuts));
      const Table table = materialize(inputs, cuts, Repr::kPlain, rng);
      const auto batch = run_transform(plan, table.columns);
      expect_matches_oracle(programs, inputs, batch);
      const int64_t width = plan.width();
      std::vector<float> row(width);
      for (int64_t r = 0; r < rows; ++r) {
        plan.transform_row(row_values(inputs, r), row.data());
        ASSERT_EQ(std::memcmp(row.data(), batch.data() + r * width, width * sizeof(float)), 0) << "row " << r;
      }
    }
  }
}

TEST_F(PlanTest, ScaleOnlyProgramsStillReportBadRows) {
  const uint64_t seed = fresh_seed();
  SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const int64_t rows = 6000;
  struct Case {
    const char* what;
    double value;
    bool impute;
  };
  for (const Case& c : {Case{"inf", kInf, true}, Case{"-inf", -kInf, false}, Case{"NaN", kNaN, false},
                        Case{"too large for float32", 1e39, true}}) {
    for (ValueType type : {ValueType::kFloat64, ValueType::kFloat32}) {
      if (type == ValueType::kFloat32 && c.value == 1e39) continue;  // not a float32 value
      const int64_t bad_row = static_cast<int64_t>(rng() % rows);
      SCOPED_TRACE(std::string(c.what) + " at row " + std::to_string(bad_row));
      std::vector<Input> inputs = {numeric_input("reading", type, rows, 0, 0, -1, 1, rng)};
      inputs[0].cells[bad_row].number = c.value;
      tf::ColumnProgram p = numeric_program("reading", 0, {scale_op(0.0, 1.0)});
      if (c.impute) p = with_impute(p, 0.0, false);
      const tf::Plan plan({p});
      const Table table = materialize(inputs, 3, Repr::kPlain, rng);
      std::vector<float> out(rows);
      const std::string msg = error_of([&] { plan.transform(table.columns, out.data()); });
      EXPECT_TRUE(contains(msg, "reading")) << msg;
      EXPECT_TRUE(contains(msg, std::to_string(bad_row))) << msg;
    }
  }
}

TEST_F(PlanTest, PreZeroedOutputGivesTheSameResult) {
  const uint64_t seed = fresh_seed();
  SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const Scenario s = mixed_scenario(5000, rng);
  const tf::Plan plan(s.programs);
  const Table table = materialize(s.inputs, 4, Repr::kDictionary, rng);
  const auto expected = run_transform(plan, table.columns);
  std::vector<float> zeroed(expected.size(), 0.0f);
  plan.transform(table.columns, zeroed.data(), /*out_is_zeroed=*/true);
  expect_bitwise_equal(zeroed, expected, plan.width(), "out_is_zeroed");
  // Without the promise, garbage in the buffer must not leak into the output.
  std::vector<float> dirty(expected.size(), 3.0f);
  plan.transform(table.columns, dirty.data(), false);
  expect_bitwise_equal(dirty, expected, plan.width(), "dirty buffer");
}

// ---------------------------------------------------------------------------------------------
// collect

struct MomentsOracle {
  int64_t rows = 0, missing = 0, count = 0;
  long double mean = 0, m2 = 0;
  double min = kInf, max = -kInf;
  std::vector<double> values;
};

// What collect should gather for a numeric program: the prefix chain's values, imputed (or
// skipped when fitting the imputation itself).
MomentsOracle numeric_oracle(const tf::ColumnProgram& p, const Input& in, bool skip_missing,
                             int64_t begin = 0, int64_t end = -1) {
  if (end < 0) end = in.rows();
  MomentsOracle o;
  for (int64_t r = begin; r < end; ++r) {
    ++o.rows;
    const Cell& c = in.cells[r];
    const bool missing = c.null || std::isnan(c.number);
    o.missing += missing;
    if (missing && skip_missing) continue;
    bool unused;
    const double x = oracle_number(p, c, &unused);
    o.values.push_back(x);
  }
  o.count = static_cast<int64_t>(o.values.size());
  long double sum = 0;
  for (double v : o.values) sum += v;
  o.mean = o.count ? sum / o.count : 0;
  for (double v : o.values) {
    o.m2 += (v - o.mean) * (v - o.mean);
    o.min = std::min(o.min, v);
    o.max = std::max(o.max, v);
  }
  return o;
}

void expect_moments(const tf::FitState& st, const MomentsOracle& o, double rel) {
  EXPECT_EQ(st.rows, o.rows);
  EXPECT_EQ(st.missing, o.missing);
  ASSERT_EQ(st.count, o.count);
  if (o.count == 0) return;
  const long double spread = std::sqrt(o.m2 / o.count);
  const long double mean_tol = rel * std::max(std::fabs(o.mean), spread) + 1e-300L;
  EXPECT_LE(std::fabs(st.mean - o.mean), mean_tol) << "mean " << st.mean << " vs " << static_cast<double>(o.mean);
  EXPECT_LE(std::fabs(st.m2 - o.m2), rel * o.m2 + 1e-300L) << "m2 " << st.m2 << " vs " << static_cast<double>(o.m2);
  EXPECT_EQ(st.min, o.min);
  EXPECT_EQ(st.max, o.max);
}

// numpy.quantile(..., method="linear"): virtual index (n - 1) * q, then numpy's _lerp, which
// switches to b - (b - a) * (1 - t) for t >= 0.5 (numpy/lib/function_base.py).
double numpy_linear_quantile(std::vector<double> sorted, double q) {
  const int64_t n = static_cast<int64_t>(sorted.size());
  if (n == 0) return kNaN;
  const double virtual_index = static_cast<double>(n - 1) * q;
  if (virtual_index >= static_cast<double>(n - 1)) return sorted[n - 1];
  const double below = std::floor(virtual_index);
  const int64_t i = static_cast<int64_t>(below);
  const double a = sorted[i];
  const double b = sorted[i + 1];
  const double t = virtual_index - below;
  const double diff = b - a;
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

tf::CollectSpec moments_spec(bool skip_missing = false) {
  tf::CollectSpec spec;
  spec.moments = true;
  spec.skip_missing = skip_missing;
  return spec;
}

TEST_F(PlanTest, CollectMomentsMatchLongDoubleOracle) {
  const uint64_t seed = fresh_seed();
  SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const int64_t rows = 150000 + static_cast<int64_t>(rng() % 100000);  // several 65536-row segments
  std::vector<Input> inputs = {
      numeric_input("a", ValueType::kFloat64, rows, 0.05, 0.05, 900, 1100, rng),
      numeric_input("b", ValueType::kInt32, rows, 0.0, 0.0, -1e6, 1e6, rng),
      numeric_input("c", ValueType::kFloat32, rows, 0.1, 0.0, 0, 50, rng),
  };
  std::vector<tf::ColumnProgram> programs = {
      with_impute(numeric_program("a", 0), 1000.0, false),
      numeric_program("b", 1, {scale_op(5.0, 3.0)}),
      with_impute(numeric_program("c", 2, {log1p_op(), scale_op(1.0, 0.5)}), 2.0, true),
      numeric_program("a", 0, {clip_op(950, 1050)}),  // fitting the imputation of a clipped column
  };
  const std::vector<tf::CollectSpec> specs = {moments_spec(), moments_spec(), moments_spec(), moments_spec(true)};
  const tf::Plan plan(programs);
  const Table table = materialize(inputs, 7, Repr::kPlain, rng);
  const auto states = plan.collect(table.columns, specs);
  ASSERT_EQ(states.size(), programs.size());
  for (size_t k = 0; k < programs.size(); ++k) {
    SCOPED_TRACE("program " + std::to_string(k));
    expect_moments(states[k], numeric_oracle(programs[k], inputs[programs[k].input], specs[k].skip_missing), 1e-12);
  }
}

TEST_F(PlanTest, CollectExactQuantilesFollowNumpyLinear) {
  const uint64_t seed = fresh_seed();
  SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  std::vector<double> qs = {0.0, 1e-9, 0.1, 0.25, 0.3, 0.5, 0.7, 0.75, 0.9, 0.99, 1.0};
  for (int i = 0; i < 20; ++i) qs.push_back(uniform(rng, 0, 1));
  for (int64_t rows : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{10}, int64_t{1001}, int64_t{70001}}) {
    SCOPED_TRACE("rows " + std::to_string(rows));
    std::vector<Input> inputs = {numeric_input("x", ValueType::kFloat64, rows, 0.0, 0.0, -1e3, 1e3, rng)};
    // Repeated values: quantile code must cope with ties.
    for (int64_t r = 0; r < rows; r += 3) inputs[0].cells[r].number = std::round(inputs[0].cells[r].number / 100);
    tf::CollectSpec spec;
    spec.quantiles = tf::CollectSpec::Quantiles::kExact;
    const tf::Plan plan({numeric_program("x", 0, {scale_op(2.0, 3.0)})});
    const Table table = materialize(inputs, 5, Repr::kPlain, rng);
    const auto states = plan.collect(table.columns, {spec});
    ASSERT_TRUE(states[0].exact_quantiles());
    auto o = numeric_oracle(plan.programs()[0], inputs[0], false);
    std::sort(o.values.begin(), o.values.end());
    // Many quantiles at once (one sort), and a few in any order, repeats included (selections).
    std::vector<std::vector<double>> asks = {qs};
    for (int k = 0; k < 6; ++k) {
      std::vector<double> few;
      for (uint64_t j = 0, m = 1 + rng() % 4; j < m; ++j) few.push_back(qs[rng() % qs.size()]);
      asks.push_back(few);
    }
    for (const auto& ask : asks) {
      const auto got = states[0].quantiles(ask);
      ASSERT_EQ(got.size(), ask.size());
      for (size_t i = 0; i < ask.size(); ++i) {
        EXPECT_EQ(got[i], numpy_linear_quantile(o.values, ask[i])) << "q " << ask[i] << std::hexfloat << ": got " << got[i];
      }
    }
    EXPECT_THROW(states[0].quantiles({1.5}), sw::InvalidInput);
    EXPECT_THROW(states[0].quantiles({-0.1}), sw::InvalidInput);
  }
  // Quantiles that were not collected.
  tf::FitState none{tf::CollectSpec{}};
  EXPECT_THROW(none.quantiles({0.5}), sw::InvalidInput);
  // No values: NaN.
  tf::CollectSpec exact;
  exact.quantiles = tf::CollectSpec::Quantiles::kExact;
  tf::FitState empty(exact);
  EXPECT_TRUE(std::isnan(empty.quantiles({0.5})[0]));
}

TEST_F(PlanTest, CollectSketchQuantilesAreExactForSmallInputs) {
  // Below the sketch's capacity no value is compacted away, so the sketch must give numpy's answer.
  const uint64_t seed = fresh_seed();
  SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  std::vector<Input> inputs = {numeric_input("x", ValueType::kFloat32, 150, 0.0, 0.0, -10, 10, rng)};
  tf::CollectSpec spec;
  spec.quantiles = tf::CollectSpec::Quantiles::kSketch;
  const tf::Plan plan({numeric_program("x", 0)});
  const Table table = materialize(inputs, 3, Repr::kPlain, rng);
  const auto states = plan.collect(table.columns, {spec});
  EXPECT_FALSE(states[0].exact_quantiles());
  auto o = numeric_oracle(plan.programs()[0], inputs[0], false);
  std::sort(o.values.begin(), o.values.end());
  const std::vector<double> qs = {0.0, 0.1, 0.5, 0.77, 1.0};
  const auto got = states[0].quantiles(qs);
  for (size_t i = 0; i < qs.size(); ++i) EXPECT_EQ(got[i], numpy_linear_quantile(o.values, qs[i])) << qs[i];
}

// Sorted as FitState::string_counts promises: count descending, then bytes ascending (unsigned).
std::vector<std::pair<std::string, int64_t>> sorted_counts(const std::map<std::string, int64_t>& counts) {
  std::vector<std::pair<std::string, int64_t>> out(counts.begin(), counts.end());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    if (a.second != b.second) return a.second > b.second;
    const size_t n = std::min(a.first.size(), b.first.size());
    const int c = n == 0 ? 0 : std::memcmp(a.first.data(), b.first.data(), n);
    return c != 0 ? c < 0 : a.first.size() < b.first.size();
  });
  return out;
}

struct StringOracle {
  int64_t rows = 0, missing = 0, count = 0;
  std::map<std::string, int64_t> counts;
};

StringOracle string_oracle(const tf::ColumnProgram& p, const Input& in, bool skip_missing,
                           int64_t begin = 0, int64_t end = -1) {
  if (end < 0) end = in.rows();
  StringOracle o;
  for (int64_t r = begin; r < end; ++r) {
    ++o.rows;
    const Cell& c = in.cells[r];
    if (c.null) {
      ++o.missing;
      if (p.impute.enabled && !skip_missing) ++o.counts[p.impute.text];
      continue;
    }
    ++o.counts[c.text];
  }
  for (const auto& [k, v] : o.counts) o.count += v;
  return o;
}

void expect_string_state(const tf::FitState& st, const StringOracle& o) {
  EXPECT_EQ(st.rows, o.rows);
  EXPECT_EQ(st.missing, o.missing);
  EXPECT_EQ(st.count, o.count);
  const auto got = st.string_counts();
  const auto expected = sorted_counts(o.counts);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i], expected[i]) << "position " << i;
  }
}

TEST_F(PlanTest, CollectStringCounts) {
  const uint64_t seed = fresh_seed();
  SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const int64_t rows = 50000 + static_cast<int64_t>(rng() % 20000);
  auto levels = awkward_levels();
  for (int i = 0; i < 40; ++i) levels.push_back("L" + std::to_string(i));
  std::vector<Input> inputs = {string_input("s", rows, levels, 0.07, 0.05, rng),
                               string_input("t", rows, make_levels(3000, "big"), 0.01, 0.0, rng)};
  auto plain = string_program("s", 0, tf::CategoricalKind::kNone);
  auto imputed = plain;
  imputed.impute.enabled = true;
  imputed.impute.text = "L3";
  auto imputed_new = plain;
  imputed_new.impute.enabled = true;
  imputed_new.impute.text = "fill-value";
  auto big = string_program("t", 1, tf::CategoricalKind::kNone);
  const std::vector<tf::ColumnProgram> programs = {plain, imputed, imputed_new, imputed, big};
  tf::CollectSpec counts;
  counts.string_counts = true;
  tf::CollectSpec skip = counts;
  skip.skip_missing = true;
  const std::vector<tf::CollectSpec> specs = {counts, counts, counts, skip, counts};
  const tf::Plan plan(programs);
  // Few cuts give chunks longer than the small dictionaries; many cuts give chunks shorter than
  // the 3000-entry one: both ways of counting dictionary chunks get exercised.
  for (int cuts : {0, 2, 200}) {
    for (Repr repr : {Repr::kPlain, Repr::kDictionary}) {
      SCOPED_TRACE("cuts " + std::to_string(cuts) + (repr == Repr::kPlain ? " plain" : " dictionary"));
      const Table table = materialize(inputs, cuts, repr, rng);
      const auto states = plan.collect(table.columns, specs);
      for (size_t k = 0; k < programs.size(); ++k) {
        SCOPED_TRACE("program " + std::to_string(k));
        expect_string_state(states[k], string_oracle(programs[k], inputs[programs[k].input], specs[k].skip_missing));
      }
    }
  }
}

TEST_F(PlanTest, StringCountsTieOrderIsByUnsignedBytes) {
  // Equal counts: "\xFF" sorts after ASCII (as unsigned bytes), "" first, "a" before "a\0".
  Input in;
  in.name = "s";
  in.type = ValueType::kUtf8;
  for (const std::string& v : {std::string("\xFF"), std::string("a\0", 2), std::string("a"), std::string(""),
                               std::string("B"), std::string("b"), std::string("b")}) {
    in.cells.push_back({false, 0.0, v});
  }
  std::mt19937_64 rng(14);
  const Table table = materialize({in}, 0, Repr::kPlain, rng);
  tf::CollectSpec spec;
  spec.string_counts = true;
  const auto st = tf::Plan({string_program("s", 0, tf::CategoricalKind::kNone)}).collect(table.columns, {spec});
  const std::vector<std::pair<std::string, int64_t>> expected = {
      {"b", 2}, {"", 1}, {"B", 1}, {"a", 1}, {std::string("a\0", 2), 1}, {"\xFF", 1}};
  EXPECT_EQ(st[0].string_counts(), expected);
}

TEST_F(PlanTest, CollectSkipMissingCountsMissingValues) {
  const uint64_t seed = fresh_seed();
  SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const int64_t rows = 70000;
  std::vector<Input> inputs = {numeric_input("x", ValueType::kFloat64, rows, 0.2, 0.1, -5, 5, rng)};
  tf::CollectSpec spec = moments_spec(true);
  spec.quantiles = tf::CollectSpec::Quantiles::kExact;
  spec.number_counts = true;
  const tf::Plan plan({numeric_program("x", 0)});  // no Impute: skip_missing must not throw
  const Table table = materialize(inputs, 4, Repr::kPlain, rng);
  const auto st = plan.collect(table.columns, {spec});
  const auto o = numeric_oracle(plan.programs()[0], inputs[0], true);
  EXPECT_GT(o.missing, 0);
  expect_moments(st[0], o, 1e-12);
  auto sorted = o.values;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(st[0].quantiles({0.5})[0], numpy_linear_quantile(sorted, 0.5));

  // Without skip_missing and without Impute, a missing value is an error.
  EXPECT_THROW(plan.collect(table.columns, {moments_spec(false)}), sw::InvalidInput);
  // Infinities are errors even when fitting the imputation.
  inputs[0].cells[rows / 2] = {false, -kInf, ""};
  const Table with_inf = materialize(inputs, 4, Repr::kPlain, rng);
  EXPECT_THROW(plan.collect(with_inf.columns, {spec}), sw::InvalidInput);
}

TEST_F(PlanTest, MostFrequentNumber) {
  const uint64_t seed = fresh_seed();
  SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const int64_t rows = 5000;
  Input in = numeric_input("x", ValueType::kFloat64, rows, 0.0, 0.0, 0, 1, rng);
  for (auto& c : in.cells) c.number = static_cast<double>(static_cast<int>(rng() % 9) - 4);
  for (int64_t r = 0; r < rows; r += 50) in.cells[r].number = -0.0;  // one value with +0
  tf::CollectSpec spec;
  spec.number_counts = true;
  const tf::Plan plan({numeric_program("x", 0)});
  const Table table = materialize({in}, 3, Repr::kPlain, rng);
  const double got = plan.collect(table.columns, {spec})[0].most_frequent_number();
  std::map<double, int64_t> counts;  // std::map treats -0 and +0 as one key
  for (const auto& c : in.cells) ++counts[c.number];
  double best = kNaN;
  int64_t best_count = 0;
  for (const auto& [v, n] : counts) {  // ascending, so the first maximum is the smallest value
    if (n > best_count) best = v, best_count = n;
  }
  EXPECT_EQ(got, best);

  // Ties go to the smaller value.
  Input tie;
  tie.name = "x";
  for (double v : {5.0, 3.0, 5.0, 3.0, 9.0}) tie.cells.push_back({false, v, ""});
  const Table t2 = materialize({tie}, 0, Repr::kPlain, rng);
  EXPECT_EQ(plan.collect(t2.columns, {spec})[0].most_frequent_number(), 3.0);
  EXPECT_TRUE(std::isnan(tf::FitState(spec).most_frequent_number()));
}

TEST_F(PlanTest, CollectDoesNotDependOnThreadCount) {
  const uint64_t seed = fresh_seed();
  SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const int64_t rows = 140000 + static_cast<int64_t>(rng() % 30000);  // three 65536-row segments
  std::vector<Input> inputs = {numeric_input("a", ValueType::kFloat64, rows, 0.05, 0.05, -1e3, 1e5, rng),
                               numeric_input("b", ValueType::kFloat32, rows, 0.0, 0.0, 0, 1, rng),
                               string_input("s", rows, make_levels(60, "v"), 0.05, 0.01, rng)};
  tf::CollectSpec all = moments_spec();
  all.quantiles = tf::CollectSpec::Quantiles::kExact;
  all.number_counts = true;
  tf::CollectSpec no_counts = all;
  no_counts.number_counts = false;
  tf::CollectSpec counts;
  counts.string_counts = true;
  const std::vector<tf::ColumnProgram> programs = {with_impute(numeric_program("a", 0, {scale_op(7, 3)}), 1.0, false),
                                                   numeric_program("b", 1, {log1p_op()}),
                                                   string_program("s", 2, tf::CategoricalKind::kNone)};
  const tf::Plan plan(programs);
  const Table table = materialize(inputs, 9, Repr::kPlain, rng);
  std::vector<std::vector<tf::FitState>> runs;
  for (int threads : {1, 2, 4}) {
    sw::set_num_threads(threads);
    runs.push_back(plan.collect(table.columns, {all, no_counts, counts}));
  }
  const std::vector<double> qs = {0.0, 0.25, 0.5, 0.9, 1.0};
  for (size_t run = 1; run < runs.size(); ++run) {
    SCOPED_TRACE("run " + std::to_string(run));
    for (size_t k = 0; k < 2; ++k) {
      const auto& a = runs[0][k];
      const auto& b = runs[run][k];
      EXPECT_EQ(std::memcmp(&a.mean, &b.mean, sizeof(double)), 0) << a.mean << " vs " << b.mean;
      EXPECT_EQ(std::memcmp(&a.m2, &b.m2, sizeof(double)), 0) << a.m2 << " vs " << b.m2;
      EXPECT_EQ(a.count, b.count);
      EXPECT_EQ(a.missing, b.missing);
      EXPECT_EQ(a.min, b.min);
      EXPECT_EQ(a.max, b.max);
      EXPECT_EQ(a.quantiles(qs), b.quantiles(qs));
      const double fa = a.most_frequent_number(), fb = b.most_frequent_number();
      EXPECT_EQ(std::memcmp(&fa, &fb, sizeof fa), 0);
    }
    EXPECT_EQ(runs[0][2].string_counts(), runs[run][2].string_counts());
  }
  // And they are right, not just consistent.
  expect_moments(runs[0][0], numeric_oracle(programs[0], inputs[0], false), 1e-12);
  expect_string_state(runs[0][2], string_oracle(programs[2], inputs[2], false));
}

TEST_F(PlanTest, MergeEqualsCollectOverTheConcatenation) {
  const uint64_t seed = fresh_seed();
  SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const int64_t rows = 90000 + static_cast<int64_t>(rng() % 60000);
  const std::vector<Input> inputs = {numeric_input("a", ValueType::kFloat64, rows, 0.1, 0.05, 50, 150, rng),
                                     string_input("s", rows, make_levels(30, "w"), 0.1, 0.02, rng)};
  tf::CollectSpec num = moments_spec();
  num.quantiles = tf::CollectSpec::Quantiles::kExact;
  num.number_counts = true;
  tf::CollectSpec str;
  str.string_counts = true;
  auto s_prog = string_program("s", 1, tf::CategoricalKind::kNone);
  s_prog.impute.enabled = true;
  s_prog.impute.text = "w4";
  const std::vector<tf::ColumnProgram> programs = {with_impute(numeric_program("a", 0, {scale_op(100, 10)}), 0.0, false),
                                                   s_prog};
  const std::vector<tf::CollectSpec> specs = {num, str};
  const tf::Plan plan(programs);

  // Split the rows into parts at random points, collect each part alone, merge in order.
  std::vector<int64_t> cuts = {0, rows};
  for (int i = 0; i < 3; ++i) cuts.push_back(static_cast<int64_t>(rng() % rows));
  std::sort(cuts.begin(), cuts.end());
  std::vector<tf::FitState> merged = {tf::FitState(num), tf::FitState(str)};  // start empty
  for (size_t part = 0; part + 1 < cuts.size(); ++part) {
    std::vector<Input> slice = inputs;
    for (auto& in : slice) {
      in.cells = std::vector<Cell>(in.cells.begin() + cuts[part], in.cells.begin() + cuts[part + 1]);
    }
    const Table table = materialize(slice, 3, Repr::kDictionary, rng);
    const auto states = plan.collect(table.columns, specs);
    for (size_t k = 0; k < 2; ++k) merged[k].merge(states[k]);
  }
  const Table whole = materialize(inputs, 3, Repr::kPlain, rng);
  const auto direct = plan.collect(whole.columns, specs);

  // Moments: same up to rounding; counts: exact.
  const auto& m = merged[0];
  const auto& d = direct[0];
  EXPECT_EQ(m.rows, d.rows);
  EXPECT_EQ(m.missing, d.missing);
  EXPECT_EQ(m.count, d.count);
  // Relative to the spread as well: this chain centres the values, so the mean itself is near 0.
  const double scale = std::max(std::fabs(d.mean), std::sqrt(d.m2 / static_cast<double>(d.count)));
  EXPECT_LE(std::fabs(m.mean - d.mean), 1e-12 * scale);
  EXPECT_LE(std::fabs(m.m2 - d.m2), 1e-12 * d.m2);
  EXPECT_EQ(m.min, d.min);
  EXPECT_EQ(m.max, d.max);
  const std::vector<double> qs = {0.0, 0.1, 0.5, 0.93, 1.0};
  EXPECT_EQ(m.quantiles(qs), d.quantiles(qs));
  EXPECT_EQ(m.most_frequent_number(), d.most_frequent_number());
  expect_moments(m, numeric_oracle(programs[0], inputs[0], false), 1e-12);

  EXPECT_EQ(merged[1].rows, direct[1].rows);
  EXPECT_EQ(merged[1].missing, direct[1].missing);
  EXPECT_EQ(merged[1].count, direct[1].count);
  EXPECT_EQ(merged[1].string_counts(), direct[1].string_counts());
  expect_string_state(merged[1], string_oracle(programs[1], inputs[1], false));

  // Merging an empty state changes nothing.
  tf::FitState copy = direct[0];
  copy.merge(tf::FitState(num));
  EXPECT_EQ(std::memcmp(&copy.mean, &direct[0].mean, sizeof(double)), 0);
  EXPECT_EQ(std::memcmp(&copy.m2, &direct[0].m2, sizeof(double)), 0);
  EXPECT_EQ(copy.count, direct[0].count);
}

TEST_F(PlanTest, CollectNeedsOneSpecPerProgram) {
  std::mt19937_64 rng(15);
  const std::vector<Input> inputs = {numeric_input("a", ValueType::kFloat64, 10, 0, 0, 0, 1, rng)};
  const Table table = materialize(inputs, 0, Repr::kPlain, rng);
  const tf::Plan plan({numeric_program("a", 0), numeric_program("a", 0)});
  EXPECT_THROW(plan.collect(table.columns, {tf::CollectSpec{}}), sw::InvalidInput);
}

}  // namespace

namespace {

// A plan whose string program has no categorical op yet (as the pipeline builds while fitting):
// it gathers string counts, but refuses to write output, naming the column, on both paths.
TEST_F(PlanTest, StringProgramWithoutCategoricalOpCollectsButDoesNotTransform) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  const std::vector<std::string> levels = make_levels(5, "v");
  const std::vector<Input> inputs = {string_input("s", 500, levels, 0.1, 0.0, rng)};
  const Table t = materialize(inputs, 0, Repr::kPlain, rng);
  const tf::Plan plan({string_program("s", 0, tf::CategoricalKind::kNone)});

  tf::CollectSpec spec;
  spec.string_counts = true;
  const std::vector<tf::FitState> states = plan.collect(t.columns, {spec});
  int64_t nulls = 0;
  std::map<std::string, int64_t> expected;
  for (const auto& cell : inputs[0].cells) {
    if (cell.null) {
      ++nulls;
    } else {
      ++expected[cell.text];
    }
  }
  std::map<std::string, int64_t> got;
  for (const auto& [value, count] : states[0].string_counts()) got[value] = count;
  EXPECT_EQ(got, expected);
  EXPECT_EQ(states[0].missing, nulls);

  std::vector<float> out(500 * plan.width());
  const std::string batch_error = error_of([&] { plan.transform(t.columns, out.data()); });
  const std::string row_error = error_of([&] {
    std::vector<float> row(plan.width());
    plan.transform_row(row_values(inputs, 0), row.data());
  });
  for (const std::string& e : {batch_error, row_error}) {
    EXPECT_TRUE(contains(e, "column 's'")) << e;
    EXPECT_TRUE(contains(e, "needs a categorical op")) << e;
  }
}

}  // namespace
