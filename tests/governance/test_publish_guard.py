"""main.yml publishes only from the default branch: pipelines.publish_guard."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def run(tmp_path: Path, ref: str | None, event: dict | None) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin"}
    if ref is not None:
        env["GITHUB_REF"] = ref
    if event is not None:
        path = tmp_path / "event.json"
        path.write_text(json.dumps(event))
        env["GITHUB_EVENT_PATH"] = str(path)
    return subprocess.run([sys.executable, "-m", "pipelines.publish_guard"], cwd=PROJECT,
                          env=env, capture_output=True, text=True, timeout=60)


def test_publish_guard_passes_on_the_default_branch(tmp_path):
    done = run(tmp_path, "refs/heads/trunk", {"repository": {"default_branch": "trunk"}})
    assert (done.returncode, done.stdout) == (0, "publish_guard: on the default branch (trunk)\n")


def test_publish_guard_stops_a_dispatch_on_another_branch(tmp_path):
    done = run(tmp_path, "refs/heads/feature", {"repository": {"default_branch": "main"}})
    assert done.returncode == 1
    assert done.stderr == ("::error::publish_guard: refs/heads/feature is not the default branch "
                           "refs/heads/main: this workflow publishes only from the default "
                           "branch\n")


def test_publish_guard_stops_a_tag_ref(tmp_path):
    done = run(tmp_path, "refs/tags/main", {"repository": {"default_branch": "main"}})
    assert done.returncode == 1


def test_publish_guard_without_github_context_exits_2(tmp_path):
    done = run(tmp_path, None, None)
    assert done.returncode == 2
    assert "GITHUB_REF and GITHUB_EVENT_PATH: not set" in done.stderr


def test_publish_guard_with_an_event_lacking_the_default_branch_exits_2(tmp_path):
    done = run(tmp_path, "refs/heads/main", {"repository": {}})
    assert done.returncode == 2
    assert "no repository.default_branch" in done.stderr
