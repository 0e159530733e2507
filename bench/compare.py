"""Cost of the paired bootstrap (gitops_ml.report.uncertainty) on simulated rows.

    uv run python bench/compare.py [--rows 1000000] [--resamples 1000] [--classes 2]
                                   [--task classification|regression] [--seed 0]

Two simulated models score the same rows; the wall-clock seconds of the whole comparison
(every metric, its interval and the interval of each difference) are printed with the widths of
the difference intervals, so a run shows cost and precision together. The issue's budget: at most
60 s at 1M evaluation rows.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from gitops_ml.report import uncertainty


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--resamples", type=int, default=uncertainty.RESAMPLES)
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--task", choices=("classification", "regression"), default="classification")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    settings = uncertainty.Settings(seed=args.seed, resamples=args.resamples)
    n = args.rows
    start = time.perf_counter()
    if args.task == "classification":
        k = args.classes
        y = rng.integers(0, k, n)

        def scores(noise: float) -> np.ndarray:
            s = np.exp(2 * (np.eye(k)[y] + rng.normal(0, noise, (n, k))))
            return s / s.sum(axis=1, keepdims=True)

        base, head = scores(0.8), scores(0.85)
        start = time.perf_counter()
        estimates = uncertainty.classification(
            y, base.argmax(1), head.argmax(1), n_classes=k, positive=k - 1, settings=settings,
            base_scores=base, head_scores=head)
    else:
        y = rng.normal(size=n)
        base, head = y + rng.normal(0, 0.5, n), y + rng.normal(0, 0.55, n)
        start = time.perf_counter()
        estimates = uncertainty.regression(y, base, head, settings=settings)
    seconds = time.perf_counter() - start
    print(f"{args.task} rows={n} resamples={args.resamples} classes={args.classes}: "
          f"{seconds:.2f} s")
    for e in estimates:
        width = e.delta_interval.high - e.delta_interval.low
        print(f"  {e.metric:18} Δ {e.delta:+.5f}  [{e.delta_interval.low:+.5f}, "
              f"{e.delta_interval.high:+.5f}]  width {width:.5f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
