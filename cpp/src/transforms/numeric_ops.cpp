#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "core/simd_internal.h"
#include "numeric_ops_internal.h"
#include "seawall/errors.h"

// The loops below are built for AVX2 and for the x86-64 baseline (core/simd_internal.h).

namespace seawall::transforms {

std::string where(const std::string& column, int64_t row) {
  if (row < 0) return detail::concat("column '", column, "': ");
  return detail::concat("column '", column, "', row ", row, ": ");
}

SEAWALL_SIMD_CLONES
bool all_finite(const double* v, int64_t n) {
  constexpr uint64_t kExponent = 0x7FF0000000000000ULL;
  uint64_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint64_t bits;
    std::memcpy(&bits, v + i, sizeof bits);
    bad |= static_cast<uint64_t>((bits & kExponent) == kExponent);
  }
  return bad == 0;
}

void prepare_numbers(const ColumnProgram& p, double* v, const uint8_t* missing, int64_t n,
                     int64_t row0, double* indicator) {
  bool any_missing = false;
  for (int64_t i = 0; i < n; ++i) any_missing |= missing[i] != 0;
  if (!any_missing && all_finite(v, n)) {
    if (indicator != nullptr) std::fill(indicator, indicator + n, 0.0);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const int64_t row = row0 < 0 ? -1 : row0 + i;
    const bool is_missing = missing[i] != 0 || std::isnan(v[i]);
    if (is_missing) {
      if (!p.impute.enabled) {
        throw InvalidInput(where(p.column, row) + "missing value (" +
                           (missing[i] ? "null" : "NaN") +
                           ") and the pipeline has no Impute for this column");
      }
      v[i] = p.impute.number;
    } else if (std::isinf(v[i])) {
      throw InvalidInput(where(p.column, row) + "non-finite value " + (v[i] > 0 ? "inf" : "-inf") +
                         " (only null and NaN count as missing)");
    }
    if (indicator != nullptr) indicator[i] = is_missing ? 1.0 : 0.0;
  }
}

namespace {

SEAWALL_SIMD_CLONES
void scale_span(double* v, int64_t n, double shift, double inv_scale) {
  for (int64_t i = 0; i < n; ++i) v[i] = (v[i] - shift) * inv_scale;
}

// For a scale so small (subnormal) that its reciprocal overflows: divide instead.
void divide_span(double* v, int64_t n, double shift, double scale) {
  for (int64_t i = 0; i < n; ++i) v[i] = (v[i] - shift) / scale;
}

bool reciprocal_is_finite(double scale) { return std::isfinite(1.0 / scale); }

SEAWALL_SIMD_CLONES
void clip_span(double* v, int64_t n, double lower, double upper) {
  for (int64_t i = 0; i < n; ++i) v[i] = std::min(std::max(v[i], lower), upper);
}

void log1p_span(const ColumnProgram& p, double* v, int64_t n, int64_t row0) {
  for (int64_t i = 0; i < n; ++i) {
    if (!(v[i] > -1.0)) {
      throw InvalidInput(where(p.column, row0 < 0 ? -1 : row0 + i) +
                         detail::concat("Log1p needs values greater than -1, got ", v[i]));
    }
    v[i] = std::log1p(v[i]);
  }
}

void bucketize_span(const std::vector<double>& boundaries, double* v, int64_t n) {
  const double* b = boundaries.data();
  const double* e = b + boundaries.size();
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(std::upper_bound(b, e, v[i]) - b);
}

}  // namespace

void apply_numeric_ops(const ColumnProgram& p, double* v, int64_t n, int64_t row0) {
  for (const NumericOp& op : p.numeric_ops) {
    switch (op.kind) {
      case NumericOpKind::kScale:
        if (reciprocal_is_finite(op.scale)) {
          scale_span(v, n, op.shift, 1.0 / op.scale);
        } else {
          divide_span(v, n, op.shift, op.scale);
        }
        if (op.clip) clip_span(v, n, op.lower, op.upper);
        break;
      case NumericOpKind::kClip:
        clip_span(v, n, op.lower, op.upper);
        break;
      case NumericOpKind::kLog1p:
        log1p_span(p, v, n, row0);
        break;
      case NumericOpKind::kBucketize:
        bucketize_span(op.boundaries, v, n);
        break;
    }
  }
}

SEAWALL_SIMD_CLONES
static bool fits_float32(const double* v, int64_t n) {
  uint64_t bad = 0;
  for (int64_t i = 0; i < n; ++i) bad |= static_cast<uint64_t>(!(std::fabs(v[i]) <= FLT_MAX));
  return bad == 0;
}

void check_output_range(const ColumnProgram& p, const double* v, int64_t n, int64_t row0) {
  if (fits_float32(v, n)) return;
  for (int64_t i = 0; i < n; ++i) {
    if (!(std::fabs(v[i]) <= FLT_MAX)) {
      throw InvalidInput(where(p.column, row0 < 0 ? -1 : row0 + i) +
                         detail::concat("the transformed value ", v[i],
                                        " does not fit the float32 output"));
    }
  }
}

bool fusable(const ColumnProgram& p) {
  if (p.string_input || (p.impute.enabled && p.impute.indicator)) return false;
  for (const NumericOp& op : p.numeric_ops) {
    if (op.kind != NumericOpKind::kScale && op.kind != NumericOpKind::kClip) return false;
    if (op.kind == NumericOpKind::kScale && !reciprocal_is_finite(op.scale)) return false;
  }
  return true;
}

namespace {

// One step of the chain as the general path computes it: kScale is (v - shift) * (1 / scale), then the
// optional clip; kClip is the clip alone.
struct Step {
  double shift, inv_scale, lower, upper;
  bool affine, clip;
};

inline double run_step(const Step& s, double v) {
  if (s.affine) v = (v - s.shift) * s.inv_scale;
  if (s.clip) v = std::min(std::max(v, s.lower), s.upper);
  return v;
}

// Single scale op without clip, the common case, written so the compiler vectorises it.
template <typename T>
inline bool fused_one_scale(const T* src, int64_t n, double shift, double inv_scale, float* dst,
                            int64_t stride) {
  uint64_t bad = 0;
  // The caller walks many columns a block at a time: too many streams for the hardware
  // prefetcher, so ask for this column's next block while working on this one.
  constexpr int64_t kLine = 64 / sizeof(T);
  for (int64_t i = 0; i < n; i += kLine) __builtin_prefetch(src + n + i);
  for (int64_t i = 0; i < n; ++i) {
    const double x = static_cast<double>(src[i]);
    const double v = (x - shift) * inv_scale;
    // NaN or infinite input, or a result past float32, all fail the one comparison.
    bad |= static_cast<uint64_t>(!(std::fabs(v) <= FLT_MAX)) | static_cast<uint64_t>(!(std::fabs(x) <= DBL_MAX));
    dst[i * stride] = static_cast<float>(v);
  }
  return bad == 0;
}

SEAWALL_SIMD_CLONES
bool fused_one_scale_f32(const float* src, int64_t n, double shift, double inv_scale, float* dst,
                         int64_t stride) {
  return fused_one_scale(src, n, shift, inv_scale, dst, stride);
}

SEAWALL_SIMD_CLONES
bool fused_one_scale_f64(const double* src, int64_t n, double shift, double inv_scale, float* dst,
                         int64_t stride) {
  return fused_one_scale(src, n, shift, inv_scale, dst, stride);
}

template <typename T>
bool fused_steps(const T* src, int64_t n, const std::vector<Step>& steps, float* dst, int64_t stride) {
  uint64_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double x = static_cast<double>(src[i]);
    double v = x;
    for (const Step& s : steps) v = run_step(s, v);
    bad |= static_cast<uint64_t>(!(std::fabs(v) <= FLT_MAX)) | static_cast<uint64_t>(!(std::fabs(x) <= DBL_MAX));
    dst[i * stride] = static_cast<float>(v);
  }
  return bad == 0;
}

}  // namespace

bool try_fused(const ColumnProgram& p, const ColumnChunk& chunk, int64_t begin, int64_t n, float* dst,
               int64_t stride) {
  if (chunk.validity != nullptr) return false;
  const int64_t at = chunk.offset + begin;
  if (p.numeric_ops.size() == 1 && p.numeric_ops[0].kind == NumericOpKind::kScale &&
      !p.numeric_ops[0].clip) {
    const NumericOp& op = p.numeric_ops[0];
    if (chunk.type == ValueType::kFloat32) {
      return fused_one_scale_f32(static_cast<const float*>(chunk.values) + at, n, op.shift,
                                 1.0 / op.scale, dst, stride);
    }
    if (chunk.type == ValueType::kFloat64) {
      return fused_one_scale_f64(static_cast<const double*>(chunk.values) + at, n, op.shift,
                                 1.0 / op.scale, dst, stride);
    }
  }
  std::vector<Step> steps;
  for (const NumericOp& op : p.numeric_ops) {
    if (op.kind == NumericOpKind::kScale) {
      steps.push_back({op.shift, 1.0 / op.scale, op.lower, op.upper, true, op.clip});
    } else {
      steps.push_back({0.0, 1.0, op.lower, op.upper, false, true});
    }
  }
  switch (chunk.type) {
    case ValueType::kFloat32: return fused_steps(static_cast<const float*>(chunk.values) + at, n, steps, dst, stride);
    case ValueType::kFloat64: return fused_steps(static_cast<const double*>(chunk.values) + at, n, steps, dst, stride);
    case ValueType::kInt32: return fused_steps(static_cast<const int32_t*>(chunk.values) + at, n, steps, dst, stride);
    case ValueType::kInt64: return fused_steps(static_cast<const int64_t*>(chunk.values) + at, n, steps, dst, stride);
    default: return false;
  }
}

}  // namespace seawall::transforms
