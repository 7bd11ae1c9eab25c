// Ranking metrics read off one class's scores and the other's, each sorted ascending: the walk
// from the highest score down, by runs of equal scores, that sklearn's _binary_clf_curve makes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include "seawall/evaluation/classification.h"

namespace seawall::evaluation {

// visit(score, positives, negatives) for each distinct score, highest first, with the count of
// each class at that score.
template <typename Visit>
void walk_descending(const double* pos, int64_t n_pos, const double* neg, int64_t n_neg,
                     Visit&& visit) {
  int64_t i = n_pos - 1;
  int64_t j = n_neg - 1;
  while (i >= 0 || j >= 0) {
    const double v = i < 0 ? neg[j] : j < 0 ? pos[i] : (pos[i] > neg[j] ? pos[i] : neg[j]);
    int64_t dp = 0;
    int64_t dn = 0;
    while (i >= 0 && pos[i] == v) --i, ++dp;
    while (j >= 0 && neg[j] == v) --j, ++dn;
    visit(v, dp, dn);
  }
}

struct Ranking {
  double roc_auc;            // NaN without both classes
  double average_precision;  // NaN without positives
};

// ROC AUC (the trapezoids under sklearn's roc_curve, an exact count here) and average precision
// (sklearn's average_precision_score). With curve_points > 0 the curves are filled too.
Ranking ranking_metrics(const double* pos, int64_t n_pos, const double* neg, int64_t n_neg,
                        int32_t curve_points, Curve* roc, Curve* pr);

// A resample's ROC area and precision sums, over rows by falling score with integer weights;
// code[i]: bit 0 a positive, bit 1 the last row of a run of equal scores. The loops are
// branch-free where the data would make branches unpredictable (labels, runs), and the area is an
// integer sum (one-cycle additions; exact below 2^63, some billions of rows).
struct RankingSums {
  int64_t run_pos = 0, run_neg = 0;  // the current run's weights
  int64_t pos = 0, neg = 0;          // weights of the closed runs
  int64_t twice_area = 0;            // in units of one positive x one negative
  double precision_steps = 0;        // sum over runs of (positive weight) x precision there

  // Rows that each close their run (no ties): ROC area only.
  void add_distinct(const uint8_t* code, const uint8_t* w, int64_t n) {
    int64_t p = pos, q = neg, area = 0;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t positive = (code[i] & 1) * int64_t{w[i]};
      const int64_t negative = int64_t{w[i]} - positive;
      area += negative * p;
      p += positive;
      q += negative;
    }
    twice_area += 2 * area;
    pos = p;
    neg = q;
  }

  // Any rows: ROC area, and the precision sums when `precision` is set.
  void add(const uint8_t* code, const uint8_t* w, int64_t n, bool precision) {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t positive = (code[i] & 1) * int64_t{w[i]};
      run_pos += positive;
      run_neg += int64_t{w[i]} - positive;
      const int64_t closes = -static_cast<int64_t>((code[i] >> 1) & 1);  // all ones or zero
      twice_area += (run_neg * (2 * pos + run_pos)) & closes;
      pos += run_pos & closes;
      neg += run_neg & closes;
      if (precision) {
        const int64_t counted = run_pos & closes;
        precision_steps += static_cast<double>(counted) * static_cast<double>(pos) /
                           static_cast<double>(std::max<int64_t>(pos + neg, 1));
      }
      run_pos &= ~closes;
      run_neg &= ~closes;
    }
  }

  // Once every run is closed (the last row always closes one):
  double roc_auc() const {
    return pos > 0 && neg > 0 ? static_cast<double>(twice_area) /
                                    (2.0 * static_cast<double>(pos) * static_cast<double>(neg))
                              : std::numeric_limits<double>::quiet_NaN();
  }
  double average_precision() const {
    return pos > 0 ? precision_steps / static_cast<double>(pos)
                   : std::numeric_limits<double>::quiet_NaN();
  }
};

}  // namespace seawall::evaluation
