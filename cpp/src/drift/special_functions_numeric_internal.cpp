#include "special_functions_numeric_internal.h"

#include "seawall/core/sort.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "seawall/core/thread_pool.h"
#include "seawall/errors.h"

namespace seawall::drift::internal {
namespace {

constexpr double kPi = 3.14159265358979323846;
// Below this, exp() underflows (cephes MINLOG); scipy's smirnov returns 0 past it.
constexpr double kMinLog = -7.08396418532264106224e2;
// Scaling step of the matrix and recursion methods, which overflow the double range otherwise.
constexpr int kScaleExponent = 128;
const double kScaleUp = std::ldexp(1.0, kScaleExponent);
const double kScaleDown = std::ldexp(1.0, -kScaleExponent);

double clip01(double p) { return std::min(1.0, std::max(0.0, p)); }

// n * x split exactly into floor and fraction: the Smirnov sum's limits and bases depend on
// floor(n x), which a rounded product can get wrong by one.
struct FloorAndFraction {
  int64_t floor;
  double fraction;  // in [0, 1)
};

FloorAndFraction split_product(int64_t n, double x) {
  const double nd = static_cast<double>(n);
  const double p = nd * x;
  const double err = std::fma(nd, x, -p);  // n*x == p + err exactly
  double fl = std::floor(p);
  double frac = (p - fl) + err;
  if (frac < 0) {
    fl -= 1;
    frac += 1;
  }
  if (frac >= 1) {
    fl += 1;
    frac -= 1;
  }
  return {static_cast<int64_t>(fl), frac};
}

// log(n!) - n log n for n > 140 by Stirling's series, as scipy's Ruben-Gambino branch uses.
double log_factorial_over_power(double n) {
  static const double kStirling[] = {-2.955065359477124183e-2,  6.4102564102564102564e-3,
                                     -1.9175269175269175269e-3, 8.4175084175084175084e-4,
                                     -5.952380952380952381e-4,  7.9365079365079365079e-4,
                                     -2.7777777777777777778e-3, 8.3333333333333333333e-2};
  const double rn = 1.0 / n;
  const double t = rn / n;
  double poly = 0.0;
  for (double c : kStirling) poly = poly * t + c;
  return std::log(n) / 2 - n + std::log(2 * kPi) / 2 + rn * poly;
}

using Matrix = std::vector<double>;  // square, row-major

Matrix multiply(const Matrix& a, const Matrix& b, int m) {
  Matrix c(static_cast<size_t>(m) * m, 0.0);
  for (int i = 0; i < m; ++i) {
    for (int k = 0; k < m; ++k) {
      const double aik = a[i * m + k];
      if (aik == 0.0) continue;
      for (int j = 0; j < m; ++j) c[i * m + j] += aik * b[k * m + j];
    }
  }
  return c;
}

// Python's slice [start:stop] of a sequence of length len, as a half-open index range.
void python_slice(int64_t len, int64_t start, int64_t stop, int64_t* lo, int64_t* hi) {
  if (start < 0) start = std::max<int64_t>(start + len, 0);
  if (stop < 0) stop = std::max<int64_t>(stop + len, 0);
  *lo = std::min(start, len);
  *hi = std::max(*lo, std::min(stop, len));
}

void pomeranz_row_limits(int64_t i, int64_t n, int64_t ll, int ceilf, int roundf, int64_t* j1,
                         int64_t* j2) {
  int64_t a;
  int64_t b;
  if (i == 0) {
    a = -ll - ceilf - 1;
    b = ll + ceilf - 1;
  } else {
    const int64_t half = (i + 1) / 2;
    if ((i + 1) % 2 == 0) {  // i odd
      if (half == n + 1) {
        a = n - ll - ceilf - 1;
        b = n + ll + ceilf - 1;
      } else {
        a = half - 1 - ll - roundf - 1;
        b = half + ll - 1 + ceilf - 1;
      }
    } else {
      a = half - 1 - ll - 1;
      b = half + ll + roundf - 1;
    }
  }
  *j1 = std::max<int64_t>(a + 2, 0);
  *j2 = std::min(b, n);
}

// Trapezoid rule on integral_0^inf exp(-x (cosh t - 1)) cosh(nu t) dt = exp(x) K_nu(x). The
// integrand is analytic in the strip |Im t| < pi/2 and decays double-exponentially, so the
// rule converges geometrically in 1/h; h shrinks with sqrt(x) to resolve the peak of width
// 1/sqrt(x) at t = 0 for large x.
double bessel_k_scaled_trapezoid(double nu, double x, double h) {
  double sum = 0.5;  // the t = 0 term, halved
  for (int k = 1; k < 100000; ++k) {
    const double t = k * h;
    const double half_sinh = std::sinh(t / 2);
    const double decay = x * (2 * half_sinh * half_sinh);  // cosh t - 1 without cancellation
    const double term = std::exp(-decay) * std::cosh(nu * t);
    sum += term;
    if (decay > 50.0 + std::abs(nu) * t && term < 1e-18 * sum) break;
  }
  return h * sum;
}

}  // namespace

double numpy_floor_divide(double a, double b) {
  if (b == 0.0) return a / b;
  double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0.0) {
    if ((b < 0) != (mod < 0)) div -= 1.0;
  }
  if (div != 0.0) {
    double floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
    return floordiv;
  }
  return std::copysign(0.0, a / b);
}

double binomial(int64_t n, int64_t k) {
  if (k < 0 || k > n) return 0.0;
  k = std::min(k, n - k);
  if (k < 20) {
    // Exact products of integers while they fit: correctly rounded as scipy's small-k branch.
    long double num = 1.0L;
    long double den = 1.0L;
    for (int64_t i = 1; i <= k; ++i) {
      num *= static_cast<long double>(n - k + i);
      den *= static_cast<long double>(i);
    }
    return static_cast<double>(num / den);
  }
  const long double log_c = std::lgamma(static_cast<long double>(n) + 1) -
                            std::lgamma(static_cast<long double>(k) + 1) -
                            std::lgamma(static_cast<long double>(n - k) + 1);
  if (log_c > 709.8L) return std::numeric_limits<double>::infinity();
  return static_cast<double>(std::exp(log_c));
}

double smirnov_sf(int64_t n, double x) {
  if (!(n > 0 && x >= 0.0 && x <= 1.0)) return std::numeric_limits<double>::quiet_NaN();
  if (n == 1) return 1.0 - x;
  if (x == 0.0) return 1.0;
  if (x == 1.0) return 0.0;
  const FloorAndFraction nx = split_product(n, x);
  const int64_t nxfl = nx.floor;
  const double alpha = nx.fraction;
  const long double nl = static_cast<long double>(n);

  // x <= 1/n: a closed form, x (1 + x)^(n-1) for the CDF.
  if (nxfl == 0 || (nxfl == 1 && alpha == 0)) {
    const long double cdf = x * std::pow(1.0L + x, static_cast<long double>(n - 1));
    return clip01(static_cast<double>(1.0L - cdf));
  }
  if (-2.0 * static_cast<double>(n) * x * x < kMinLog) return 0.0;
  if (nxfl >= n - 1) return clip01(static_cast<double>(std::pow(1.0L - x, nl)));
  if (n > 1000000) {
    // scipy's approximation for huge n: p ~ exp(-(6 n x + 1)^2 / (18 n)).
    const double logp =
        -std::pow(6.0 * static_cast<double>(n) * x + 1, 2) / 18.0 / static_cast<double>(n);
    return clip01(logp < -std::log(2.0) ? std::exp(logp) : 1.0 - (-std::expm1(logp)));
  }

  // Birnbaum-Tingey: sf = x * sum_{v=0}^{floor(n(1-x))} C(n,v) (1-x-v/n)^(n-v) (x+v/n)^(v-1),
  // or cdf = x * the same sum over the upper v, which scipy prefers when it has at most three
  // terms and x is small. Every term is positive, so log-space terms in extended precision
  // keep the sum accurate; the bases come from the exact split n x = nxfl + alpha.
  int64_t upper_ceil = n - nxfl;
  if (alpha == 0) upper_ceil += 1;
  const int64_t upper_terms = n - upper_ceil + 1;
  const bool use_upper =
      (upper_terms <= 1 && x < 0.5) ||
      (n >= 10 && upper_terms <= 3 && x <= 0.5 / std::sqrt(static_cast<double>(n)));
  const long double log_n_factorial = std::lgamma(nl + 1);
  const long double log_n = std::log(nl);
  auto term = [&](int64_t v) -> long double {
    const long double low_base = (static_cast<long double>(n - v - nxfl) - alpha);  // n(1-x)-v
    const long double high_base = (static_cast<long double>(nxfl + v) + alpha);     // n x + v
    if (v == n) return std::pow(high_base / nl, static_cast<long double>(n - 1));
    if (low_base == 0) return 0.0L;
    // Upper-sum terms have a negative base: they alternate in sign.
    const long double sign = (low_base < 0 && (n - v) % 2 == 1) ? -1.0L : 1.0L;
    const long double log_c = log_n_factorial - std::lgamma(static_cast<long double>(v) + 1) -
                              std::lgamma(static_cast<long double>(n - v) + 1);
    const long double log_term =
        log_c + static_cast<long double>(n - v) * (std::log(std::abs(low_base)) - log_n) +
        static_cast<long double>(v - 1) * (std::log(high_base) - log_n);
    return sign * std::exp(log_term);
  };
  long double sum = 0.0L;
  if (use_upper) {
    for (int64_t j = 0; j < upper_terms; ++j) sum += term(n - j);
    return clip01(static_cast<double>(1.0L - x * sum));
  }
  int64_t last = n - nxfl - (alpha == 0 ? 0 : 1);
  if (alpha == 0) last -= 1;
  long double previous = 0.0L;
  for (int64_t v = 0; v <= last; ++v) {
    const long double t = term(v);
    sum += t;
    // Terms are log-concave in v: once past the peak and negligible, the rest is too.
    if (v > 0 && t < previous && t < 1e-21L * sum) break;
    previous = t;
  }
  return clip01(static_cast<double>(x * sum));
}

double kolmogorov_cdf_durbin(int64_t n, double x) {
  if (x >= 1.0) return 1.0;
  const double nd = static_cast<double>(n) * x;
  if (nd <= 0.5) return 0.0;
  const int k = static_cast<int>(std::ceil(nd));
  const double h = k - nd;
  const int m = 2 * k - 1;

  std::vector<double> v(m);
  std::vector<double> w(m);
  double fac = 1.0;
  for (int j = 1; j <= m; ++j) {
    w[j - 1] = fac;
    fac /= j;
    v[j - 1] = (1.0 - std::pow(h, j)) * fac;
  }
  const double tt = std::pow(std::max(2 * h - 1.0, 0.0), m) - 2 * std::pow(h, m);
  v[m - 1] = (1.0 + tt) * fac;

  Matrix H(static_cast<size_t>(m) * m, 0.0);
  for (int c = 1; c < m; ++c) {
    for (int r = c - 1; r < m; ++r) H[r * m + c] = w[r - c + 1];
  }
  for (int r = 0; r < m; ++r) H[r * m] = v[r];
  for (int c = 0; c < m; ++c) H[(m - 1) * m + c] = v[m - 1 - c];

  Matrix power(static_cast<size_t>(m) * m, 0.0);
  for (int i = 0; i < m; ++i) power[i * m + i] = 1.0;
  int64_t exponent = 0;    // power holds H^e * 2^-exponent
  int64_t h_exponent = 0;  // H holds the current square * 2^-h_exponent
  for (int64_t e = n; e > 0; e /= 2) {
    if (e % 2) {
      power = multiply(power, H, m);
      exponent += h_exponent;
    }
    H = multiply(H, H, m);
    h_exponent *= 2;
    if (std::abs(H[(k - 1) * m + (k - 1)]) > kScaleUp) {
      for (double& e2 : H) e2 *= kScaleDown;
      h_exponent += kScaleExponent;
    }
  }
  double p = power[(k - 1) * m + (k - 1)];
  for (int64_t i = 1; i <= n; ++i) {
    p = static_cast<double>(i) * p / static_cast<double>(n);
    if (std::abs(p) < kScaleDown) {
      p *= kScaleUp;
      exponent -= kScaleExponent;
    }
  }
  if (exponent != 0) p = std::ldexp(p, static_cast<int>(exponent));
  return clip01(p);
}

double kolmogorov_cdf_pomeranz(int64_t n, double x) {
  const double t = static_cast<double>(n) * x;
  const int64_t ll = static_cast<int64_t>(std::floor(t));
  const double f = t - static_cast<double>(ll);
  const double g = std::min(f, 1.0 - f);
  const int ceilf = f > 0 ? 1 : 0;
  const int roundf = f > 0.5 ? 1 : 0;
  const int64_t npwrs = 2 * (ll + 1);
  // (g/n)^m/m!, (2g/n)^m/m!, ((1-2g)/n)^m/m!: the convolution kernels of the three row kinds.
  std::vector<double> gpower(npwrs), twogpower(npwrs), onem2gpower(npwrs);
  gpower[0] = twogpower[0] = onem2gpower[0] = 1.0;
  const double dn = static_cast<double>(n);
  const double g_n = g / dn, two_g_n = 2 * g / dn, one_minus_two_g_n = (1 - 2 * g) / dn;
  for (int64_t m = 1; m < npwrs; ++m) {
    gpower[m] = gpower[m - 1] * g_n / static_cast<double>(m);
    twogpower[m] = twogpower[m - 1] * two_g_n / static_cast<double>(m);
    onem2gpower[m] = onem2gpower[m - 1] * one_minus_two_g_n / static_cast<double>(m);
  }
  std::vector<double> row0(npwrs, 0.0), row1(npwrs, 0.0), conv;
  row1[0] = 1.0;
  int64_t start0 = 0, start1 = 0;
  int64_t exponent = 0;
  int64_t j1, j2;
  pomeranz_row_limits(0, n, ll, ceilf, roundf, &j1, &j2);
  for (int64_t i = 1; i < 2 * n + 2; ++i) {
    const int64_t k1 = j1;
    std::swap(row0, row1);
    std::swap(start0, start1);
    std::fill(row1.begin(), row1.end(), 0.0);
    pomeranz_row_limits(i, n, ll, ceilf, roundf, &j1, &j2);
    const std::vector<double>& pwrs =
        (i == 1 || i == 2 * n + 1) ? gpower : (i % 2 ? twogpower : onem2gpower);
    const int64_t ln2 = j2 - k1 + 1;
    if (ln2 <= 0) continue;
    int64_t a_lo, a_hi, b_lo, b_hi;
    python_slice(npwrs, k1 - start0, k1 - start0 + ln2, &a_lo, &a_hi);
    python_slice(npwrs, 0, ln2, &b_lo, &b_hi);
    const int64_t na = a_hi - a_lo, nb = b_hi - b_lo;
    if (na == 0 || nb == 0) {
      conv.clear();
    } else {
      conv.assign(na + nb - 1, 0.0);
      for (int64_t p = 0; p < na; ++p) {
        for (int64_t q = 0; q < nb; ++q) conv[p + q] += row0[a_lo + p] * pwrs[b_lo + q];
      }
    }
    const int64_t conv_start = j1 - k1;
    const int64_t conv_len = j2 - j1 + 1;
    int64_t c_lo, c_hi, d_lo, d_hi;
    python_slice(static_cast<int64_t>(conv.size()), conv_start, conv_start + conv_len, &c_lo,
                 &c_hi);
    python_slice(npwrs, 0, conv_len, &d_lo, &d_hi);
    const int64_t copy = std::min(c_hi - c_lo, d_hi - d_lo);
    for (int64_t q = 0; q < copy; ++q) row1[d_lo + q] = conv[c_lo + q];
    const double top = *std::max_element(row1.begin(), row1.end());
    if (0 < top && top < kScaleDown) {
      for (double& e : row1) e *= kScaleUp;
      exponent -= kScaleExponent;
    }
    start1 = start0 + j1 - k1;
  }
  const int64_t at = n - start1;
  double ans = (at >= 0 && at < npwrs) ? row1[at] : 0.0;
  for (int64_t m = 1; m <= n; ++m) {
    if (std::abs(ans) > kScaleUp) {
      ans *= kScaleDown;
      exponent += kScaleExponent;
    }
    ans *= static_cast<double>(m);
  }
  if (exponent != 0) ans = std::ldexp(ans, static_cast<int>(exponent));
  return clip01(ans);
}

double kolmogorov_cdf_pelz_good(int64_t n, double x) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  const double pi2 = kPi * kPi, pi4 = pi2 * pi2, pi6 = pi4 * pi2;
  const double z = std::sqrt(static_cast<double>(n)) * x;
  const double z2 = z * z, z3 = z2 * z, z4 = z2 * z2, z6 = z4 * z2;
  const double qlog = -pi2 / 8 / z2;
  if (qlog < -708) return 0.0;
  double q = std::exp(qlog);

  const double k1a = -z2, k1b = pi2 / 4;
  const double k2a = 6 * z6 + 2 * z4, k2b = (2 * z4 - 5 * z2) * pi2 / 4,
               k2c = pi4 * (1 - 2 * z2) / 16;
  const double k3d = pi6 * (5 - 30 * z2) / 64, k3c = pi4 * (-60 * z2 + 212 * z4) / 16,
               k3b = pi2 * (135 * z4 - 96 * z6) / 4, k3a = -30 * z6 - 90 * std::pow(z, 8);

  double K[4] = {0, 0, 0, 0};
  const int64_t maxk = static_cast<int64_t>(std::ceil(16 * z / kPi));
  for (int64_t k = maxk; k > 0; --k) {
    const double m = static_cast<double>(2 * k - 1);
    const double m2 = m * m, m4 = m2 * m2, m6 = m4 * m2;
    const double qpower = std::pow(q, static_cast<double>(8 * k));
    const double coeffs[4] = {1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4,
                              k3a + k3b * m2 + k3c * m4 + k3d * m6};
    for (int i = 0; i < 4; ++i) K[i] = K[i] * qpower + coeffs[i];
  }
  const double sqrt2pi = std::sqrt(2 * kPi);
  const double denom[4] = {z, 6 * z4, 72 * std::pow(z, 7), 6480 * std::pow(z, 10)};
  for (int i = 0; i < 4; ++i) K[i] = K[i] * q * sqrt2pi / denom[i];

  q = std::exp(-pi2 / 2 / z2);
  const double sqrt3z = std::sqrt(3.0) * z;
  double k2extra = 0.0, k3extra = 0.0;
  for (int64_t k = maxk; k > 0; --k) {
    const double kk = static_cast<double>(k) * static_cast<double>(k);
    const double qp = std::pow(q, kk);
    const double kpi = kPi * static_cast<double>(k);
    k2extra += kk * qp;
    k3extra += (sqrt3z + kpi) * (sqrt3z - kpi) * kk * qp;
  }
  K[2] += k2extra * pi2 * sqrt2pi / (-36 * z3);
  K[3] += k3extra * pi2 * sqrt2pi / (216 * z6);
  double total = 0.0;
  for (int i = 0; i < 4; ++i) total += K[i] / std::pow(static_cast<double>(n), i / 2.0);
  return total;
}

double kolmogorov_sf(int64_t n, double x) {
  if (n <= 0 || std::isnan(x)) return std::numeric_limits<double>::quiet_NaN();
  if (x >= 1.0) return 0.0;
  if (x <= 0.0) return 1.0;
  const double dn = static_cast<double>(n);
  const double t = dn * x;
  if (t <= 1.0) {
    // Ruben and Gambino's closed form for 1/(2n) <= x <= 1/n: cdf = n! (2t - 1)^n / n^n.
    if (t <= 0.5) return 1.0;
    double cdf;
    if (n <= 140) {
      cdf = 1.0;
      for (int64_t i = 1; i <= n; ++i) cdf *= static_cast<double>(i) * (1.0 / dn) * (2 * t - 1);
    } else {
      cdf = std::exp(log_factorial_over_power(dn) + dn * std::log(2 * t - 1));
    }
    return clip01(1.0 - cdf);
  }
  if (t >= dn - 1) return clip01(2 * std::pow(1.0 - x, dn));
  if (x >= 0.5) return clip01(2 * smirnov_sf(n, x));  // the two one-sided tails cannot overlap
  const double nxx = t * x;
  if (n <= 140) {
    if (nxx <= 0.754693) return clip01(1.0 - kolmogorov_cdf_durbin(n, x));
    if (nxx <= 4) return clip01(1.0 - kolmogorov_cdf_pomeranz(n, x));
    return clip01(2 * smirnov_sf(n, x));
  }
  if (nxx >= 370.0) return 0.0;
  if (nxx >= 2.2) return clip01(2 * smirnov_sf(n, x));
  double cdf;
  if (n <= 100000 && dn * std::pow(x, 1.5) <= 1.4) {
    cdf = kolmogorov_cdf_durbin(n, x);
  } else {
    cdf = kolmogorov_cdf_pelz_good(n, x);
  }
  return clip01(1.0 - clip01(cdf));
}

double bessel_k_scaled(double nu, double x) {
  if (!(x > 0)) return std::numeric_limits<double>::quiet_NaN();
  if (std::isinf(x)) return 0.0;
  const double h = std::min(0.1, 0.5 / std::sqrt(x));
  return bessel_k_scaled_trapezoid(nu, x, h);
}

double cramer_von_mises_limit_cdf(double x) {
  // Csörgő and Faraway (1996), eq. 1.2 as a series in k (second line of their eq. 1.3):
  // term_k = Gamma(k+1/2)/(Gamma(k+1) pi^1.5 sqrt(x)) sqrt(4k+1) exp(-q) K_{1/4}(q),
  // q = (4k+1)^2 / (16x). scipy stops after the first term below 1e-7; so do we, so that both
  // sum the same terms.
  if (!(x > 0)) return 0.0;
  const double pi_1_5 = std::pow(kPi, 1.5);
  double total = 0.0;
  for (int k = 0; k < 100000; ++k) {
    const double u =
        std::exp(std::lgamma(k + 0.5) - std::lgamma(k + 1.0)) / (pi_1_5 * std::sqrt(x));
    const double y = 4.0 * k + 1;
    const double q = y * y / (16 * x);
    // exp(-q) K(q) = exp(-2q) * (exp(q) K(q)): no overflow of the scaled form.
    const double z = u * std::sqrt(y) * std::exp(-2 * q) * bessel_k_scaled(0.25, q);
    total += z;
    if (std::abs(z) < 1e-7) break;
  }
  return total;
}

}  // namespace seawall::drift::internal

namespace seawall::drift::internal {
namespace {

// Checks `sample` and returns whether it is already in ascending order.
bool check_sample(Sample sample, const char* name, const char* statistic, bool allow_infinite) {
  SEAWALL_CHECK(sample.size > 0, name, " is empty: ", statistic, " needs at least one value");
  SEAWALL_CHECK(sample.data != nullptr, name, " has no data");
  const double* x = sample.data;
  int64_t nan_count = 0;
  int64_t first_nan = -1;
  int64_t first_inf = -1;
  int64_t descents = 0;
  for (int64_t i = 0; i < sample.size; ++i) {
    descents += i > 0 && x[i] < x[i - 1];
    if (std::isnan(x[i])) {
      if (nan_count++ == 0) first_nan = i;
    } else if (std::isinf(x[i]) && first_inf < 0) {
      first_inf = i;
    }
  }
  SEAWALL_CHECK(nan_count == 0, name, " has ", nan_count, " NaN value", nan_count == 1 ? "" : "s",
                ", the first at index ", first_nan, ": drop or impute missing values first");
  SEAWALL_CHECK(allow_infinite || first_inf < 0, name, " has an infinite value at index ",
                first_inf, ": ", statistic, " is not defined for infinite values");
  return descents == 0;
}

}  // namespace

SortedSamples sorted_samples(Sample reference, Sample current, const char* statistic,
                             bool allow_infinite) {
  SortedSamples s;
  const Sample in[2] = {reference, current};
  SortedSample* out[2] = {&s.reference, &s.current};
  bool sorted[2];
  for (int k = 0; k < 2; ++k) {
    sorted[k] = check_sample(in[k], k == 0 ? "reference" : "current", statistic, allow_infinite);
    out[k]->size_ = static_cast<size_t>(in[k].size);
    out[k]->data_ = in[k].data;
  }
  // Two independent sorts: one each on the pool when the samples are large enough to matter.
  const int64_t grain = reference.size + current.size > 100000 ? 1 : 2;
  parallel_for(2, grain, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      if (sorted[k]) continue;
      std::vector<double>& v = out[k]->owned_;
      v.assign(in[k].data, in[k].data + in[k].size);
      sort_doubles(v);
      out[k]->data_ = v.data();
    }
  });
  return s;
}

}  // namespace seawall::drift::internal
