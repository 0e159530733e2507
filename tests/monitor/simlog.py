"""Prediction logs and labels as a champion/challenger server writes them, with known truth.

A binary classifier over classes ("benign", "malignant"); each model is right on a row with its
own probability (its true accuracy), independently of the other, and gives the class it predicts
probability 0.8. Requests carry `rows` records each; canary requests go to the challenger with
probability `canary`, shadow requests are answered by the champion and scored by both.

`simulate` gives log records (written as files by `write`) and the labels file; `joined` gives
the same draw as `outcomes.frame` + `outcomes.join` make of them, built with numpy, so that the
200-seed tests stay fast (a test checks the two agree).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

CLASSES = ["benign", "malignant"]
START = 1_794_960_000  # 2026-11-18T00:00:00Z, a window boundary


def _draw(seed: int, *, requests: int, rows: int = 50, champion: float = 0.8,
          challenger: float = 0.8, mode: str = "shadow", canary: float = 0.5, days: int = 1,
          start: int = START, identical: bool = False) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    n = requests * rows
    truth = rng.random(n) < 0.4
    right_a = rng.random(n) < champion
    right_b = right_a if identical else rng.random(n) < challenger
    to_b = rng.random(requests) < canary if mode == "canary" else np.zeros(requests, bool)
    times = start + np.sort(rng.integers(0, days * 86400, requests))
    return {"seed": seed, "n": n, "rows": rows, "requests": requests, "truth": truth,
            "says_a": np.where(right_a, truth, ~truth), "says_b": np.where(right_b, truth, ~truth),
            "to_b": to_b, "times": times, "mode": mode}


def _stamp(seconds: Any) -> Any:
    return pd.to_datetime(seconds, unit="s", utc=True)


def simulate(seed: int, **kwargs: Any) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """Log records (one per request) and the labels file's rows (diagnosis per request row)."""
    d = _draw(seed, **kwargs)
    rows = d["rows"]

    def output(says: np.ndarray, role: str) -> dict[str, Any]:
        p = np.where(says, 0.8, 0.2)
        return {"model": "model", "version": "v1" if role == "champion" else "v2",
                "role": role, "predictions": [CLASSES[int(m)] for m in says],
                "probabilities": [[1 - q, q] for q in p.tolist()]}

    records = []
    for r in range(d["requests"]):
        sl = slice(r * rows, (r + 1) * rows)
        served = (output(d["says_b"][sl], "challenger") if d["to_b"][r]
                  else output(d["says_a"][sl], "champion"))
        record = {"ts": _stamp(int(d["times"][r])).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "request_id": f"req-{seed}-{r}", "rows": rows, "classes": CLASSES,
                  "inputs": {"x": list(range(rows))}, **served}
        if d["mode"] == "shadow":
            record["shadow"] = output(d["says_b"][sl], "challenger")
        records.append(record)
    labels = pd.DataFrame({"request_id": np.repeat([f"req-{seed}-{r}"
                                                    for r in range(d["requests"])], rows),
                           "row": np.tile(np.arange(rows), d["requests"]),
                           "diagnosis": np.where(d["truth"], "malignant", "benign")})
    return records, labels


def joined(seed: int, **kwargs: Any) -> pd.DataFrame:
    """The same draw as `outcomes.join(outcomes.frame(records), labels)` returns it."""
    d = _draw(seed, **kwargs)
    rows, requests = d["rows"], d["requests"]
    request = np.repeat(np.arange(requests), rows)
    to_b = d["to_b"][request]

    def part(says: np.ndarray, role: np.ndarray, served: bool) -> pd.DataFrame:
        p = np.where(says, 0.8, 0.2)
        return pd.DataFrame({
            "request_id": [f"req-{seed}-{r}" for r in request],
            "row": np.tile(np.arange(rows), requests),
            "ts": _stamp(d["times"][request]), "model": "model",
            "version": np.where(role == "champion", "v1", "v2"), "role": role,
            "served": served, "prediction": np.array(CLASSES)[says.astype(int)],
            "probabilities": list(np.stack([1 - p, p], axis=1)),
            "label": np.where(d["truth"], "malignant", "benign")})

    roles = np.where(to_b, "challenger", "champion")
    frames = [part(np.where(to_b, d["says_b"], d["says_a"]), roles, True)]
    if d["mode"] == "shadow":
        frames.append(part(d["says_b"], np.full(d["n"], "challenger"), False))
    df = pd.concat(frames, ignore_index=True)
    df.attrs["classes"] = CLASSES
    return df


def write(records: list[dict[str, Any]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path
