"""Checks of the harness that need no Docker: stand-ins match the pins; pipelines.gitpush."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from harness import ACTIONS, Pin, pins, stand_in

from pipelines import gitpush

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_harness_has_a_stand_in_for_every_pinned_action(path: Path) -> None:
    for pin in pins(path.read_text()):
        assert re.fullmatch(r"[0-9a-f]{40}", pin.sha)
        assert stand_in(pin) == ACTIONS / pin.repo


def test_harness_stand_in_survives_a_dependabot_bump_within_a_major() -> None:
    # Dependabot rewrites the SHA and the version comment together
    text = (WORKFLOWS / "pr.yml").read_text()
    [first] = pins(text)[:1]
    bumped = re.sub(rf"{first.sha} # {first.major}\.\d+\.\d+",
                    f"{'f' * 40} # {first.major}.99.0", text, count=1)
    [moved] = pins(bumped)[:1]
    assert (moved.sha, moved.major) == ("f" * 40, first.major)
    assert stand_in(moved) == stand_in(first)


def test_harness_refuses_a_major_without_a_stand_in_and_an_unpinned_action() -> None:
    [first] = pins((WORKFLOWS / "pr.yml").read_text())[:1]
    with pytest.raises(AssertionError, match="no stand-in for that major"):
        stand_in(Pin(first.uses, first.sha, "v999"))
    with pytest.raises(AssertionError, match="not pinned to a commit"):
        pins(f"    - uses: {first.uses}@{first.major}\n")
    with pytest.raises(AssertionError, match="not pinned to a commit"):
        pins(f"    - uses: {first.uses}@{first.sha}\n")


def test_gitpush_puts_the_token_in_a_header_not_the_url() -> None:
    env = {"GH_TOKEN": "tok", "GITHUB_SERVER_URL": "https://ghe.example.com/",
           "GITHUB_REPOSITORY": "o/r", "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "a.b",
           "GIT_CONFIG_VALUE_0": "c"}
    cmd, out = gitpush.push_command(["refs/tags/m@v1"], env, force=True)
    assert cmd == ["git", "push", "--force", "https://ghe.example.com/o/r.git", "refs/tags/m@v1"]
    assert "tok" not in " ".join(cmd)
    assert out["GIT_CONFIG_COUNT"] == "2" and out["GIT_CONFIG_KEY_0"] == "a.b"
    assert out["GIT_CONFIG_KEY_1"] == "http.https://ghe.example.com/.extraheader"
    header = base64.b64encode(b"x-access-token:tok").decode()
    assert out["GIT_CONFIG_VALUE_1"] == f"AUTHORIZATION: basic {header}"


def test_gitpush_names_what_is_missing() -> None:
    with pytest.raises(ValueError, match="GH_TOKEN, GITHUB_REPOSITORY not set"):
        gitpush.push_command(["x"], {"GITHUB_SERVER_URL": "https://github.com"})


def test_comment_job_pins_cml_and_installs_no_vega_tools() -> None:
    import yaml

    steps = yaml.safe_load((WORKFLOWS / "pr-comment.yml").read_text())["jobs"]["comment"]["steps"]
    [cml] = [s for s in steps if s.get("uses", "").startswith("iterative/setup-cml@")]
    assert cml["with"] == {"version": "v0.20.6", "vega": False}


def test_harness_tag_push_starts_promote_only_for_its_stage_tags() -> None:
    from flows import starts_on_tag_push

    text = (WORKFLOWS / "promote.yml").read_text()
    assert starts_on_tag_push(text, "model#prod#3")
    assert starts_on_tag_push(text, "nested/dir=model#staging#1")
    assert not starts_on_tag_push(text, "model@v1.0.0")
    assert not starts_on_tag_push(text, "model#canary#1")     # README: add it to listen
    assert not starts_on_tag_push("on: {push: {tags: ['v*', '!v0*']}}", "v0.1")
