"""scikit-learn's own estimator checks (sklearn.utils.estimator_checks), run on feature
pipelines over the columns of a 2-D array (x0, x1, ... as scikit-learn names them).

Each check that cannot apply is listed in EXPECTED_FAILED with the reason; pytest marks it
xfail (a check that starts passing shows as xpass, not as an error).
"""

from __future__ import annotations

import warnings

from sklearn.utils.estimator_checks import parametrize_with_checks

import seawall as sw

EXPECTED_FAILED = {
    "check_complex_data": (
        "a complex column is a seawall DTypeError (a TypeError), as every column of a type "
        "the ops cannot read; scikit-learn expects a ValueError"
    ),
}

ESTIMATORS = [
    # One numeric chain; NaN refused.
    sw.FeaturePipeline({"x0": sw.StandardScale()}),
    # Several features from one column, quantile ops (exact on these small arrays), a NaN
    # refused by the chain that does not impute.
    sw.FeaturePipeline(
        [
            ("scaled", "x0", [sw.Impute("median"), sw.RobustScale()]),
            ("bins", "x0", sw.Bucketize(n_bins=3)),
            ("clipped", "x0", [sw.Clip(quantiles=(0.1, 0.9)), sw.MinMaxScale()]),
        ]
    ),
    # Every chain imputes: NaN allowed (the allow_nan tag), with an indicator column.
    sw.FeaturePipeline({"x0": [sw.Impute("mean", add_indicator=True), sw.StandardScale()]}),
]

with warnings.catch_warnings():
    # FeaturePipeline follows scikit-learn's protocol without inheriting from its BaseEstimator
    # (scikit-learn is not a dependency of seawall), which the check generator warns about.
    warnings.filterwarnings("ignore", message=".*does not inherit from", category=UserWarning)
    checks = parametrize_with_checks(
        ESTIMATORS, expected_failed_checks=lambda estimator: EXPECTED_FAILED
    )


@checks
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
