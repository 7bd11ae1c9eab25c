// Per-value numeric steps shared by the batch and the one-row path. Each works on a span of
// doubles in place; the one-row path passes a span of one, so both run the same instructions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "seawall/transforms/program.h"

namespace seawall::transforms {

// "column 'x', row 12: " or, for a single request (row < 0), "column 'x': ".
std::string where(const std::string& column, int64_t row);

// Replaces missing values (null, or NaN) by the imputation's fill and sets indicator[i] to 1 there
// (0 elsewhere; indicator may be null). Without an imputation a missing value is an error, and so
// is an infinity in either case. row0 is the global row of v[0] (or -1 for a single request).
void prepare_numbers(const ColumnProgram& p, double* v, const uint8_t* missing, int64_t n,
                     int64_t row0, double* indicator);

// Runs the program's numeric ops over v. Throws InvalidInput naming the row when an op meets a
// value outside its domain (Log1p of a value <= -1).
void apply_numeric_ops(const ColumnProgram& p, double* v, int64_t n, int64_t row0);

// Throws InvalidInput if any v[i] is non-finite or too large for float32.
void check_output_range(const ColumnProgram& p, const double* v, int64_t n, int64_t row0);

// True when the program can take the fused path: only scale and clip ops, no missing indicator.
bool fusable(const ColumnProgram& p);

// The fused path: reads rows [begin, begin + n) of a chunk with no nulls, runs the scale/clip ops
// and writes float32 results to dst[i * stride], all in one pass. Returns false when some value
// needs the general path (NaN, infinity, out of float32 range); dst is then partly written and
// the caller redoes the rows. The arithmetic is the general path's, so results are bit-identical.
bool try_fused(const ColumnProgram& p, const ColumnChunk& chunk, int64_t begin, int64_t n, float* dst,
               int64_t stride);

// True when every value is finite (vectorised fast path for the common case).
bool all_finite(const double* v, int64_t n);

}  // namespace seawall::transforms
