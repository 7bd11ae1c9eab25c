"""Validating a profile against a schema, and skew and drift between profiles (TFDV's comparators).

A :class:`~seawall.Profile` keeps counts, moments, min/max, a KLL quantile sketch (numbers), a
HyperLogLog distinct estimate and a Misra-Gries summary of the most frequent strings. Checking a
schema against one reads those, without the rows, in microseconds per column. What each check
can tell from a profile:

======================== ====================================================================
check                    from a profile
======================== ====================================================================
missing / new column     exact
type                     numbers versus strings only (a profile keeps no finer type: an
                         ``"integer"`` column profiled from floats is not detected)
presence                 exact (rows and nulls are counted)
NaN, infinities          exact counts
range                    the anomaly is exact (min and max are exact); the count of values
                         outside is read off the sketch: exact while the sketch holds every
                         value (fewer than about ``sketch_k`` values), else within the rank
                         error ``4/k`` of the count (``approximate=True``). Integer bounds are
                         compared with the profile's float64 min/max (exact below 2**53).
domain                   exact while the column has at most ``top_k`` distinct strings (the
                         summary then holds every value with its count); beyond, the values in
                         the summary outside the domain are flagged with lower-bound counts,
                         and a distinct estimate above the domain's size by more than three
                         standard errors flags values outside it without naming them
unique                   a string counted twice in the summary is certainly repeated; otherwise
                         a distinct estimate below the count by more than three standard
                         errors (HyperLogLog, 1.6% each at the default precision) flags
                         repeats (``approximate``); fewer repeats than that go unseen
distinct bounds          exact while the strings fit in the summary; else the HyperLogLog
                         estimate, flagged when beyond the bound by three standard errors
invalid UTF-8            cannot occur: profiling refuses such strings
======================== ====================================================================

No failing rows are reported from a profile (it keeps none).

Skew and drift (TFDV's ``skew_comparator`` / ``drift_comparator``)
--------------------------------------------------------------------
- **L-infinity** (``linf``, string and boolean columns): ``max_i |p_i - q_i|`` over the union
  of categories, ``p`` and ``q`` each side's shares of its non-null values (TFDV normalises each
  side separately, as here). Exact when both sides' top-value summaries are exact; otherwise
  each side's values outside its summary are pooled into one ``(other)`` category
  (``approximate``). Booleans: the shares of true and false, exact from the profile's mean.
- **Jensen-Shannon divergence** (``jsd``): ``(KL(p||m) + KL(q||m)) / 2`` with ``m = (p + q) /
  2`` in base 2, so in [0, 1] (TFDV's definition, capped at 1 as TFDV does). Numbers: on 10
  equal-width bins over both sides' finite values (numpy.histogram's bins: half-open, the last
  closed), read off the sketches (each count within the rank error), plus one bin each for
  -inf, +inf and NaN when a side has them (TFDV also keeps infinities and NaN in buckets of
  their own); strings: on the category shares above.
- Skew compares the validated data (training) with ``serving``; drift compares it (the current
  span) with ``previous``. An anomaly when the measure is above its threshold. A control side
  without the column is ``{skew,drift}_control_missing``; a side without values gives no
  measure.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from .. import _core
from ..profiles import Profile
from ..profiles.profile import ColumnCounts
from ._anomalies import anomaly, bound_text, distinct_anomalies, presence_anomalies
from .report import Anomaly, ColumnSummary, Comparison, ValidationReport

if TYPE_CHECKING:
    from .schema import ColumnSchema, Schema

__all__ = ["HISTOGRAM_BINS", "comparisons", "jensen_shannon", "validate_profile"]

HISTOGRAM_BINS = 10
_SIGMAS = 3.0  # standard errors a HyperLogLog estimate must be off by to count as a finding


def validate_profile(
    schema: Schema, profile: Profile, *, environment: str | None, row_limit: int
) -> ValidationReport:
    """:meth:`seawall.Schema.validate` on a profile (module docstring: what it can tell)."""
    names = profile.columns
    present = set(names)
    anomalies: list[Anomaly] = []
    summaries: list[ColumnSummary] = []
    hll_error = _core.profile_hll_standard_error(int(profile.options["hll_precision"]))
    counts = profile.counts()
    for column in schema:
        name = column.name
        if name not in present:
            if column.required(environment):
                where = f" in {environment}" if environment else ""
                anomalies.append(
                    anomaly(column.name, "missing_column", f"the column expected{where} is absent")
                )
            continue
        s = counts[name]
        has_values = s.values + s.nans > 0
        kind = s.kind
        if (
            has_values
            and column.type is not None
            and (kind == "string") != (column.type == "string")
        ):
            words = {"numeric": "numbers", "string": "strings"}
            anomalies.append(
                anomaly(
                    column.name,
                    "type_mismatch",
                    f"expected {column.type}, the profile holds {words[kind]}",
                )
            )
            continue
        summaries.append(
            ColumnSummary(
                name,
                column.type,
                f"{kind} (profile)",
                s.rows,
                s.nulls,
                s.nans,
                s.pos_inf + s.neg_inf,
            )
        )
        anomalies.extend(presence_anomalies(column, s.rows, s.nulls, (), environment))
        if column.type is None or not has_values:
            continue
        if column.numeric:
            anomalies.extend(_numeric(column, profile, s))
        if column.type == "string":
            anomalies.extend(_strings(column, profile, s, hll_error))
        anomalies.extend(_uniqueness(column, profile, s, hll_error))
    for name in names:
        if name not in schema:
            anomalies.append(
                anomaly(name, "new_column", "the profile has a column the schema does not describe")
            )
    return ValidationReport(
        anomalies=tuple(anomalies),
        columns=tuple(summaries),
        rows=profile.num_rows,
        source="profile",
        environment=environment,
        row_limit=row_limit,
    )


def _numeric(column: ColumnSchema, profile: Profile, s: ColumnCounts) -> list[Anomaly]:
    out = []
    name = column.name
    count = s.values
    exact = s.sketch_exact
    below = above = 0
    if count:
        lo, hi = s.min, s.max
        i = profile._i(name)
        if column.lower is not None and lo < column.lower:
            # Values < lower: the rank just below the bound; at least one (the minimum).
            edge = math.nextafter(float(column.lower), -math.inf)
            below = max(1, round(float(profile._state.ranks(i, [edge])[0]) * count))
        if column.upper is not None and hi > column.upper:
            rank = float(profile._state.ranks(i, [float(column.upper)])[0])
            above = max(1, round((1.0 - rank) * count))
    if below or above:
        about = "" if exact else "about "
        word, small, big = (
            ("INT_TYPE", "SMALL_INT", "BIG_INT")
            if column.type == "integer"
            else ("FLOAT_TYPE", "SMALL_FLOAT", "BIG_FLOAT")
        )
        out.append(
            anomaly(
                name,
                "out_of_range",
                f"{about}{below + above:,} values outside [{bound_text(column.lower, '-inf')}, "
                f"{bound_text(column.upper, 'inf')}] "
                f"(min {s.min:g}, max {s.max:g})",
                count=below + above,
                approximate=not exact,
                tfdv=", ".join(f"{word}_{w}" for w, n in ((small, below), (big, above)) if n),
            )
        )
    nans = s.nans
    if nans and not column.nan_allowed:
        out.append(anomaly(name, "has_nan", f"{nans:,} NaN values", count=nans))
    pos, neg = s.pos_inf, s.neg_inf
    if pos + neg and not column.inf_allowed:
        out.append(
            anomaly(
                name,
                "has_inf",
                f"{pos + neg:,} infinite values ({pos:,} +inf, {neg:,} -inf)",
                count=pos + neg,
            )
        )
    return out


def _strings(
    column: ColumnSchema, profile: Profile, s: ColumnCounts, hll_error: float
) -> list[Anomaly]:
    if column.allowed_values is None:
        return []
    allowed = set(column.allowed_values)
    top = profile.top_values(column.name, int(profile.options["top_k"]))
    exact = s.frequent_exact
    off = sorted(((v, c) for v, c in top if v not in allowed), key=lambda vc: (-vc[1], vc[0]))
    n_off = sum(c for _, c in off)
    count = s.values
    unnamed = False
    if not exact:
        # Distinct values beyond the domain's size, by more than the estimate's error, are
        # values outside it even when the summary does not hold them.
        distinct = profile.distinct(column.name)
        unnamed = distinct * (1 - _SIGMAS * hll_error) > len(allowed) + len(off)
    if not off and not unnamed:
        return []
    if column.max_off_domain > 0 and not unnamed and n_off / count <= column.max_off_domain:
        return []
    listed = ", ".join(f"{v!r} ({'' if exact else '>= '}{c:,})" for v, c in off[:10])
    if exact:
        text = f"{n_off:,} values are not in the domain: {listed}"
    elif off:
        text = f"at least {n_off:,} values are not in the domain: {listed}"
    else:
        text = (
            f"about {profile.distinct(column.name):,.0f} distinct values, more than the domain's "
            f"{len(allowed):,}: some are not in it (the profile's summary cannot name them)"
        )
    return [
        anomaly(
            column.name,
            "unexpected_string_values",
            text,
            count=n_off if exact or off else None,
            values=tuple(off[:10]),
            approximate=not exact,
        )
    ]


def _uniqueness(
    column: ColumnSchema, profile: Profile, s: ColumnCounts, hll_error: float
) -> list[Anomaly]:
    out: list[Anomaly] = []
    if not column.unique_values and column.distinct_min is None and column.distinct_max is None:
        return out
    count = s.values
    strings = column.type == "string"
    exact = strings and s.frequent_exact
    top = profile.top_values(column.name, int(profile.options["top_k"])) if strings else []
    distinct = float(len(top)) if exact else profile.distinct(column.name)
    if column.unique_values:
        repeats = sum(c - 1 for _, c in top if c > 1)
        if repeats:
            out.append(
                anomaly(
                    column.name,
                    "not_unique",
                    ("" if exact else "at least ") + f"{repeats:,} values repeat an earlier one",
                    count=repeats,
                    approximate=not exact,
                )
            )
        elif not exact and distinct < count * (1 - _SIGMAS * hll_error):
            out.append(
                anomaly(
                    column.name,
                    "not_unique",
                    f"about {distinct:,.0f} distinct values among {count:,}: about "
                    f"{count - distinct:,.0f} repeat",
                    count=None,
                    approximate=True,
                )
            )
    if column.distinct_min is None and column.distinct_max is None:
        return out
    if exact:
        out.extend(distinct_anomalies(column, int(distinct)))
        return out
    margin = _SIGMAS * hll_error * distinct
    low = column.distinct_min is not None and distinct + margin < column.distinct_min
    high = column.distinct_max is not None and distinct - margin > column.distinct_max
    if low or high:
        found = distinct_anomalies(column, round(distinct), approximate=True)
        out.extend(a for a in found if (a.kind == "low_unique") == low)
    return out


# --- skew and drift --------------------------------------------------------------------------


def jensen_shannon(p: npt.ArrayLike, q: npt.ArrayLike) -> float:
    """TFDV's Jensen-Shannon divergence of two count (or share) vectors: base 2, capped at 1."""
    a = np.asarray(p, dtype=np.float64)
    b = np.asarray(q, dtype=np.float64)
    a, b = a / a.sum(), b / b.sum()
    m = (a + b) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        ka = np.where(a > 0, a * np.log2(a / m), 0.0).sum()
        kb = np.where(b > 0, b * np.log2(b / m), 0.0).sum()
    return float(min(1.0, max(0.0, (ka + kb) / 2)))


def _category_counts(profile: Profile, column: ColumnSchema) -> tuple[dict[str, float], bool]:
    """Counts of each category (strings, or booleans' "true"/"false"), and whether exact."""
    s = profile.stats(column.name)
    if column.type == "boolean":
        n = int(s["count"])
        mean = float(s["mean"]) if n else 0.0
        return {"true": mean * n, "false": (1.0 - mean) * n}, True
    top = dict(profile.top_values(column.name, int(profile.options["top_k"])))
    counts = {v: float(c) for v, c in top.items()}
    exact = bool(s["frequent_exact"])
    if not exact:
        counts["(other)"] = float(int(s["count"]) - sum(top.values()))
    return counts, exact


def _shares(counts: dict[str, float], keys: list[str]) -> npt.NDArray[np.float64]:
    v = np.array([counts.get(k, 0.0) for k in keys], dtype=np.float64)
    total = v.sum()
    return v / total if total > 0 else v


def _histograms(
    treatment: Profile, control: Profile, name: str
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], bool] | None:
    """Both sides' counts on shared bins (module docstring), and whether they are exact."""
    sides = [treatment.stats(name), control.stats(name)]
    finite = [int(s["count"]) - int(s["pos_inf"]) - int(s["neg_inf"]) for s in sides]
    counts = []
    if any(finite):
        lows, highs = [], []
        for profile, s, n in zip((treatment, control), sides, finite, strict=True):
            if n == 0:
                continue
            i = profile._i(name)
            if int(s["neg_inf"]) or int(s["pos_inf"]):
                # Finite extremes: the sketch's values between the infinities (positions of
                # numpy's "linear" quantiles; a grid, as an estimated rank may land on one).
                neg, total = int(s["neg_inf"]), int(s["count"])
                grid = np.linspace(neg / (total - 1), (neg + n - 1) / (total - 1), 65)
                q = np.asarray(profile._state.quantiles(i, grid))
                q = q[np.isfinite(q)]
                if q.size == 0:
                    continue
                lows.append(float(q.min()))
                highs.append(float(q.max()))
            else:
                lows.append(float(s["min"]))
                highs.append(float(s["max"]))
        edges = _edges(min(lows), max(highs)) if lows else None
    else:
        edges = None
    for profile, s, n in zip((treatment, control), sides, finite, strict=True):
        row: list[float] = []
        if edges is not None:
            if n == 0:
                row = [0.0] * (len(edges) - 1)
            else:
                i = profile._i(name)
                total = int(s["count"])
                neg = int(s["neg_inf"])
                # values < each interior edge (numpy's half-open bins); the last bin is closed
                below = [
                    float(r) * total
                    for r in profile._state.ranks(
                        i, [math.nextafter(float(e), -math.inf) for e in edges[1:-1]]
                    )
                ]
                cum = [float(neg), *below, float(neg + n)]
                row = [max(0.0, cum[k + 1] - cum[k]) for k in range(len(cum) - 1)]
        counts.append(row)
    extra = [
        [float(s["neg_inf"]) for s in sides],
        [float(s["pos_inf"]) for s in sides],
        [float(s["nans"]) for s in sides],
    ]
    for pair in extra:
        if pair[0] or pair[1]:
            counts[0].append(pair[0])
            counts[1].append(pair[1])
    a, b = np.array(counts[0]), np.array(counts[1])
    if a.sum() <= 0 or b.sum() <= 0:
        return None
    return a, b, all(bool(s["sketch_exact"]) for s in sides)


def _edges(lo: float, hi: float) -> npt.NDArray[np.float64]:
    """HISTOGRAM_BINS equal-width bins over [lo, hi] (one bin for a single value)."""
    if hi <= lo:
        return np.array([lo, hi])
    if not math.isfinite(hi - lo):  # a span past float64: the same edges, on halves
        return 2.0 * np.linspace(lo / 2, hi / 2, HISTOGRAM_BINS + 1)
    return np.linspace(lo, hi, HISTOGRAM_BINS + 1)


def _compare(
    column: ColumnSchema, treatment: Profile, control: Profile, which: Literal["skew", "drift"]
) -> tuple[list[Comparison], list[Anomaly]]:
    thresholds = column.skew_thresholds if which == "skew" else column.drift_thresholds
    name = column.name
    if name not in control.columns:
        side = "serving" if which == "skew" else "previous"
        return [], [
            anomaly(
                name,
                f"{which}_control_missing",
                f"the {side} data has no column {name!r} to compare with",
            )
        ]
    found: list[Comparison] = []
    categorical = column.type in ("string", "boolean")
    if categorical:
        mine, exact_a = _category_counts(treatment, column)
        theirs, exact_b = _category_counts(control, column)
        keys = sorted(set(mine) | set(theirs))
        p, q = _shares(mine, keys), _shares(theirs, keys)
        usable = p.sum() > 0 and q.sum() > 0
        exact = exact_a and exact_b
        if thresholds.linf is not None and usable:
            diff = np.abs(p - q)
            k = int(np.argmax(diff))
            value = float(diff[k])
            found.append(
                Comparison(
                    name,
                    which,
                    "linf",
                    value,
                    thresholds.linf,
                    value > thresholds.linf,
                    detail=f"largest difference at {keys[k]!r}",
                    approximate=not exact,
                )
            )
        if thresholds.jsd is not None and usable:
            value = jensen_shannon(p, q)
            found.append(
                Comparison(
                    name,
                    which,
                    "jsd",
                    value,
                    thresholds.jsd,
                    value > thresholds.jsd,
                    approximate=not exact,
                )
            )
    elif thresholds.jsd is not None:
        hist = _histograms(treatment, control, name)
        if hist is not None:
            a, b, exact = hist
            value = jensen_shannon(a, b)
            found.append(
                Comparison(
                    name,
                    which,
                    "jsd",
                    value,
                    thresholds.jsd,
                    value > thresholds.jsd,
                    approximate=not exact,
                )
            )
    anomalies = []
    for c in found:
        if c.anomalous:
            against = "serving" if which == "skew" else "the previous span"
            label = "L-infinity distance" if c.measure == "linf" else "Jensen-Shannon divergence"
            anomalies.append(
                anomaly(
                    name,
                    f"{which}_{c.measure}_high",
                    f"{label} against {against} is {c.value:.6g}, above the threshold "
                    f"{c.threshold:.6g}" + (f" ({c.detail})" if c.detail else ""),
                    approximate=c.approximate,
                )
            )
    return found, anomalies


def _as_profile(data: Any) -> Profile:
    return data if isinstance(data, Profile) else Profile.from_data(data)


def comparisons(
    schema: Schema,
    report: ValidationReport,
    profile: Profile,
    *,
    serving: Any = None,
    previous: Any = None,
) -> ValidationReport:
    """`report` with the skew against `serving` and the drift against `previous` added."""
    added: list[Anomaly] = []
    measured: dict[str, list[Comparison]] = {"skew": [], "drift": []}
    sides: tuple[tuple[Literal["skew", "drift"], Any], ...] = (
        ("skew", serving),
        ("drift", previous),
    )
    for which, control_data in sides:
        if control_data is None:
            continue
        wanted = [
            c
            for c in schema
            if (c.skew_thresholds if which == "skew" else c.drift_thresholds)
            and c.name in profile.columns
            and c.type is not None
        ]
        if not wanted:
            continue
        control = _as_profile(control_data)
        for column in wanted:
            found, anomalies = _compare(column, profile, control, which)
            measured[which].extend(found)
            added.extend(anomalies)
    order = {name: i for i, name in enumerate(schema.columns)}
    anomalies = sorted([*report.anomalies, *added], key=lambda a: order.get(a.column, len(order)))
    return dataclasses.replace(
        report,
        anomalies=tuple(anomalies),
        skew=tuple(measured["skew"]),
        drift=tuple(measured["drift"]),
    )
