// Rows gathered by group: checks of the group ids and of the rows, and a stable counting sort
// into buckets, in parallel over fixed pieces of rows (results never depend on the thread count).
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <vector>

#include "seawall/core/thread_pool.h"
#include "seawall/errors.h"
#include "seawall/evaluation/groups.h"

namespace seawall::evaluation {

// Rows per piece of the parallel passes.
inline constexpr int64_t kPieceRows = int64_t{1} << 16;

inline int32_t group_of(const Groups& groups, int64_t row) {
  return groups.ids == nullptr ? 0 : groups.ids[row];
}

inline int64_t piece_count(int64_t n) { return std::max<int64_t>(1, (n + kPieceRows - 1) / kPieceRows); }

// Throws InvalidInput for a group count below 1, ids absent with a count above 1, or an id out
// of [-1, count).
void check_groups(const Groups& groups, int64_t n);

// Runs check(row) on every row in parallel; when any throws, the rows are checked again in
// order, so the error names the first bad row whatever the threads did.
template <typename Check>
void check_all_rows(int64_t n, Check&& check) {
  bool failed = false;
  try {
    parallel_for(piece_count(n), 1, [&](int64_t first, int64_t last) {
      for (int64_t p = first; p < last; ++p) {
        const int64_t end = std::min(n, (p + 1) * kPieceRows);
        for (int64_t i = p * kPieceRows; i < end; ++i) check(i);
      }
    });
  } catch (const std::exception&) {
    failed = true;
  }
  if (failed) {
    for (int64_t i = 0; i < n; ++i) check(i);
  }
}

// A stable counting sort: where each row with a bucket goes in a buffer holding the rows of
// bucket 0, then of bucket 1, ..., each bucket's rows in row order.
class Buckets {
 public:
  // bucket_of(row) gives a bucket in [0, buckets) or -1 (the row is left out).
  template <typename BucketOf>
  Buckets(int64_t n, int64_t buckets, BucketOf&& bucket_of)
      : n_(n), buckets_(buckets), pieces_(piece_count(n)) {
    starts_.assign(static_cast<size_t>(pieces_ * buckets_), 0);
    parallel_for(pieces_, 1, [&](int64_t first, int64_t last) {
      for (int64_t p = first; p < last; ++p) {
        int64_t* count = starts_.data() + p * buckets_;
        const int64_t end = std::min(n_, (p + 1) * kPieceRows);
        for (int64_t i = p * kPieceRows; i < end; ++i) {
          const int64_t b = bucket_of(i);
          if (b >= 0) ++count[b];
        }
      }
    });
    // counts -> starts: bucket by bucket, piece by piece
    offsets_.assign(static_cast<size_t>(buckets_) + 1, 0);
    int64_t at = 0;
    for (int64_t b = 0; b < buckets_; ++b) {
      offsets_[b] = at;
      for (int64_t p = 0; p < pieces_; ++p) {
        const int64_t count = starts_[p * buckets_ + b];
        starts_[p * buckets_ + b] = at;
        at += count;
      }
    }
    offsets_[buckets_] = at;
  }

  // Start of each bucket in the buffer, and the end of the last (buckets + 1 values).
  const std::vector<int64_t>& offsets() const { return offsets_; }

  // place(row, position) for each row with a bucket, in parallel.
  template <typename BucketOf, typename Place>
  void scatter(BucketOf&& bucket_of, Place&& place) const {
    parallel_for(pieces_, 1, [&](int64_t first, int64_t last) {
      std::vector<int64_t> cursor(static_cast<size_t>(buckets_));
      for (int64_t p = first; p < last; ++p) {
        std::copy(starts_.begin() + p * buckets_, starts_.begin() + (p + 1) * buckets_,
                  cursor.begin());
        const int64_t end = std::min(n_, (p + 1) * kPieceRows);
        for (int64_t i = p * kPieceRows; i < end; ++i) {
          const int64_t b = bucket_of(i);
          if (b >= 0) place(i, cursor[b]++);
        }
      }
    });
  }

 private:
  int64_t n_;
  int64_t buckets_;
  int64_t pieces_;
  std::vector<int64_t> starts_;  // pieces x buckets: where a piece's first row of a bucket goes
  std::vector<int64_t> offsets_;
};

}  // namespace seawall::evaluation
