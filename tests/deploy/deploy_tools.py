"""Constants and helpers for the deploy/ manifest tests (conftest holds the fixtures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[2]
IMAGE = "ghcr.io/acme/churn@sha256:" + "a" * 64
VERSION = "v1.2.0"
STAGES = ("staging", "prod")


def by_kind(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds = [o["kind"] for o in objects]
    assert len(kinds) == len(set(kinds)), kinds
    return {o["kind"]: o for o in objects}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """matchLabels semantics: every selector pair is among the labels (and it selects something)."""
    match = selector["matchLabels"]
    return bool(match) and set(selector) == {"matchLabels"} and match.items() <= labels.items()
