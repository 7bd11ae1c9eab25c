// Two-sample drift statistics for numeric data: Kolmogorov-Smirnov, Cramér-von Mises,
// Wasserstein and energy distances between a reference sample and a current one. Each matches
// the scipy.stats function of the same name (unweighted) on the same float64 input, p-value
// included; the .cpp files say where and why they differ in edge cases.
//
// All of them sort copies of the samples, so they cost O(n log n) and never modify the input.
// Caller errors throw seawall::InvalidInput naming the argument: an empty sample, a NaN (drop or
// impute missing values first), an infinity where the statistic is undefined.
#pragma once

#include <cstdint>

namespace seawall::drift {

// A borrowed, contiguous sample of float64 values.
struct Sample {
  const double* data = nullptr;
  int64_t size = 0;
};

enum class KsAlternative {
  kTwoSided,
  kLess,     // the reference's CDF lies below the current's somewhere: statistic max(F_cur - F_ref)
  kGreater,  // statistic max(F_ref - F_cur)
};

enum class KsMethod { kAuto, kExact, kAsymptotic };

// Why the KS p-value is asymptotic although an exact one was wanted; scipy warns in both cases.
enum class KsFallback {
  kNone,
  kSizesTooLarge,  // method kExact, but lcm(n_ref, n_cur) does not fit the exact computation
  kExactFailed,    // the exact computation overflowed (one-sided, unequal sizes above ~1000)
};

struct KsResult {
  double statistic = 0;  // the maximum CDF difference D
  double pvalue = 1;
  double statistic_location = 0;       // the value at which D is attained
  int statistic_sign = 1;              // +1: F_ref - F_cur attains D there; -1: F_cur - F_ref does
  KsMethod method = KsMethod::kExact;  // the method that gave the p-value (never kAuto)
  KsFallback fallback = KsFallback::kNone;
};

// scipy.stats.ks_2samp(reference, current, alternative, method). Infinities are allowed (the
// test only ranks values). kAuto is exact when both sizes are at most 10000.
KsResult ks_2samp(Sample reference, Sample current,
                  KsAlternative alternative = KsAlternative::kTwoSided,
                  KsMethod method = KsMethod::kAuto);

enum class CvmMethod { kAuto, kExact, kAsymptotic };

struct CvmResult {
  double statistic = 0;  // T (Anderson 1962, eq. 9)
  double pvalue = 1;
  CvmMethod method = CvmMethod::kExact;  // the method that gave the p-value (never kAuto)
};

// scipy.stats.cramervonmises_2samp(reference, current, method). Each sample needs at least two
// values (scipy returns NaN below that; this throws). Infinities are allowed (ranks only). kAuto
// is exact when both sizes are at most 20. kExact on large samples throws rather than running
// for hours: its tables grow with lcm(n_ref, n_cur)^2.
CvmResult cramervonmises_2samp(Sample reference, Sample current,
                               CvmMethod method = CvmMethod::kAuto);

// scipy.stats.wasserstein_distance(reference, current): the area between the two empirical
// CDFs. Infinities throw (the distance is infinite or undefined; scipy returns NaN).
double wasserstein_distance(Sample reference, Sample current);

// wasserstein_distance divided by the reference's population standard deviation (ddof 0), so
// that it is scale-free: Evidently's default drift measure for large numeric columns. A constant
// reference throws (Evidently divides by max(std, 0.001) instead, which depends on the units).
double wasserstein_distance_norm(Sample reference, Sample current);

// scipy.stats.energy_distance(reference, current) = sqrt(2) * the L2 distance between the CDFs.
// Infinities throw.
double energy_distance(Sample reference, Sample current);

}  // namespace seawall::drift
