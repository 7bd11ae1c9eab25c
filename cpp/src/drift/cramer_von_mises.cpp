// The two-sample Cramér-von Mises test as scipy.stats.cramervonmises_2samp computes it: the
// statistic T from pooled mid-ranks (Anderson 1962), an exact p-value from the distribution of
// U over all lattice paths (Xiao, Gordon and Yakovlev 2006) for small samples, and otherwise the
// limiting distribution after Anderson's normalization of T.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

#include "seawall/drift/numeric.h"
#include "seawall/errors.h"
#include "special_functions_numeric_internal.h"

namespace seawall::drift {
namespace {

// kAuto is exact while both samples have at most this many values (as scipy).
constexpr int64_t kMaxAutoExactN = 20;
// The exact tables hold at most this many (value, count) entries in all; beyond, kExact refuses.
constexpr int64_t kMaxExactEntries = 100'000'000;

using Int128 = __int128;

// One row of the exact recursion: the distinct values of the partial sums of squares g over the
// paths ending at a lattice point, with how many paths give each, sorted by value.
using Table = std::vector<std::pair<int64_t, double>>;

Table merge_tables(const Table& x, const Table& y) {
  Table out;
  out.reserve(x.size() + y.size());
  size_t i = 0, j = 0;
  while (i < x.size() || j < y.size()) {
    if (j >= y.size() || (i < x.size() && x[i].first < y[j].first)) {
      out.push_back(x[i++]);
    } else if (i >= x.size() || y[j].first < x[i].first) {
      out.push_back(y[j++]);
    } else {
      out.emplace_back(x[i].first, x[i].second + y[j].second);
      ++i, ++j;
    }
  }
  return out;
}

// P(U >= u) over all C(m+n, m) equally likely orderings (no ties), by Xiao et al.'s Algorithm 1.
double exact_pvalue(double u, int64_t m, int64_t n) {
  const int64_t g = std::gcd(m, n);
  const int64_t lcm = m / g * n;
  const int64_t a = lcm / m;
  const int64_t b = lcm / n;
  const int64_t mn = m * n;
  const Int128 bound = static_cast<Int128>(lcm) * lcm * (m + n);
  SEAWALL_CHECK(bound < (Int128{1} << 62), "cramervonmises_2samp: method='exact' is not possible ",
                "with sample sizes ", m, " and ", n, "; use method='asymptotic'");
  // The rank statistic U maps to the path statistic zeta (Anderson eq. 9 with Xiao eq. 2),
  // computed in float64 and floor-divided as numpy does, so that ties land on the same side.
  const Int128 mn128 = mn;
  const double zeta = internal::numpy_floor_divide(
      static_cast<double>(bound) * (6 * u - static_cast<double>(mn128 * (4 * mn128 - 1))),
      static_cast<double>(6 * mn128 * mn128));

  std::vector<Table> tables(m + 1);
  tables[0] = {{0, 1.0}};
  int64_t entries = 1;
  for (int64_t col = 0; col <= n; ++col) {
    std::vector<Table> next(m + 1);
    Table running;
    for (int64_t row = 0; row <= m; ++row) {
      running = merge_tables(running, tables[row]);
      const int64_t step = (a * row - b * col) * (a * row - b * col);
      for (auto& entry : running) entry.first += step;
      next[row] = running;
      entries += static_cast<int64_t>(running.size());
      SEAWALL_CHECK(entries <= kMaxExactEntries, "cramervonmises_2samp: method='exact' with ",
                    "sample sizes ", m, " and ", n,
                    " would take too long; use method='asymptotic'");
    }
    tables = std::move(next);
  }
  double tail = 0.0;
  for (const auto& [value, count] : tables[m]) {
    if (static_cast<double>(value) >= zeta) tail += count;
  }
  return tail / internal::binomial(m + n, m);
}

double asymptotic_pvalue(double t, int64_t nx, int64_t ny) {
  const Int128 k = static_cast<Int128>(nx) * ny;
  const Int128 big_n = nx + ny;
  const double n = static_cast<double>(big_n);
  // Mean and variance of T (Anderson eqs. 11 and 14); the variance ratio in exact integers
  // as scipy's Python ints, rounded once.
  const double et = (1 + 1 / n) / 6;
  const Int128 vt_num =
      (big_n + 1) * (4 * k * big_n - 3 * (Int128{nx} * nx + Int128{ny} * ny) - 2 * k);
  const Int128 vt_den = 45 * big_n * big_n * 4 * k;
  const double vt =
      static_cast<double>(static_cast<long double>(vt_num) / static_cast<long double>(vt_den));
  const double tn = 1.0 / 6 + (t - et) / std::sqrt(45 * vt);
  // Below 0.003 the limiting CDF is under 1.3e-18: the p-value is 1.
  if (!(tn >= 0.003)) return 1.0;
  return std::max(1.0 - internal::cramer_von_mises_limit_cdf(tn), 0.0);
}

}  // namespace

CvmResult cramervonmises_2samp(Sample reference, Sample current, CvmMethod method) {
  const internal::SortedSamples s = internal::sorted_samples(
      reference, current, "the Cramér-von Mises test", /*allow_infinite=*/true);
  const internal::SortedSample& x = s.reference;
  const internal::SortedSample& y = s.current;
  const int64_t nx = static_cast<int64_t>(x.size());
  const int64_t ny = static_cast<int64_t>(y.size());
  SEAWALL_CHECK(nx >= 2, "reference has ", nx,
                " value: the Cramér-von Mises test needs at least 2");
  SEAWALL_CHECK(ny >= 2, "current has ", ny, " value: the Cramér-von Mises test needs at least 2");

  // U = nx sum_i (r_i - i)^2 + ny sum_j (s_j - j)^2 with pooled mid-ranks r, s (Anderson eq. 10).
  // Twice a mid-rank is an integer, so 4U is summed exactly in 128-bit integers.
  Int128 sum_x = 0, sum_y = 0;
  size_t i = 0, j = 0;
  int64_t pooled_before = 0;
  while (i < x.size() || j < y.size()) {
    const double v = (j >= y.size() || (i < x.size() && x[i] <= y[j])) ? x[i] : y[j];
    size_t i_end = i, j_end = j;
    while (i_end < x.size() && x[i_end] == v) ++i_end;
    while (j_end < y.size() && y[j_end] == v) ++j_end;
    const int64_t group = static_cast<int64_t>((i_end - i) + (j_end - j));
    const int64_t twice_rank = 2 * pooled_before + group + 1;
    for (size_t p = i; p < i_end; ++p) {
      const Int128 dev = twice_rank - 2 * static_cast<int64_t>(p + 1);
      sum_x += dev * dev;
    }
    for (size_t p = j; p < j_end; ++p) {
      const Int128 dev = twice_rank - 2 * static_cast<int64_t>(p + 1);
      sum_y += dev * dev;
    }
    pooled_before += group;
    i = i_end;
    j = j_end;
  }
  const Int128 four_u = nx * sum_x + ny * sum_y;
  const double u = static_cast<double>(static_cast<long double>(four_u) / 4);
  const Int128 k = static_cast<Int128>(nx) * ny;
  const Int128 n = nx + ny;
  // T = U / (k N) - (4k - 1) / (6N) (Anderson eq. 9); Python divides the exact integers.
  const double t =
      u / static_cast<double>(static_cast<long double>(k * n)) -
      static_cast<double>(static_cast<long double>(4 * k - 1) / static_cast<long double>(6 * n));

  CvmMethod mode = method;
  if (mode == CvmMethod::kAuto) {
    mode = std::max(nx, ny) > kMaxAutoExactN ? CvmMethod::kAsymptotic : CvmMethod::kExact;
  }
  CvmResult r;
  r.statistic = t;
  r.method = mode;
  r.pvalue = mode == CvmMethod::kExact ? exact_pvalue(u, nx, ny) : asymptotic_pvalue(t, nx, ny);
  return r;
}

}  // namespace seawall::drift
