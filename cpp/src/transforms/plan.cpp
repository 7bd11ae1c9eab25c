#include <algorithm>
#include <cmath>
#include <cstring>

#include "numeric_ops_internal.h"
#include "seawall/core/hash.h"
#include "seawall/core/segments.h"
#include "seawall/core/thread_pool.h"
#include "seawall/errors.h"
#include "seawall/transforms/program.h"

namespace seawall::transforms {

namespace {

// Rows per piece of work: large enough to amortise scheduling, small enough that a piece's
// slice of the output stays in cache while every program writes into it.
constexpr int64_t kBlockRows = 1024;

}  // namespace

int64_t ColumnProgram::width() const {
  int64_t w = 1;
  if (categorical.kind == CategoricalKind::kOneHot) {
    w = static_cast<int64_t>(categorical.categories.size()) + categorical.infrequent_column +
        categorical.unknown_column;
  }
  return w + (impute.enabled && impute.indicator ? 1 : 0);
}

// Lookup tables derived from a program once, when the plan is built.
struct Plan::Compiled {
  StringTable vocabulary;  // categories, then infrequent values
  int64_t kept = 0;
  int64_t main_width = 1;  // outputs before the missing indicator

  // The code a string value gets: Categorify's id, OneHot's column (-1 for none), HashBucket's
  // bucket. `missing` means null (after imputation was applied).
  int64_t code(const ColumnProgram& p, bool missing, std::string_view s) const {
    const CategoricalOp& op = p.categorical;
    if (op.kind == CategoricalKind::kHashBucket) {
      return missing ? static_cast<int64_t>(op.buckets)
                     : static_cast<int64_t>(xxh64(s.data(), s.size()) % op.buckets);
    }
    int64_t id = missing ? StringTable::kAbsent : vocabulary.find(s);
    if (op.kind == CategoricalKind::kCategorify) {
      if (missing) return kNullId;
      if (id == StringTable::kAbsent) return kUnknownId;
      return id < kept ? kFirstCategoryId + id : kInfrequentId;
    }
    // OneHot: nulls are treated as unseen values; infrequent values set the infrequent column
    // when the program has one, and nothing otherwise (never a column of another program).
    if (id != StringTable::kAbsent) {
      if (id < kept) return id;
      return op.infrequent_column ? kept : -1;
    }
    return op.unknown_column ? kept + op.infrequent_column : -1;
  }
};

Plan::Plan(std::vector<ColumnProgram> programs) : programs_(std::move(programs)) {
  for (const auto& p : programs_) {
    SEAWALL_CHECK(p.input >= 0, "column '", p.column, "': negative input index");
    num_inputs_ = std::max<int64_t>(num_inputs_, p.input + 1);
    offsets_.push_back(width_);
    width_ += p.width();
    auto compiled = std::make_shared<Compiled>();
    const CategoricalOp& op = p.categorical;
    SEAWALL_CHECK(op.kind == CategoricalKind::kNone || p.string_input, "column '", p.column,
                  "': categorical ops need a string column");
    SEAWALL_CHECK(p.numeric_ops.empty() || !p.string_input, "column '", p.column,
                  "': numeric ops cannot follow a string column");
    SEAWALL_CHECK(op.kind != CategoricalKind::kHashBucket || op.buckets > 0, "column '", p.column,
                  "': HashBucket needs at least one bucket");
    for (const auto& v : op.categories) {
      SEAWALL_CHECK(compiled->vocabulary.insert(v) == compiled->vocabulary.size() - 1, "column '",
                    p.column, "': category '", v, "' appears twice in the vocabulary");
    }
    compiled->kept = compiled->vocabulary.size();
    for (const auto& v : op.infrequent) {
      SEAWALL_CHECK(compiled->vocabulary.insert(v) == compiled->vocabulary.size() - 1, "column '",
                    p.column, "': category '", v, "' appears twice in the vocabulary");
    }
    compiled->main_width = p.width() - (p.impute.enabled && p.impute.indicator ? 1 : 0);
    for (const auto& op2 : p.numeric_ops) {
      if (op2.kind == NumericOpKind::kBucketize) {
        SEAWALL_CHECK(std::is_sorted(op2.boundaries.begin(), op2.boundaries.end()), "column '",
                      p.column, "': bucket boundaries must be sorted");
      }
    }
    compiled_.push_back(std::move(compiled));
  }
  for (size_t k = 0; k < programs_.size() && incomplete_ < 0; ++k) {
    const ColumnProgram& p = programs_[k];
    if (p.string_input && p.categorical.kind == CategoricalKind::kNone) {
      incomplete_ = static_cast<int64_t>(k);
    }
  }
}

void Plan::require_output_ops() const {
  if (incomplete_ >= 0) {
    throw InvalidInput(detail::concat("column '", programs_[incomplete_].column,
                                      "': a string column needs a categorical op (Categorify, "
                                      "OneHot or HashBucket)"));
  }
}

namespace {

void check_columns(const std::vector<Column>& columns, int64_t needed, int64_t* rows) {
  SEAWALL_CHECK(static_cast<int64_t>(columns.size()) >= needed, "expected ", needed,
                " input columns, got ", columns.size());
  *rows = columns.empty() ? 0 : columns.front().length();
  for (const auto& c : columns) {
    SEAWALL_CHECK(c.length() == *rows, "column '", c.name, "' has ", c.length(), " rows, but '",
                  columns.front().name, "' has ", *rows);
  }
}

void check_kind(const ColumnProgram& p, const Column& c) {
  for (const auto& chunk : c.chunks) {
    SEAWALL_CHECK_TYPE(is_string_like(chunk.type) == p.string_input, "column '", p.column,
                       "': expected ", p.string_input ? "strings" : "numbers", ", got ",
                       value_type_name(chunk.type));
  }
}

// The code of every dictionary entry of each chunk of a column (empty for plain chunks), computed
// once per call so that rows then only gather by index.
template <typename Code>
std::vector<std::vector<int64_t>> dictionary_codes(const ColumnProgram& p, const Column& column,
                                                   Code&& code) {
  std::vector<std::vector<int64_t>> out(column.chunks.size());
  for (size_t c = 0; c < column.chunks.size(); ++c) {
    if (column.chunks[c].type != ValueType::kDictionary) continue;
    const ColumnChunk& dict = *column.chunks[c].dictionary;
    out[c].resize(dict.length);
    for (int64_t d = 0; d < dict.length; ++d) {
      out[c][d] = dict.is_valid(d) ? code(false, dict.str(d))
                                   : (p.impute.enabled ? code(false, p.impute.text) : code(true, {}));
    }
  }
  return out;
}

// Reads rows [begin, end) of a string-typed column into per-row codes.
template <typename Code>
void string_codes(const ColumnProgram& p, const Column& column, const std::vector<int64_t>& starts,
                  const std::vector<std::vector<int64_t>>& dict_codes_by_chunk, int64_t begin,
                  int64_t end, int64_t* codes, uint8_t* was_missing, Code&& code) {
  for_each_piece(column, starts, begin, end,
                 [&](const ColumnChunk& chunk, int64_t lb, int64_t le, int64_t gb) {
    int64_t* out = codes + (gb - begin);
    uint8_t* miss = was_missing + (gb - begin);
    const bool impute = p.impute.enabled;
    if (chunk.type == ValueType::kDictionary) {
      const ColumnChunk& dict = *chunk.dictionary;
      const size_t chunk_index = &chunk - column.chunks.data();
      const std::vector<int64_t>& dict_codes = dict_codes_by_chunk[chunk_index];
      const int64_t missing_code = impute ? code(false, p.impute.text) : code(true, {});
      for (int64_t i = lb; i < le; ++i) {
        const bool valid = chunk.is_valid(i);
        int64_t idx = valid ? chunk.dict_index(i) : -1;
        SEAWALL_CHECK(!valid || (idx >= 0 && idx < dict.length), where(p.column, gb + i - lb),
                      "dictionary index ", idx, " out of range");
        out[i - lb] = valid ? dict_codes[idx] : missing_code;
        miss[i - lb] = !valid || !dict.is_valid(idx);
      }
      return;
    }
    for (int64_t i = lb; i < le; ++i) {
      const bool valid = chunk.is_valid(i);
      miss[i - lb] = !valid;
      if (valid) {
        out[i - lb] = code(false, chunk.str(i));
      } else {
        out[i - lb] = impute ? code(false, p.impute.text) : code(true, {});
      }
    }
  });
}

}  // namespace

void Plan::transform(const std::vector<Column>& columns, float* out, bool out_is_zeroed) const {
  int64_t rows = 0;
  check_columns(columns, num_inputs_, &rows);
  require_output_ops();
  for (const auto& p : programs_) check_kind(p, columns[p.input]);
  std::vector<std::vector<int64_t>> starts;
  for (const auto& c : columns) starts.push_back(chunk_starts(c));
  const int64_t width = width_;
  bool has_one_hot = false;
  std::vector<bool> fused;
  std::vector<std::vector<std::vector<int64_t>>> dict_codes(programs_.size());
  for (size_t k = 0; k < programs_.size(); ++k) {
    const ColumnProgram& p = programs_[k];
    if (p.string_input) {
      dict_codes[k] = dictionary_codes(p, columns[p.input], [&](bool miss, std::string_view s) {
        return compiled_[k]->code(p, miss, s);
      });
    }
  }
  for (const auto& p : programs_) {
    has_one_hot |= p.categorical.kind == CategoricalKind::kOneHot;  // writes only its ones
    fused.push_back(fusable(p));
  }

  // Rows per block: each program writes a strided column into the block's slice of the output,
  // so keep that slice within L1 (about 16 KiB) when rows are narrow.
  int64_t block_rows = kBlockRows;
  while (block_rows > 64 && block_rows * width * static_cast<int64_t>(sizeof(float)) > (16 << 10)) {
    block_rows /= 2;
  }
  parallel_for(rows, block_rows, [&](int64_t begin, int64_t end) {
    std::vector<double> values(kBlockRows), indicator(kBlockRows);
    std::vector<uint8_t> missing(kBlockRows);
    std::vector<int64_t> codes(kBlockRows);
    for (int64_t b0 = begin; b0 < end; b0 += block_rows) {
      const int64_t b1 = std::min(end, b0 + block_rows);
      const int64_t n = b1 - b0;
      float* block = out + b0 * width;
      if (has_one_hot && !out_is_zeroed) std::memset(block, 0, sizeof(float) * n * width);
      for (size_t k = 0; k < programs_.size(); ++k) {
        const ColumnProgram& p = programs_[k];
        const Compiled& compiled = *compiled_[k];
        const Column& column = columns[p.input];
        float* dst = block + offsets_[k];
        const bool indicator_on = p.impute.enabled && p.impute.indicator;
        if (!p.string_input) {
          if (fused[k]) {
            bool done = true;
            for_each_piece(column, starts[p.input], b0, b1,
                           [&](const ColumnChunk& chunk, int64_t lb, int64_t le, int64_t gb) {
              done = done && try_fused(p, chunk, lb, le - lb, dst + (gb - b0) * width, width);
            });
            if (done) continue;  // else redo these rows on the general path, which reports why
          }
          for_each_piece(column, starts[p.input], b0, b1,
                         [&](const ColumnChunk& chunk, int64_t lb, int64_t le, int64_t gb) {
            read_numeric(chunk, lb, le, values.data() + (gb - b0), missing.data() + (gb - b0));
          });
          prepare_numbers(p, values.data(), missing.data(), n, b0,
                          indicator_on ? indicator.data() : nullptr);
          apply_numeric_ops(p, values.data(), n, b0);
          check_output_range(p, values.data(), n, b0);
          for (int64_t i = 0; i < n; ++i) dst[i * width] = static_cast<float>(values[i]);
          if (indicator_on) {
            for (int64_t i = 0; i < n; ++i) dst[i * width + 1] = static_cast<float>(indicator[i]);
          }
          continue;
        }
        string_codes(p, column, starts[p.input], dict_codes[k], b0, b1, codes.data(),
                     missing.data(),
                     [&](bool miss, std::string_view s) { return compiled.code(p, miss, s); });
        if (p.categorical.kind == CategoricalKind::kOneHot) {
          for (int64_t i = 0; i < n; ++i) {
            if (codes[i] >= 0) dst[i * width + codes[i]] = 1.0f;
          }
        } else {
          for (int64_t i = 0; i < n; ++i) dst[i * width] = static_cast<float>(codes[i]);
        }
        if (indicator_on) {
          for (int64_t i = 0; i < n; ++i) {
            dst[i * width + compiled.main_width] = missing[i] ? 1.0f : 0.0f;
          }
        }
      }
    }
  });
}

void Plan::transform_row(const std::vector<RowValue>& values, float* out) const {
  SEAWALL_CHECK(static_cast<int64_t>(values.size()) >= num_inputs_, "expected ", num_inputs_,
                " input values, got ", values.size());
  require_output_ops();
  std::memset(out, 0, sizeof(float) * width_);
  for (size_t k = 0; k < programs_.size(); ++k) {
    const ColumnProgram& p = programs_[k];
    const Compiled& compiled = *compiled_[k];
    const RowValue& value = values[p.input];
    float* dst = out + offsets_[k];
    const bool indicator_on = p.impute.enabled && p.impute.indicator;
    SEAWALL_CHECK_TYPE(value.missing || value.is_text == p.string_input, where(p.column, -1),
                       "expected ", p.string_input ? "a string" : "a number", ", got ",
                       value.is_text ? "a string" : "a number");
    if (!p.string_input) {
      double v = value.missing ? std::nan("") : value.number;
      const uint8_t missing = value.missing ? 1 : 0;
      double indicator = 0.0;
      prepare_numbers(p, &v, &missing, 1, -1, indicator_on ? &indicator : nullptr);
      apply_numeric_ops(p, &v, 1, -1);
      check_output_range(p, &v, 1, -1);
      dst[0] = static_cast<float>(v);
      if (indicator_on) dst[1] = static_cast<float>(indicator);
      continue;
    }
    const int64_t code = value.missing
                             ? (p.impute.enabled ? compiled.code(p, false, p.impute.text)
                                                 : compiled.code(p, true, {}))
                             : compiled.code(p, false, value.text);
    if (p.categorical.kind == CategoricalKind::kOneHot) {
      if (code >= 0) dst[code] = 1.0f;
    } else {
      dst[0] = static_cast<float>(code);
    }
    if (indicator_on) dst[compiled.main_width] = value.missing ? 1.0f : 0.0f;
  }
}

std::vector<FitState> Plan::collect(const std::vector<Column>& columns,
                                    const std::vector<CollectSpec>& specs,
                                    int64_t row_offset) const {
  SEAWALL_CHECK(specs.size() == programs_.size(), "one collect spec per program is needed");
  int64_t rows = 0;
  check_columns(columns, num_inputs_, &rows);
  for (const auto& p : programs_) check_kind(p, columns[p.input]);
  std::vector<std::vector<int64_t>> starts;
  for (const auto& c : columns) starts.push_back(chunk_starts(c));

  const int64_t programs = static_cast<int64_t>(programs_.size());
  return collect_by_segments<FitState>(
      programs, rows, [&](int64_t k) { return FitState(specs[k]); },
      [&](int64_t k, int64_t seg_begin, int64_t seg_end, FitState& state) {
    std::vector<double> values(kBlockRows);
    std::vector<uint8_t> missing(kBlockRows);
    std::vector<int64_t> codes(kBlockRows);
    {
      const ColumnProgram& p = programs_[k];
      const CollectSpec& spec = specs[k];
      const Column& column = columns[p.input];
      for (int64_t b0 = seg_begin; b0 < seg_end; b0 += kBlockRows) {
        const int64_t b1 = std::min(seg_end, b0 + kBlockRows);
        const int64_t n = b1 - b0;
        state.rows += n;
        if (!p.string_input) {
          for_each_piece(column, starts[p.input], b0, b1,
                         [&](const ColumnChunk& chunk, int64_t lb, int64_t le, int64_t gb) {
            read_numeric(chunk, lb, le, values.data() + (gb - b0), missing.data() + (gb - b0));
          });
          int64_t kept = n;
          if (spec.skip_missing) {
            // Fitting the imputation: count missing values and drop them; infinities still fail.
            kept = 0;
            for (int64_t i = 0; i < n; ++i) {
              if (missing[i] || std::isnan(values[i])) {
                ++state.missing;
              } else {
                SEAWALL_CHECK(!std::isinf(values[i]), where(p.column, row_offset + b0 + i), "non-finite value ",
                              values[i] > 0 ? "inf" : "-inf", " (only null and NaN count as missing)");
                values[kept++] = values[i];
              }
            }
          } else {
            for (int64_t i = 0; i < n; ++i) state.missing += missing[i] || std::isnan(values[i]);
            prepare_numbers(p, values.data(), missing.data(), n, row_offset + b0, nullptr);
          }
          apply_numeric_ops(p, values.data(), kept, spec.skip_missing ? -1 : row_offset + b0);
          if (!all_finite(values.data(), kept)) {
            for (int64_t i = 0; i < kept; ++i) {
              SEAWALL_CHECK(std::isfinite(values[i]), "column '", p.column,
                            "': a transformed value overflowed to ", values[i],
                            " while fitting; the values are too large for this chain");
            }
          }
          state.add_numbers(values.data(), kept);
          continue;
        }
        // String column: gather the values the categorical op (or string imputation) will see.
        for_each_piece(column, starts[p.input], b0, b1,
                       [&](const ColumnChunk& chunk, int64_t lb, int64_t le, int64_t) {
          const bool impute = p.impute.enabled && !spec.skip_missing;
          if (chunk.type == ValueType::kDictionary) {
            const ColumnChunk& dict = *chunk.dictionary;
            if (dict.length <= le - lb) {
              std::vector<int64_t> counts(dict.length, 0);
              int64_t nulls = 0;
              for (int64_t i = lb; i < le; ++i) {
                if (!chunk.is_valid(i)) {
                  ++nulls;
                  continue;
                }
                const int64_t idx = chunk.dict_index(i);
                SEAWALL_CHECK(idx >= 0 && idx < dict.length, "column '", p.column,
                              "': dictionary index out of range");
                if (dict.is_valid(idx)) {
                  ++counts[idx];
                } else {
                  ++nulls;
                }
              }
              for (int64_t d = 0; d < dict.length; ++d) {
                if (counts[d] > 0) state.add_string(dict.str(d), counts[d]);
              }
              state.missing += nulls;
              if (impute && nulls > 0) state.add_string(p.impute.text, nulls);
              return;
            }
            for (int64_t i = lb; i < le; ++i) {
              const int64_t idx = chunk.is_valid(i) ? chunk.dict_index(i) : -1;
              SEAWALL_CHECK(idx < dict.length, "column '", p.column, "': dictionary index out of range");
              if (idx >= 0 && dict.is_valid(idx)) {
                state.add_string(dict.str(idx));
              } else {
                ++state.missing;
                if (impute) state.add_string(p.impute.text);
              }
            }
            return;
          }
          for (int64_t i = lb; i < le; ++i) {
            if (chunk.is_valid(i)) {
              state.add_string(chunk.str(i));
            } else {
              ++state.missing;
              if (impute) state.add_string(p.impute.text);
            }
          }
        });
      }
    }
  });
}

}  // namespace seawall::transforms
