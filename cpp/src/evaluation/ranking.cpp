#include <algorithm>
#include <cmath>
#include <limits>

#include "bootstrap_internal.h"
#include "ranking_internal.h"

namespace seawall::evaluation {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Keeps a curve's points that move at least `step` (in x + y, or in x alone) from the last one
// kept, and the last point, so that a curve of millions of thresholds draws with a few hundred.
class ThinnedCurve {
 public:
  ThinnedCurve(Curve* curve, int32_t points, bool x_only)
      : curve_(curve), step_(points > 0 ? 1.0 / points : 0), x_only_(x_only) {}

  void add(double x, double y, double threshold, bool last) {
    if (curve_ == nullptr) return;
    const bool first = curve_->x.empty();
    const double moved = std::fabs(x - last_x_) + (x_only_ ? 0.0 : std::fabs(y - last_y_));
    if (!first && !last && moved < step_) return;
    curve_->x.push_back(x);
    curve_->y.push_back(y);
    curve_->threshold.push_back(threshold);
    last_x_ = x;
    last_y_ = y;
  }

 private:
  Curve* curve_;
  double step_;
  bool x_only_;
  double last_x_ = 0;
  double last_y_ = 0;
};

}  // namespace

Ranking ranking_metrics(const double* pos, int64_t n_pos, const double* neg, int64_t n_neg,
                        int32_t curve_points, Curve* roc, Curve* pr) {
  Ranking out{kNaN, kNaN};
  const bool curves = curve_points > 0;
  ThinnedCurve roc_points(curves && n_pos > 0 && n_neg > 0 ? roc : nullptr, curve_points, false);
  // Precision swings at the first thresholds: the PR curve is thinned along recall only.
  ThinnedCurve pr_points(curves && n_pos > 0 ? pr : nullptr, curve_points, true);
  roc_points.add(0, 0, std::numeric_limits<double>::infinity(), false);
  // Twice the area under the ROC staircase, in units of one positive x one negative: each run
  // of equal scores adds its negatives x (positives above it + half its own positives).
  long double twice_area = 0;
  AccurateSum precision_steps;  // sum over runs of (positives in the run) x precision there
  int64_t tp = 0;
  int64_t fp = 0;
  const int64_t total = n_pos + n_neg;
  int64_t seen = 0;
  walk_descending(pos, n_pos, neg, n_neg, [&](double v, int64_t dp, int64_t dn) {
    twice_area += static_cast<long double>(dn) * static_cast<long double>(2 * tp + dp);
    tp += dp;
    fp += dn;
    seen += dp + dn;
    const double precision = static_cast<double>(tp) / static_cast<double>(tp + fp);
    if (dp > 0) precision_steps.add(static_cast<double>(dp) * precision);
    const bool last = seen == total;
    if (curves) {
      roc_points.add(static_cast<double>(fp) / static_cast<double>(n_neg),
                     static_cast<double>(tp) / static_cast<double>(n_pos), v, last);
      pr_points.add(static_cast<double>(tp) / static_cast<double>(n_pos), precision, v, last);
    }
  });
  if (n_pos > 0 && n_neg > 0) {
    out.roc_auc = static_cast<double>(twice_area / (2.0L * static_cast<long double>(n_pos) *
                                                    static_cast<long double>(n_neg)));
  }
  if (n_pos > 0) {
    out.average_precision = std::max(0.0, precision_steps.value() / static_cast<double>(n_pos));
  }
  return out;
}

}  // namespace seawall::evaluation
