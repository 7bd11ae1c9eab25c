// A mergeable quantile sketch (KLL: Karnin, Lang & Liberty, "Optimal Quantile Approximation in
// Streams", FOCS 2016) for doubles.
//
// Why a sketch: fitting quantile-based transforms on data that does not fit in memory, or that
// arrives in shards fitted in parallel, needs a summary whose size does not grow with the data and
// that can be combined afterwards. KLL keeps O(k log(n/k)) values and answers any quantile with a
// normalized rank error of about 1/k, regardless of the input order.
//
// How it works, in one paragraph: retained values live in "levels"; a value at level h stands for
// 2^h input values. New values go to level 0. When the sketch is full, the lowest level that holds
// at least its capacity is "compacted": sorted, split into adjacent pairs, and one value of every
// pair (all the first ones or all the second ones, by a fair coin) moves one level up with double
// weight. The coin makes every compaction's rank error zero-mean, so errors cancel instead of
// adding up. Capacities shrink by 2/3 per level below the top, which is what keeps the total size
// near 3k while the top levels (which carry most of the weight) stay accurate.
//
// Determinism: the coins come from a splitmix64 generator seeded by the constructor, so the same
// values in the same order with the same seed give a bit-identical sketch (reproducible fits).
// update(x) and the batch updates make identical sketches for identical input sequences.
//
// Thread safety: const member functions may run concurrently; anything else needs external
// synchronization.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace seawall::sketch {

class KllSketch {
 public:
  static constexpr uint32_t kDefaultK = 200;
  static constexpr uint32_t kMinK = 8;
  static constexpr uint32_t kMaxK = 65535;
  static constexpr uint64_t kDefaultSeed = 0x5EA3A11u;

  // k trades memory for accuracy: about 3k values are retained and the rank error is about 1/k
  // (see rank_error_bound). Throws InvalidInput unless kMinK <= k <= kMaxK.
  explicit KllSketch(uint32_t k = kDefaultK, uint64_t seed = kDefaultSeed);

  // NaN is not an error: it is skipped (it has no rank) and counted in nan_count(), so a caller can
  // report how many values were missing. +-inf are ordinary values that sort at the ends.
  void update(double x);
  // Batch forms: same semantics and the same resulting sketch as calling update(x) per value, but
  // without per-value overhead. xs may be null only when n == 0 (else InvalidInput).
  void update(const double* xs, size_t n);
  void update(const float* xs, size_t n);

  // Folds `other` into this sketch, as if its values had been fed here too (up to the sketch's
  // error). Throws InvalidInput if other.k() != k(): sketches of different k have incompatible
  // level capacities and error guarantees. Merging a sketch into itself is allowed (it doubles
  // every count). The coins for any compaction it triggers come from this sketch's generator.
  void merge(const KllSketch& other);

  uint64_t count() const { return n_; }  // number of non-NaN values seen
  uint64_t nan_count() const { return nan_count_; }
  bool empty() const { return n_ == 0; }
  // Exact smallest / largest value seen; NaN when empty.
  double min() const;
  double max() const;
  uint32_t k() const { return k_; }
  size_t num_retained() const { return retained_; }
  // True while no compaction has happened, i.e. every value seen is retained with weight 1; the
  // quantiles are then exact (equal to numpy.quantile of the data).
  bool is_exact() const { return levels_.size() == 1; }

  // The q-quantile with numpy's default "linear" method: with n = count(), h = q * (n - 1) and
  // v(r) the value at 0-based rank r, returns lerp(v(floor(h)), v(ceil(h)), h - floor(h)) using
  // numpy's exact lerp arithmetic, so while is_exact() the result is bit-identical to
  // numpy.quantile(data, q). v(r) is the retained value whose weight covers rank r, except that
  // v(0) and v(n - 1) are the exact min() and max(). Where numpy's arithmetic would produce NaN
  // (only possible with infinities, e.g. lerp(-inf, inf) or lerp(1, inf, 0.7)), the nearer of the
  // two values is returned instead. Throws InvalidInput unless 0 <= q <= 1; NaN when empty.
  double quantile(double q) const;
  // quantile() for each of qs[0..n), sorting the retained values only once. All q are checked
  // before any work is done.
  std::vector<double> quantiles(const double* qs, size_t n) const;

  // Estimated normalized rank of x, as a CDF: the fraction of values <= x (not < x). Exact when
  // is_exact(), 0 below min(), 1 at or above max(). NaN when empty; InvalidInput if x is NaN.
  double rank(double x) const;
  // rank() for each of xs[0..n), sorting the retained values only once; identical results. All x
  // are checked before any work is done.
  std::vector<double> ranks(const double* xs, size_t n) const;

  // Compact little-endian binary form, readable on any platform. Layout (version 1):
  //   0  char[4] magic "SWKL"        4  u16 version = 1           6  u16 reserved = 0
  //   8  u32 k                       12 u32 num_levels L (1..64)  16 u64 count
  //   24 u64 nan_count               32 f64 min (NaN if empty)    40 f64 max (NaN if empty)
  //   48 u64 generator state         56 u32 level_size[L]
  //   then f64 values, level 0 first, then u64 FNV-1a-64 hash of every byte before it.
  // The generator state is included so that a restored sketch continues exactly like the
  // original would have.
  std::vector<uint8_t> serialize() const;
  // Inverse of serialize(). Validates the hash and every structural invariant (sizes, weights
  // summing to count, sorted levels, no NaN, values within [min, max], capacity), so malformed,
  // truncated, trailing-garbage or wrong-version bytes throw CorruptState and never cause
  // undefined behaviour or huge allocations. data may be null only when size == 0.
  static KllSketch deserialize(const uint8_t* data, size_t size);

  // A bound on the normalized rank error of one quantile query, |true rank of quantile(q) / n - q|,
  // that holds with at least 99.9% probability over the sketch's coins, for any input order,
  // including sketches built by merging: 4 / k, e.g. 0.02 for k = 200. Calibrated empirically
  // (see kll.cpp). Throws InvalidInput unless kMinK <= k <= kMaxK.
  static double rank_error_bound(uint32_t k);

 private:
  struct SortedView;

  template <typename T>
  void update_batch(const T* xs, size_t n);
  SortedView sorted_view() const;
  // `cursor`, when given, is where the previous (smaller or equal) q's search ended: queries in
  // ascending order then walk the view once instead of searching it from the start each time.
  double quantile_from(const SortedView& view, double q, size_t* cursor = nullptr) const;
  void add_level();
  void compress_once();
  void compact_level(size_t h);
  bool next_coin();

  uint32_t k_;
  uint64_t rng_state_;
  uint64_t n_ = 0;
  uint64_t nan_count_ = 0;
  // +inf / -inf while empty, so that updates need no emptiness test; the accessors map to NaN.
  double min_;
  double max_;
  // levels_[h] holds values of weight 2^h. Level 0 is unsorted (sorted lazily when compacted);
  // every higher level is kept sorted, so a compaction can merge into it in linear time.
  std::vector<std::vector<double>> levels_;
  std::vector<uint32_t> capacities_;  // per level, for the current number of levels
  size_t retained_ = 0;               // sum of level sizes
  size_t capacity_ = 0;               // sum of capacities_
  std::vector<double> scratch_;       // reused buffers, so compactions do not allocate
  std::vector<double> merged_;
};

}  // namespace seawall::sketch
