// The two-sample Kolmogorov-Smirnov test, as scipy.stats.ks_2samp decides and computes it:
// exact lattice-path p-values (Hodges 1958; Viehmann 2021 for the two-sided unequal case) up to
// 10000 values a side, Smirnov's asymptotics (the finite-n kstwo distribution) beyond that.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "seawall/drift/numeric.h"
#include "seawall/errors.h"
#include "special_functions_numeric_internal.h"

namespace seawall::drift {
namespace {

// Above this size a side, kAuto goes asymptotic (scipy's MAX_AUTO_N).
constexpr int64_t kMaxAutoN = 10000;

int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// P(D_{n,n} >= h/n), two-sided, equal sizes: 2 (A0 - A0 A1 + A0 A1 A2 - ...) in Horner form,
// each A_k a ratio of binomials built from h small factors so that nothing overflows.
double prob_outside_square(int64_t n, int64_t h) {
  double p = 0.0;
  for (int64_t k = static_cast<int64_t>(std::floor(static_cast<double>(n) / h)); k >= 0; --k) {
    double ratio = 1.0;
    for (int64_t j = 0; j < h; ++j) {
      ratio = static_cast<double>(n - k * h - j) * ratio / static_cast<double>(n + k * h + j + 1);
    }
    p = ratio * (1.0 - p);
  }
  return 2 * p;
}

// P(D_{m,n} >= h/lcm), two-sided, unequal sizes: the share of lattice paths leaving the band
// |x/m - y/n| < h/lcm, by a column recursion on 1 - (paths inside) that stays in [0, 1].
double prob_outside_band(int64_t m, int64_t n, int64_t g, int64_t h) {
  if (m < n) std::swap(m, n);
  const int64_t mg = m / g;
  const int64_t ng = n / g;
  int64_t minj = 0;
  int64_t maxj = std::min(static_cast<int64_t>(std::ceil(static_cast<double>(h) / mg)), n + 1);
  int64_t curlen = maxj - minj;
  const int64_t len = std::min(2 * maxj + 2, n + 1);
  std::vector<double> a(len, 1.0);
  std::fill(a.begin() + minj, a.begin() + std::min(maxj, len), 0.0);
  for (int64_t i = 1; i <= m; ++i) {
    const int64_t lastminj = minj;
    const int64_t lastlen = curlen;
    minj = std::max(static_cast<int64_t>(std::floor(static_cast<double>(ng * i - h) / mg)) + 1,
                    int64_t{0});
    minj = std::min(minj, n);
    maxj = std::min(static_cast<int64_t>(std::ceil(static_cast<double>(ng * i + h) / mg)), n + 1);
    if (maxj <= minj) return 1.0;
    double val = minj == 0 ? 0.0 : 1.0;
    const double di = static_cast<double>(i);
    for (int64_t jj = 0; jj < maxj - minj; ++jj) {
      const int64_t j = jj + minj;
      val = (a[jj + minj - lastminj] * di + val * static_cast<double>(j)) /
            (di + static_cast<double>(j));
      a[jj] = val;
    }
    curlen = maxj - minj;
    if (lastlen > curlen) {
      const int64_t end = std::min(maxj - minj + (lastlen - curlen), len);
      std::fill(a.begin() + (maxj - minj), a.begin() + end, 1.0);
    }
  }
  return a[maxj - minj - 1];
}

// Number of lattice paths from (0,0) to (m,n) that touch m y <= n x - h g (one-sided), by
// Hodges' first-passage decomposition. Returns false when a double overflows on the way, as
// scipy (errstate over='raise') then gives up on the exact p-value.
bool count_paths_outside(int64_t m, int64_t n, int64_t g, int64_t h, double* count) {
  if (m < n) std::swap(m, n);
  const int64_t mg = m / g;
  const int64_t ng = n / g;
  const int64_t lxj = n + floor_div(mg - h, mg);
  if (lxj <= 0) {
    *count = internal::binomial(m + n, n);
    return std::isfinite(*count);
  }
  std::vector<int64_t> xj(lxj);
  for (int64_t j = 0; j < lxj; ++j) xj[j] = floor_div(h + mg * j + ng - 1, ng);
  std::vector<double> first_passages(lxj, 0.0);  // paths reaching (xj[j], j) first there
  first_passages[0] = 1.0;
  for (int64_t j = 1; j < lxj; ++j) {
    double bj = internal::binomial(xj[j] + j, j);
    for (int64_t i = 0; i < j; ++i) {
      bj -= internal::binomial(xj[j] - xj[i] + j - i, j - i) * first_passages[i];
    }
    if (!std::isfinite(bj)) return false;
    first_passages[j] = bj;
  }
  double total = 0.0;
  for (int64_t j = 0; j < lxj; ++j) {
    total += first_passages[j] * internal::binomial((m - xj[j]) + (n - j), n - j);
  }
  if (!std::isfinite(total)) return false;
  *count = total;
  return true;
}

struct ExactAttempt {
  bool ok;
  double statistic;  // D rounded to the lattice, h / lcm
  double pvalue;
};

ExactAttempt attempt_exact(int64_t n1, int64_t n2, int64_t g, double d, KsAlternative alternative) {
  const int64_t lcm = (n1 / g) * n2;
  const int64_t h = static_cast<int64_t>(std::nearbyint(d * static_cast<double>(lcm)));
  const double statistic = static_cast<double>(h) / static_cast<double>(lcm);
  if (h == 0) return {true, statistic, 1.0};
  double prob = std::numeric_limits<double>::quiet_NaN();
  if (alternative == KsAlternative::kTwoSided) {
    prob = n1 == n2 ? prob_outside_square(n1, h) : prob_outside_band(n1, n2, g, h);
  } else if (n1 == n2) {
    // binom(2n, n-h) / binom(2n, n) as a product of h ratios, which never overflows.
    prob = 1.0;
    for (int64_t j = 0; j < h; ++j) {
      prob *= static_cast<double>(n1 - j) / (static_cast<double>(n1 + j) + 1.0);
    }
  } else {
    // Every binomial below is at most this one: if it fits, no single factor overflows.
    const double all_paths = internal::binomial(n1 + n2, n1);
    double outside = 0.0;
    if (!std::isfinite(all_paths) || !count_paths_outside(n1, n2, g, h, &outside) ||
        outside > all_paths) {
      return {false, statistic, std::numeric_limits<double>::quiet_NaN()};
    }
    prob = outside / all_paths;
  }
  if (!(prob >= 0.0 && prob <= 1.0)) return {false, statistic, prob};
  return {true, statistic, prob};
}

double asymptotic_pvalue(int64_t n1, int64_t n2, double d, KsAlternative alternative) {
  const double m = static_cast<double>(std::max(n1, n2));
  const double n = static_cast<double>(std::min(n1, n2));
  const double en = m * n / (m + n);
  if (alternative == KsAlternative::kTwoSided) {
    // scipy rounds half to even here (np.round); 1 and 1 would give an effective size of 0.
    const double rounded = std::nearbyint(en);
    SEAWALL_CHECK(
        rounded >= 1, "ks_2samp: method='asymp' needs more than one value in ",
        "reference or current (the effective sample size rounds to 0); use method='exact'");
    return internal::kolmogorov_sf(static_cast<int64_t>(rounded), d);
  }
  // Hodges' approximation (his eq. 5.3), which needs m to be the larger size.
  const double z = std::sqrt(en) * d;
  const double expt = -2 * z * z - 2 * z * (m + 2 * n) / std::sqrt(m * n * (m + n)) / 3.0;
  return std::exp(expt);
}

}  // namespace

KsResult ks_2samp(Sample reference, Sample current, KsAlternative alternative, KsMethod method) {
  const internal::SortedSamples s =
      internal::sorted_samples(reference, current, "the KS test", /*allow_infinite=*/true);
  const internal::SortedSample& a = s.reference;
  const internal::SortedSample& b = s.current;
  const int64_t n1 = static_cast<int64_t>(a.size());
  const int64_t n2 = static_cast<int64_t>(b.size());
  const double dn1 = static_cast<double>(n1);
  const double dn2 = static_cast<double>(n2);

  // F_ref(v) - F_cur(v) at each distinct pooled value v. scipy evaluates it at every element of
  // concat(sorted ref, sorted cur) and takes the first arg-extremum: the smallest reference value
  // attaining it, else the smallest current value.
  double max_diff = -std::numeric_limits<double>::infinity();
  double min_diff = std::numeric_limits<double>::infinity();
  struct Extremum {
    bool in_ref = false, in_cur = false;
    double ref_at = 0, cur_at = 0;
  };
  auto scan = [&](auto&& visit) {
    size_t i = 0, j = 0;
    while (i < a.size() || j < b.size()) {
      const double v = (j >= b.size() || (i < a.size() && a[i] <= b[j])) ? a[i] : b[j];
      const bool has_ref = i < a.size() && a[i] == v;
      const bool has_cur = j < b.size() && b[j] == v;
      while (i < a.size() && a[i] == v) ++i;
      while (j < b.size() && b[j] == v) ++j;
      visit(v, static_cast<double>(i) / dn1 - static_cast<double>(j) / dn2, has_ref, has_cur);
    }
  };
  scan([&](double, double diff, bool, bool) {
    max_diff = std::max(max_diff, diff);
    min_diff = std::min(min_diff, diff);
  });
  Extremum at_max, at_min;
  scan([&](double v, double diff, bool has_ref, bool has_cur) {
    for (auto [target, ext] :
         {std::pair<double, Extremum*>{max_diff, &at_max}, {min_diff, &at_min}}) {
      if (diff != target) continue;
      if (has_ref && !ext->in_ref) ext->in_ref = true, ext->ref_at = v;
      if (has_cur && !ext->in_cur) ext->in_cur = true, ext->cur_at = v;
    }
  });
  const double loc_max = at_max.in_ref ? at_max.ref_at : at_max.cur_at;
  const double loc_min = at_min.in_ref ? at_min.ref_at : at_min.cur_at;
  const double min_s = std::min(1.0, std::max(0.0, -min_diff));
  const double max_s = max_diff;

  KsResult r;
  double d;
  if (alternative == KsAlternative::kLess ||
      (alternative == KsAlternative::kTwoSided && min_s > max_s)) {
    d = min_s;
    r.statistic_location = loc_min;
    r.statistic_sign = -1;
  } else {
    d = max_s;
    r.statistic_location = loc_max;
    r.statistic_sign = 1;
  }

  const int64_t g = std::gcd(n1, n2);
  const int64_t n1g = n1 / g;
  const int64_t n2g = n2 / g;
  KsMethod mode = method;
  if (mode == KsMethod::kAuto) {
    mode = std::max(n1, n2) <= kMaxAutoN ? KsMethod::kExact : KsMethod::kAsymptotic;
  } else if (mode == KsMethod::kExact &&
             static_cast<double>(n1g) >=
                 static_cast<double>(std::numeric_limits<int32_t>::max()) / n2g) {
    mode = KsMethod::kAsymptotic;
    r.fallback = KsFallback::kSizesTooLarge;
  }
  double prob = 0.0;
  if (mode == KsMethod::kExact) {
    const ExactAttempt e = attempt_exact(n1, n2, g, d, alternative);
    d = e.statistic;
    prob = e.pvalue;
    if (!e.ok) {
      mode = KsMethod::kAsymptotic;
      r.fallback = KsFallback::kExactFailed;
    }
  }
  if (mode == KsMethod::kAsymptotic) prob = asymptotic_pvalue(n1, n2, d, alternative);
  r.statistic = d;
  r.pvalue = std::min(1.0, std::max(0.0, prob));
  r.method = mode;
  return r;
}

}  // namespace seawall::drift
