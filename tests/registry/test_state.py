"""GTO tag names and the registry state replayed from them, without git."""

from __future__ import annotations

import pytest

from gitops_ml.errors import UserError
from gitops_ml.registry.state import Registry
from gitops_ml.registry.tags import ASSIGN, DEREGISTER, REGISTER, UNASSIGN, parse

GTO_TAGS = ["model@v1.0.0", "model@v1.0.0!", "model#prod#3", "model#prod!#4",
            "nested=path/model@v2.10.1", "model@v1.0.0#7"]
NOT_GTO = ["v1.0.0", "model@1.0.0", "model#prod#x", "model@deprecated#2", "release-2024"]


def events(*specs: tuple[str, str, int]):
    """(tag, commit, date) triples -> TagEvents, in the given order."""
    return [parse(tag, commit=commit.ljust(40, "0"), created=created, message="")
            for tag, commit, created in specs]


@pytest.mark.parametrize("tag", GTO_TAGS)
def test_parse_reads_what_gto_reads(tag):
    from gto.constants import tag_re

    gto = tag_re.match(tag)
    ours = parse(tag, commit="0" * 40, created=0, message="")
    assert gto is not None and ours is not None
    assert (ours.version, ours.stage) == (gto["version"], gto["stage"])


@pytest.mark.parametrize(("tag", "kind"), [
    ("model@v1.0.0", REGISTER), ("model@v1.0.0!", DEREGISTER),
    ("model#prod#3", ASSIGN), ("model#prod!#4", UNASSIGN),
])
def test_parse_tells_the_four_actions_apart(tag, kind):
    assert parse(tag, commit="0" * 40, created=0, message="").kind == kind


@pytest.mark.parametrize("tag", NOT_GTO)
def test_parse_ignores_other_tags(tag):
    assert parse(tag, commit="0" * 40, created=0, message="") is None


def test_nested_artifact_names_use_gtos_separator():
    assert parse("nested=path/model@v2.10.1", commit="0" * 40, created=0,
                 message="").artifact == "nested:path/model"


def two_versions(*stage_tags: tuple[str, str, int]) -> Registry:
    return Registry("model", events(("model@v1.0.0", "a", 1), ("model@v1.1.0", "b", 2),
                                    *stage_tags))


def test_registry_versions_sort_by_semver_not_date():
    reg = Registry("model", events(("model@v1.10.0", "a", 1), ("model@v1.9.0", "b", 2)))
    assert list(reg.versions) == ["v1.9.0", "v1.10.0"]
    assert reg.latest().name == "v1.10.0"


def test_registry_latest_assignment_holds_the_stage():
    reg = two_versions(("model#prod#1", "a", 3), ("model#prod#2", "b", 4))
    assert reg.in_stage("prod").name == "v1.1.0"


def test_registry_counter_orders_assignments_made_in_one_second():
    reg = two_versions(("model#prod#2", "b", 3), ("model#prod#1", "a", 3))
    assert reg.in_stage("prod").name == "v1.1.0"


def test_registry_unassigning_hands_the_stage_back():
    reg = two_versions(("model#prod#1", "a", 3), ("model#prod#2", "b", 4),
                       ("model#prod!#3", "b", 5))
    assert reg.in_stage("prod").name == "v1.0.0"


def test_registry_stages_are_independent():
    reg = two_versions(("model#staging#1", "b", 3), ("model#prod#2", "a", 4))
    assert {s: v.name for s, v in reg.stages().items()} == {"prod": "v1.0.0",
                                                            "staging": "v1.1.0"}


def test_registry_previous_in_stage_is_the_rollback_target():
    reg = two_versions(("model#prod#1", "a", 3), ("model#prod#2", "b", 4))
    assert reg.previous_in_stage("prod").name == "v1.0.0"
    assert reg.previous_in_stage("staging") is None


def test_registry_rolling_back_a_rollback_returns_to_the_newer_version():
    reg = two_versions(("model#prod#1", "a", 3), ("model#prod#2", "b", 4),
                       ("model#prod#3", "a", 5))
    assert (reg.in_stage("prod").name, reg.previous_in_stage("prod").name) == ("v1.0.0",
                                                                               "v1.1.0")


def test_registry_deregistered_version_is_gone():
    reg = two_versions(("model@v1.1.0!", "b", 3))
    assert list(reg.versions) == ["v1.0.0"]
    with pytest.raises(UserError, match=r"model@v1.1.0: not registered \(registered: v1.0.0\)"):
        reg.version("v1.1.0")


def test_registry_ignores_assignments_of_unregistered_commits():
    reg = two_versions(("model#prod#1", "f", 3))
    assert reg.in_stage("prod") is None


def test_registry_ignores_other_artifacts():
    reg = Registry("model", events(("model@v1.0.0", "a", 1), ("other@v3.0.0", "b", 2),
                                   ("other#prod#1", "b", 3)))
    assert (list(reg.versions), reg.stages()) == (["v1.0.0"], {})
