#include <algorithm>
#include <cmath>
#include <cstring>

#include "seawall/errors.h"
#include "seawall/transforms/program.h"

namespace seawall::transforms {

namespace {

// numpy's 'linear' quantile on sorted data, with numpy's own lerp so results match it bit for bit.
double linear_quantile(const std::vector<double>& sorted, double q) {
  const int64_t n = static_cast<int64_t>(sorted.size());
  if (n == 0) return std::nan("");
  const double h = static_cast<double>(n - 1) * q;
  const double lo_f = std::floor(h);
  const int64_t lo = std::min<int64_t>(static_cast<int64_t>(lo_f), n - 1);
  const int64_t hi = std::min<int64_t>(lo + 1, n - 1);
  const double t = h - lo_f;
  const double a = sorted[lo];
  const double b = sorted[hi];
  const double diff = b - a;
  return t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
}

// Puts into place the order statistics that linear_quantile reads for `qs` (positions lo and
// lo + 1 of each), as a full sort would. For a few quantiles, successive selections over the
// shrinking part above the last placed position cost O(n) each instead of O(n log n); for many,
// one sort is cheaper.
void place_order_statistics(std::vector<double>& values, const std::vector<double>& qs) {
  const int64_t n = static_cast<int64_t>(values.size());
  if (n < 2) return;
  std::vector<int64_t> ranks;
  for (double q : qs) {
    const int64_t lo = std::min<int64_t>(static_cast<int64_t>(std::floor(static_cast<double>(n - 1) * q)), n - 1);
    ranks.push_back(lo);
    ranks.push_back(std::min<int64_t>(lo + 1, n - 1));
  }
  std::sort(ranks.begin(), ranks.end());
  ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());
  constexpr size_t kMaxSelections = 8;
  if (ranks.size() > kMaxSelections) {
    std::sort(values.begin(), values.end());
    return;
  }
  auto first = values.begin();
  for (const int64_t r : ranks) {
    // Everything before `first` is already no greater than what lies from it on.
    std::nth_element(first, values.begin() + r, values.end());
    first = values.begin() + r + 1;
  }
}

uint64_t number_key(double x) {
  if (x == 0.0) x = 0.0;  // -0 and +0 are one value
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}

}  // namespace

FitState::FitState(const CollectSpec& spec) : spec_(spec) {
  if (spec.quantiles == CollectSpec::Quantiles::kSketch) sketch_.emplace(spec.sketch_k);
}

void FitState::add_numbers(const double* v, int64_t n) {
  if (n <= 0) return;
  if (spec_.moments) {
    // Two passes over the block (stable), then Chan's merge into the running moments.
    double sum = 0.0;
    double lo = min, hi = max;
    for (int64_t i = 0; i < n; ++i) {
      sum += v[i];
      lo = std::min(lo, v[i]);
      hi = std::max(hi, v[i]);
    }
    const double block_mean = sum / static_cast<double>(n);
    double block_m2 = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      const double d = v[i] - block_mean;
      block_m2 += d * d;
    }
    const int64_t total = count + n;
    const double delta = block_mean - mean;
    mean += delta * (static_cast<double>(n) / static_cast<double>(total));
    m2 += block_m2 + delta * delta * (static_cast<double>(count) * static_cast<double>(n) /
                                      static_cast<double>(total));
    count = total;
    min = lo;
    max = hi;
  } else {
    count += n;
  }
  if (sketch_) sketch_->update(v, static_cast<size_t>(n));
  if (spec_.quantiles == CollectSpec::Quantiles::kExact) exact_.insert(exact_.end(), v, v + n);
  if (spec_.number_counts) {
    for (int64_t i = 0; i < n; ++i) ++number_counts_[number_key(v[i])];
  }
}

void FitState::add_string(std::string_view s, int64_t times) {
  count += times;
  count_string(s, times);
}

void FitState::count_string(std::string_view s, int64_t times) {
  const int64_t id = strings_.insert(s);
  if (id == static_cast<int64_t>(string_counts_.size())) string_counts_.push_back(0);
  string_counts_[id] += times;
}

void FitState::merge(const FitState& other) {
  rows += other.rows;
  missing += other.missing;
  if (spec_.moments && other.count > 0) {
    if (count == 0) {
      mean = other.mean;
      m2 = other.m2;
    } else {
      const int64_t total = count + other.count;
      const double delta = other.mean - mean;
      mean += delta * (static_cast<double>(other.count) / static_cast<double>(total));
      m2 += other.m2 + delta * delta * (static_cast<double>(count) * static_cast<double>(other.count) /
                                        static_cast<double>(total));
    }
    min = std::min(min, other.min);
    max = std::max(max, other.max);
  }
  count += other.count;
  if (sketch_ && other.sketch_) sketch_->merge(*other.sketch_);
  exact_.insert(exact_.end(), other.exact_.begin(), other.exact_.end());
  for (const auto& [key, c] : other.number_counts_) number_counts_[key] += c;
  for (int64_t id = 0; id < other.strings_.size(); ++id) {
    count_string(other.strings_.key(id), other.string_counts_[id]);
  }
}

std::vector<double> FitState::quantiles(const std::vector<double>& qs) const {
  for (double q : qs) SEAWALL_CHECK(q >= 0.0 && q <= 1.0, "quantile ", q, " is outside [0, 1]");
  std::vector<double> out;
  out.reserve(qs.size());
  if (spec_.quantiles == CollectSpec::Quantiles::kExact) {
    std::vector<double> values = exact_;
    place_order_statistics(values, qs);
    for (double q : qs) out.push_back(linear_quantile(values, q));
  } else if (sketch_) {
    out = sketch_->quantiles(qs.data(), qs.size());
  } else {
    throw InvalidInput("quantiles were not collected for this column");
  }
  return out;
}

double FitState::most_frequent_number() const {
  double best = std::nan("");
  int64_t best_count = 0;
  for (const auto& [key, c] : number_counts_) {
    double x;
    std::memcpy(&x, &key, sizeof x);
    if (c > best_count || (c == best_count && x < best)) {
      best = x;
      best_count = c;
    }
  }
  return best;
}

std::vector<std::pair<std::string, int64_t>> FitState::string_counts() const {
  std::vector<std::pair<std::string, int64_t>> out;
  out.reserve(strings_.size());
  for (int64_t id = 0; id < strings_.size(); ++id) {
    out.emplace_back(std::string(strings_.key(id)), string_counts_[id]);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  return out;
}

}  // namespace seawall::transforms
