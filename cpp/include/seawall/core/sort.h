// Sorting float64 fast: the drift statistics sort millions of values per column.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace seawall {

// Sorts ascending. NaN-free input only (callers check first: NaN has no place in an order);
// -0.0 sorts before +0.0, which compare equal, so results that compare values are unaffected.
// Large inputs take an LSD radix sort (about 3x std::sort on random doubles); small ones std::sort.
void sort_doubles(std::vector<double>& values);
// The same on n values in place (a piece of a larger buffer).
void sort_doubles(double* data, size_t n);

// The same for float32 values: half the bytes to move and half the passes of doubles, so
// float64 data whose values are all float32 values (a model's float32 outputs) sorts faster as
// floats.
void sort_floats(float* data, size_t n);

}  // namespace seawall
