// Rows gathered by group: checks of the group ids, and a stable counting sort into buckets.
#pragma once

#include <cstdint>
#include <vector>

#include "seawall/errors.h"
#include "seawall/evaluation/groups.h"

namespace seawall::evaluation {

inline int32_t group_of(const Groups& groups, int64_t row) {
  return groups.ids == nullptr ? 0 : groups.ids[row];
}

// Throws InvalidInput for a group count below 1, ids absent with a count above 1, or an id out
// of [-1, count).
void check_groups(const Groups& groups, int64_t n);

// Start of each bucket in a buffer holding every row that has a bucket, bucket by bucket, and
// the end of the last: bucket_of(row) gives a bucket in [0, buckets) or -1 (left out).
template <typename BucketOf>
std::vector<int64_t> bucket_offsets(int64_t n, int64_t buckets, BucketOf&& bucket_of) {
  std::vector<int64_t> offsets(static_cast<size_t>(buckets) + 1, 0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t b = bucket_of(i);
    if (b >= 0) ++offsets[static_cast<size_t>(b) + 1];
  }
  for (size_t b = 1; b < offsets.size(); ++b) offsets[b] += offsets[b - 1];
  return offsets;
}

// Runs on each row with a bucket, in row order: place(row, position) with the row's position
// in the buffer that bucket_offsets describes (rows keep their order within a bucket).
template <typename BucketOf, typename Place>
void scatter_by_bucket(int64_t n, std::vector<int64_t> cursor, BucketOf&& bucket_of, Place&& place) {
  for (int64_t i = 0; i < n; ++i) {
    const int64_t b = bucket_of(i);
    if (b >= 0) place(i, cursor[static_cast<size_t>(b)]++);
  }
}

}  // namespace seawall::evaluation
