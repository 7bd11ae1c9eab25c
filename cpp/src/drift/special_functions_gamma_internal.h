// Survival functions behind the p-values of the categorical drift tests: the regularized
// incomplete gamma functions (chi-square) and the normal tail. Private to the drift kernels; the
// bindings expose them only so tests can compare them with scipy.
#pragma once

namespace seawall::drift::detail {

// Regularized upper incomplete gamma Q(a, x) = Γ(a, x) / Γ(a), for a > 0 and x >= 0 (NaN in,
// NaN out). Relative error about 1e-14 for the a = dof / 2 that chi-square tests use.
double gamma_q(double a, double x);
// Regularized lower incomplete gamma P(a, x) = 1 - Q(a, x), accurate where it is small.
double gamma_p(double a, double x);
// x^a e^-x / Γ(a), the factor both series share, computed without overflowing its parts.
double gamma_prefix(double a, double x);

// P(X > x) for X ~ chi-square with `dof` > 0 degrees of freedom: Q(dof / 2, x / 2).
double chi2_sf(double x, double dof);
// P(Z > z) for a standard normal Z.
double normal_sf(double z);

}  // namespace seawall::drift::detail
