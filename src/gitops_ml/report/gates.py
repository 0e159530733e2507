"""Merge gates: the validated `gates:` section (`gitops_ml.config.GatesSection`) -> verdicts.

Metric gates judge an interval when the two models were scored on the same rows
(`gitops_ml.report.uncertainty`), each by its rule (defaults: `max_regression` shown_worse,
`floors` non_inferiority, `gitops_ml.config.FLOOR_RULE` says why):

- `shown_worse` (the default) fails only when the whole interval is beyond the limit: the PR is
  worse than allowed with the stated confidence. An interval across the limit is inconclusive and
  does not block.
- `non_inferiority` passes only when the whole interval is within the limit: the PR is shown not
  worse than allowed. An interval across the limit is inconclusive and blocks (the CONSORT
  convention for non-inferiority margins: Piaggio et al. 2012, JAMA 308:2594).

Both read the two-sided interval at `gates.confidence`, the one the report shows, so each bound
is a one-sided test at (1 - confidence) / 2. Without such an interval (no same-row comparison),
they judge the point values and say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitops_ml.config import FLOOR_RULE, REGRESSION_RULE, FairnessGate, GatesSection
from gitops_ml.errors import UserError
from gitops_ml.fairness import GAP_LIMITS
from gitops_ml.report.diff import DIRECTIONS
from gitops_ml.report.formatting import MINUS, num, pct, signed

# A metric gate judges a `gitops_ml.report.uncertainty.Estimate` (base, head, delta and their
# intervals). Not imported: the model_card stage runs this module, and its dvc.yaml deps stay
# free of the bootstrap (tests/test_stage_deps.py).
Estimate = Any

GROUPS = ("floors", "max_regression", "onnx_parity", "data_contract", "max_slice_gap",
          "model_tests", "max_flip_rate", "fairness")
FAIRNESS_LIMITS = GAP_LIMITS
RULES = ("shown_worse", "non_inferiority")


@dataclass(frozen=True)
class Floor:
    """An absolute bound: a minimum, or a maximum for lower-is-better metrics."""

    metric: str
    bound: float
    rule: str = FLOOR_RULE


@dataclass(frozen=True)
class MaxRegression:
    """The largest allowed move in the worse direction against the baseline."""

    metric: str
    abs: float | None = None
    rel: float | None = None
    rule: str = REGRESSION_RULE


@dataclass(frozen=True)
class SliceGap:
    """The largest allowed spread of a metric between the slices of one column."""

    metric: str
    column: str
    max: float


@dataclass(frozen=True)
class FairnessLimit:
    """A bound on one fairness gap of one protected column."""

    column: str
    metric: str
    kind: str                    # max | min
    bound: float
    index: int = 0               # position in gates.fairness, for the error message


@dataclass(frozen=True)
class GatesConfig:
    """Every gate a pull request must pass; groups named in `warn_only` only warn."""

    floors: tuple[Floor, ...] = ()
    max_regression: tuple[MaxRegression, ...] = ()
    onnx_parity: bool = False
    data_contract: bool = False
    max_slice_gap: SliceGap | None = None
    model_tests: bool = False
    max_flip_rate: float | None = None
    fairness: tuple[FairnessLimit, ...] = ()
    warn_only: frozenset[str] = field(default_factory=frozenset)
    confidence: float = 0.95     # of the intervals the metric gates judge
    bootstrap: int = 1000        # resamples behind those intervals

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> GatesConfig:
        """Read the `gates:` section through its one loader; a missing section means no gates."""
        return cls.from_section(GatesSection.from_params(params))

    @classmethod
    def from_section(cls, section: GatesSection) -> GatesConfig:
        """Check what the shape alone cannot (known metrics and gate names), and build."""
        for i, name in enumerate(section.warn_only):
            if name not in GROUPS:
                raise UserError(f"gates.warn_only[{i}]: unknown gate {name!r} "
                                f"(known: {', '.join(GROUPS)})")
        gap = section.max_slice_gap
        return cls(
            floors=tuple(Floor(_metric(m, f"gates.floors.{m}"), f.bound, f.rule)
                         for m, f in section.floors.items()),
            max_regression=tuple(
                MaxRegression(_metric(m, f"gates.max_regression.{m}"), r.abs, r.rel, r.rule)
                for m, r in section.max_regression.items()),
            onnx_parity=section.onnx_parity,
            data_contract=section.data_contract,
            max_slice_gap=None if gap is None else SliceGap(
                _metric(gap.metric, "gates.max_slice_gap.metric"), _column(gap.column,
                        "gates.max_slice_gap.column"), gap.max),
            model_tests=section.model_tests,
            max_flip_rate=section.max_flip_rate,
            fairness=tuple(_fairness(i, f) for i, f in enumerate(section.fairness)),
            warn_only=frozenset(section.warn_only),
            confidence=section.confidence,
            bootstrap=section.bootstrap,
        )


def _metric(name: str, key: str) -> str:
    if name not in DIRECTIONS:
        raise UserError(f"{key}: unknown metric {name!r} (known: {', '.join(DIRECTIONS)})")
    return name


def _column(name: str, key: str) -> str:
    if not name:
        raise UserError(f"{key}: expected a column name, got {name!r}")
    return name


def _fairness(i: int, rule: FairnessGate) -> FairnessLimit:
    key = f"gates.fairness[{i}]"
    kind = FAIRNESS_LIMITS.get(rule.metric)
    if kind is None:
        raise UserError(f"{key}.metric: unknown fairness metric {rule.metric!r} "
                        f"(known: {', '.join(FAIRNESS_LIMITS)})")
    other = "min" if kind == "max" else "max"
    if getattr(rule, other) is not None:
        raise UserError(f"{key}.{other}: {rule.metric} is bounded by {kind}, not {other} "
                        f"(a {'difference' if kind == 'max' else 'ratio'} is worse when "
                        f"{'higher' if kind == 'max' else 'lower'})")
    bound = getattr(rule, kind)
    if bound is None:
        raise UserError(f"{key}.{kind}: required but missing")
    return FairnessLimit(_column(rule.column, f"{key}.column"), rule.metric, kind, bound, i)


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict, as the report shows it."""

    gate: str                    # what is checked, e.g. "roc_auc floor"
    key: str                     # where it is configured, e.g. "gates.floors.roc_auc"
    rule: str                    # the threshold, e.g. "≥ 0.95"
    value: str                   # what was measured
    status: str                  # pass | fail | inconclusive | skip | error
    blocking: bool
    detail: str = ""             # why, when it did not simply pass
    judged_by: str = ""          # a metric gate's rule (RULES) when an interval was judged

    @property
    def blocks_merge(self) -> bool:
        """A blocking gate that failed or broke, or an inconclusive non-inferiority gate."""
        if not self.blocking:
            return False
        return self.status in ("fail", "error") or (
            self.status == "inconclusive" and self.judged_by == "non_inferiority")

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the JSON report."""
        return dict(self.__dict__) | {"blocks_merge": self.blocks_merge}


def _bound_rule(direction: int, bound: float) -> str:
    return f"{'≥' if direction > 0 else '≤'} {num(bound)}"


def _not_produced(key: str, metric: str, head: dict[str, Any]) -> str:
    return (f"{key}: this task does not produce {metric} "
            f"(it reports {', '.join(sorted(head)) or 'no metrics'}); remove or change the gate")


def evaluate(cfg: GatesConfig, *, head_metrics: dict[str, Any],
             base_metrics: dict[str, Any] | None, onnx_parity: dict[str, Any] | None,
             data_validation: dict[str, Any] | None,
             slices: dict[str, Any] | None, model_tests: dict[str, Any] | None = None,
             fairness: dict[str, Any] | None = None,
             estimates: Mapping[str, Estimate] | None = None,
             floor_estimates: Mapping[str, Estimate] | None = None) -> list[GateResult]:
    """Apply every configured gate to the head results (and the baseline, when there is one).

    `estimates`: both models scored on the same rows, with intervals at `cfg.confidence`
    (`gitops_ml.report.uncertainty`); the metric gates judge those instead of the point values.
    `floor_estimates`: the PR's model on its whole test split, for the floors (default:
    `estimates`).
    """
    results: list[GateResult] = []
    estimates = estimates or {}
    floor_estimates = estimates if floor_estimates is None else floor_estimates
    for floor in cfg.floors:
        blocking = "floors" not in cfg.warn_only
        est = floor_estimates.get(floor.metric)
        results.append(_floor(floor, head_metrics, blocking) if est is None else
                       _floor_interval(floor, est, cfg.confidence, blocking))
    for reg in cfg.max_regression:
        blocking = "max_regression" not in cfg.warn_only
        est = estimates.get(reg.metric)
        results.append(_regression(reg, head_metrics, base_metrics, blocking) if est is None
                       else _regression_interval(reg, est, cfg.confidence, blocking))
    if cfg.onnx_parity:
        results.append(_parity(onnx_parity, "onnx_parity" not in cfg.warn_only))
    if cfg.data_contract:
        results.append(_contract(data_validation, "data_contract" not in cfg.warn_only))
    if cfg.max_slice_gap is not None:
        results.append(_gap(cfg.max_slice_gap, slices, "max_slice_gap" not in cfg.warn_only))
    if cfg.model_tests:
        results.append(_behaviour(model_tests, "model_tests" not in cfg.warn_only))
    if cfg.max_flip_rate is not None:
        results.append(_flips(cfg.max_flip_rate, model_tests,
                              "max_flip_rate" not in cfg.warn_only))
    for limit in cfg.fairness:
        results.append(_fair(limit, fairness, "fairness" not in cfg.warn_only))
    return results


def judge(low: float, high: float, limit: float, rule: str) -> str:
    """pass | fail | inconclusive for an interval of a higher-is-better quantity that must
    reach `limit`: within when the whole interval is at or above it, beyond when wholly below.

    Both rules give the same status; they differ in whether `inconclusive` blocks
    (`GateResult.blocks_merge`).
    """
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r} (known: {', '.join(RULES)})")
    if low >= limit:
        return "pass"
    if high < limit:
        return "fail"
    return "inconclusive"


def _rule_words(rule: str, confidence: float, beyond: str, within: str) -> str:
    level = f"{confidence * 100:g}%"
    if rule == "shown_worse":
        return f"fails only if shown {beyond} ({level} interval)"
    return f"passes only if shown {within} ({level} interval)"


def _interval(low: float, high: float) -> str:
    return f"[{signed(low)}, {signed(high)}]"


def _inconclusive(rule: str) -> str:
    return ("does not block: shown_worse fails only on evidence of harm" if rule == "shown_worse"
            else "blocks: non_inferiority needs the whole interval within the limit")


def _floor_interval(floor: Floor, est: Estimate, confidence: float,
                    blocking: bool) -> GateResult:
    key = f"gates.floors.{floor.metric}"
    direction = DIRECTIONS[floor.metric]
    below = "below" if direction > 0 else "above"
    above = "above" if direction > 0 else "below"
    name = f"{floor.metric} {'floor' if direction > 0 else 'ceiling'}"
    rule = (f"{_bound_rule(direction, floor.bound)}, "
            f"{_rule_words(floor.rule, confidence, below, above)}")
    low, high = est.head_interval.low, est.head_interval.high
    good = sorted((direction * low, direction * high))
    status = judge(good[0], good[1], direction * floor.bound, floor.rule)
    interval = f"[{num(low)}, {num(high)}]"
    value = f"{num(est.head)} {interval}"
    level = f"{confidence * 100:g}%"
    detail = {
        "pass": "",
        "fail": f"the whole {level} interval {interval} is {below} {num(floor.bound)}",
        "inconclusive": f"the {level} interval {interval} reaches {below} {num(floor.bound)}: "
                        + ("not shown to reach the floor; blocks: a floor must be shown met "
                           f"(rule non_inferiority; `{{bound: {num(floor.bound)}, rule: "
                           "shown_worse}` fails only when shown short)"
                           if floor.rule == "non_inferiority" else _inconclusive(floor.rule)),
    }[status]
    return GateResult(name, key, rule, value, status, blocking, detail, floor.rule)


def _allowed_drop(reg: MaxRegression, base: float) -> float:
    limits = [reg.abs] if reg.abs is not None else []
    if reg.rel is not None:
        limits.append(reg.rel * abs(base))
    return min(limits)


def _regression_interval(reg: MaxRegression, est: Estimate, confidence: float,
                         blocking: bool) -> GateResult:
    key = f"gates.max_regression.{reg.metric}"
    direction = DIRECTIONS[reg.metric]
    drop = _allowed_drop(reg, est.base)
    name = f"{reg.metric} regression"
    rule = (f"{'≥' if direction > 0 else '≤'} main {MINUS if direction > 0 else '+'} "
            f"{num(drop)}" + (f" ({reg.rel * 100:g}% of {num(est.base)})"
                              if reg.rel is not None and drop != reg.abs else "")
            + f", {_rule_words(reg.rule, confidence, 'worse', 'not worse')}")
    low, high = est.delta_interval.low, est.delta_interval.high
    good = sorted((direction * low, direction * high))
    status = judge(good[0], good[1], -drop, reg.rule)
    value = f"Δ {signed(est.delta)} {_interval(low, high)}"
    level = f"{confidence * 100:g}%"
    detail = {
        "pass": "",
        "fail": f"worse by more than {num(drop)} across the whole {level} interval "
                f"{_interval(low, high)}",
        "inconclusive": f"the {level} interval {_interval(low, high)} reaches past the allowed "
                        f"{num(drop)}: {_inconclusive(reg.rule)}",
    }[status]
    return GateResult(name, key, rule, value, status, blocking, detail, reg.rule)


def _floor(floor: Floor, head: dict[str, Any], blocking: bool) -> GateResult:
    key = f"gates.floors.{floor.metric}"
    direction = DIRECTIONS[floor.metric]
    name = f"{floor.metric} {'floor' if direction > 0 else 'ceiling'}"
    rule = _bound_rule(direction, floor.bound)
    value = head.get(floor.metric)
    if not isinstance(value, int | float):
        # A gate on a metric the task does not report is a config error, never a silent pass.
        return GateResult(name, key, rule, "—", "error", True, _not_produced(key, floor.metric,
                                                                            head))
    ok = value >= floor.bound if direction > 0 else value <= floor.bound
    detail = "" if ok else f"{num(value)} is {'below' if direction > 0 else 'above'} " \
                           f"{num(floor.bound)} by {num(abs(value - floor.bound))}"
    return GateResult(name, key, rule, num(value), "pass" if ok else "fail", blocking, detail)


def _regression(reg: MaxRegression, head: dict[str, Any], base: dict[str, Any] | None,
                blocking: bool) -> GateResult:
    key = f"gates.max_regression.{reg.metric}"
    direction = DIRECTIONS[reg.metric]
    word = "main " + ("−" if direction > 0 else "+")
    limits = []
    if reg.abs is not None:
        limits.append(f"{'≥' if direction > 0 else '≤'} {word} {num(reg.abs)}")
    if reg.rel is not None:
        limits.append(f"{'≥' if direction > 0 else '≤'} {word} {reg.rel * 100:g}%")
    rule = " and ".join(limits).replace("−", MINUS)
    name = f"{reg.metric} regression"
    value = head.get(reg.metric)
    if not isinstance(value, int | float):
        return GateResult(name, key, rule, "—", "error", True,
                          _not_produced(key, reg.metric, head))
    if base is None:
        return GateResult(name, key, rule, num(value), "skip", blocking,
                          "no baseline on main yet (first pull request): only floors apply")
    before = base.get(reg.metric)
    if not isinstance(before, int | float):
        return GateResult(name, key, rule, num(value), "skip", blocking,
                          f"main has no {reg.metric} to compare with")
    delta = value - before
    worse_by = -delta * direction          # > 0 means the head is worse
    rel_worse = worse_by / abs(before) if before != 0 else (float("inf") if worse_by > 0 else 0.0)
    failures = []
    if reg.abs is not None and worse_by > reg.abs:
        failures.append(f"worse by {num(worse_by)}, allowed {num(reg.abs)}")
    if reg.rel is not None and rel_worse > reg.rel:
        failures.append(f"worse by {rel_worse * 100:.1f}%, allowed {reg.rel * 100:g}%")
    shown = f"{signed(delta)} ({pct(delta / abs(before))})" if before != 0 else signed(delta)
    return GateResult(name, key, rule, shown, "fail" if failures else "pass", blocking,
                      "; ".join(failures))


def _percent(share: Any) -> str:
    return f"{share * 100:.4g}%" if isinstance(share, int | float) else "—"


def _parity(parity: dict[str, Any] | None, blocking: bool) -> GateResult:
    key, name = "gates.onnx_parity", "ONNX parity"
    if not isinstance(parity, dict) or not isinstance(parity.get("passed"), bool):
        return GateResult(name, key, "parity check passed", "—", "error", blocking,
                          "no ONNX parity result (reports/onnx_parity.json) from the export stage")
    tol = parity.get("tolerance") or {}
    rule = (f"max Δ ≤ {num(tol.get('max_abs_diff'))}, labels ≥ "
            f"{_percent(tol.get('min_label_agreement'))}") if tol else "passed"
    value = f"{num(parity.get('max_abs_diff'))}, {_percent(parity.get('label_agreement'))}"
    ok = parity["passed"]
    return GateResult(name, key, rule, value, "pass" if ok else "fail", blocking,
                      "" if ok else "ONNX Runtime and scikit-learn disagree beyond the tolerance")


def _contract(report: dict[str, Any] | None, blocking: bool) -> GateResult:
    key, name = "gates.data_contract", "data contract"
    if not isinstance(report, dict) or not isinstance(report.get("passed"), bool):
        return GateResult(name, key, "0 failed checks", "—", "error", blocking,
                          "no data validation result (reports/data_validation.json)")
    failed = report.get("failed_checks", 0)
    ok = report["passed"]
    detail = "" if ok else "; ".join(_contract_failure(f)
                                     for f in (report.get("failures") or [])[:5])
    if not ok and report.get("contract") == "base":
        detail = f"judged by main's contract (this pull request changes it): {detail}"
    return GateResult(name, key, "0 failed checks", str(failed), "pass" if ok else "fail",
                      blocking, detail)


# pandera's checks of the table as a whole, whose failing cases are column names, not rows
_TABLE_CHECKS = {"column_in_dataframe": "column(s) of the contract missing from the data",
                 "column_in_schema": "column(s) of the data not in the contract"}


def _contract_failure(f: dict[str, Any]) -> str:
    """One failed check: `age: in_range (3 rows)`, or the columns a table-wide check names."""
    if f.get("column") is None:
        what = _TABLE_CHECKS.get(str(f.get("check")), str(f.get("check")))
        names = ", ".join(map(str, (f.get("examples") or [])[:3]))
        return f"{f.get('failing')} {what}" + (f" (e.g. {names})" if names else "")
    return f"{f.get('column')}: {f.get('check')} ({f.get('failing')} rows)"


def _gap(gap: SliceGap, slices: dict[str, Any] | None, blocking: bool) -> GateResult:
    key = "gates.max_slice_gap"
    name = f"slice gap ({gap.metric} by {gap.column})"
    rule = f"≤ {num(gap.max)}"
    rows = (slices or {}).get(gap.column)
    if not isinstance(rows, list) or not rows:
        return GateResult(name, key, rule, "—", "error", True,
                          f"{key}.column: no slices for {gap.column!r} (evaluate.slices lists "
                          f"{', '.join(sorted(slices or {})) or 'none'})")
    values = [r[gap.metric] for r in rows if isinstance(r.get(gap.metric), int | float)]
    if not values:
        return GateResult(name, key, rule, "—", "error", True,
                          f"{key}.metric: slices do not report {gap.metric}")
    spread = max(values) - min(values)
    ok = spread <= gap.max
    return GateResult(name, key, rule, num(spread), "pass" if ok else "fail", blocking,
                      "" if ok else f"gap {num(spread)} exceeds {num(gap.max)} by "
                                    f"{num(spread - gap.max)}")



def _behaviour(report: dict[str, Any] | None, blocking: bool) -> GateResult:
    key, name, rule = "gates.model_tests", "behavioural tests", "every test passes"
    tests = (report or {}).get("tests")
    if not isinstance(tests, list):
        return GateResult(name, key, rule, "—", "error", blocking,
                          "no behavioural test results (reports/model_tests.json) from the "
                          "model_tests stage")
    failed = [t for t in tests if not t.get("passed")]
    hard = [t for t in failed if not t.get("warn_only")]
    value = f"{len(tests) - len(failed)}/{len(tests)} passed"
    detail = "; ".join(f"{t.get('name')}: {t.get('failing')} of {t.get('rows')} failing"
                       + (" (warn-only)" if t.get("warn_only") else "") for t in failed[:5])
    return GateResult(name, key, rule, value, "fail" if hard else "pass", blocking, detail)


def _flips(limit: float, report: dict[str, Any] | None, blocking: bool) -> GateResult:
    key, name, rule = "gates.max_flip_rate", "robustness flip rate", f"≤ {_percent(limit)}"
    robust = (report or {}).get("robustness")
    rate = robust.get("flip_rate") if isinstance(robust, dict) else None
    if not isinstance(rate, int | float):
        return GateResult(name, key, rule, "—", "error", blocking,
                          "no robustness result in reports/model_tests.json "
                          "(robustness.repeats is 0, or the model_tests stage did not run)")
    ok = rate <= limit
    return GateResult(name, key, rule, _percent(rate), "pass" if ok else "fail", blocking,
                      "" if ok else f"{_percent(rate)} of predictions flip under small "
                                    f"perturbations, allowed {_percent(limit)}")


def _fair(limit: FairnessLimit, report: dict[str, Any] | None, blocking: bool) -> GateResult:
    key = f"gates.fairness[{limit.index}]"
    name = f"{limit.metric} by {limit.column}"
    rule = f"{'≤' if limit.kind == 'max' else '≥'} {num(limit.bound)}"
    columns = (report or {}).get("columns")
    if not isinstance(columns, dict):
        return GateResult(name, key, rule, "—", "error", True,
                          "no fairness results (reports/fairness.json) from the model_tests stage")
    result = columns.get(limit.column)
    if not isinstance(result, dict):
        return GateResult(name, key, rule, "—", "error", True,
                          f"{key}.column: {limit.column!r} is not assessed (evaluate.protected "
                          f"lists {', '.join(sorted(columns)) or 'none'})")
    gaps = result.get("gaps") or {}
    if limit.metric not in gaps:
        return GateResult(name, key, rule, "—", "error", True,
                          f"{key}.metric: this task does not report {limit.metric} "
                          f"(it reports {', '.join(sorted(gaps))})")
    value = gaps[limit.metric]
    if not isinstance(value, int | float):
        # Fewer than two groups large enough to judge: the gate cannot say the model is fair.
        return GateResult(name, key, rule, "—", "error", blocking,
                          f"fewer than two groups of {limit.column} have enough rows to judge "
                          f"(evaluate.min_group_size: {report.get('min_group_size')})")
    ok = value <= limit.bound if limit.kind == "max" else value >= limit.bound
    return GateResult(name, key, rule, num(value), "pass" if ok else "fail", blocking,
                      "" if ok else f"{num(value)} is {'above' if limit.kind == 'max' else 'below'}"
                                    f" {num(limit.bound)}")
