// Gathering mergeable statistics over many columns in parallel, with results that do not depend
// on the thread count: rows are cut at fixed boundaries, each (item, segment) fills its own
// state on the pool, and each item's states are merged in row order.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "seawall/core/thread_pool.h"

namespace seawall {

// Rows per segment: large enough that merging a segment's state is cheap next to filling it.
inline constexpr int64_t kSegmentRows = int64_t{1} << 16;

// make(item) builds an empty state; fill(item, row_begin, row_end, state) adds those rows;
// State::merge(const State&) folds another state in. Returns one merged state per item.
template <typename State, typename Make, typename Fill>
std::vector<State> collect_by_segments(int64_t items, int64_t rows, Make&& make, Fill&& fill) {
  const int64_t segments = std::max<int64_t>(1, (rows + kSegmentRows - 1) / kSegmentRows);
  std::vector<State> partial;
  partial.reserve(static_cast<size_t>(items * segments));
  for (int64_t item = 0; item < items; ++item) {
    for (int64_t s = 0; s < segments; ++s) partial.push_back(make(item));
  }
  parallel_for(items * segments, 1, [&](int64_t task_begin, int64_t task_end) {
    for (int64_t task = task_begin; task < task_end; ++task) {
      const int64_t begin = (task % segments) * kSegmentRows;
      fill(task / segments, begin, std::min(rows, begin + kSegmentRows), partial[task]);
    }
  });
  std::vector<State> merged;
  merged.reserve(static_cast<size_t>(items));
  for (int64_t item = 0; item < items; ++item) {
    State total = std::move(partial[item * segments]);
    for (int64_t s = 1; s < segments; ++s) total.merge(partial[item * segments + s]);
    merged.push_back(std::move(total));
  }
  return merged;
}

}  // namespace seawall
