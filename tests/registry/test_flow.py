"""Register, promote, roll back and resolve in a temporary git repo, through the real GTO tags."""

from __future__ import annotations

import json
import time

import pytest
from conftest import (
    DIGEST_A,
    DIGEST_B,
    META,
    REPOSITORY,
    ModelRepo,
    apply,
    git,
    meta,
    registry,
    tiny_onnx,
)

from pipelines import promote, register


def outputs(path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def which(repo: ModelRepo, stage: str, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    capsys.readouterr()
    assert registry(repo, "which", stage, "--json") == 0
    return json.loads(capsys.readouterr().out)


def test_register_plan_outputs_and_stamps_the_version(model_repo, tmp_path, monkeypatch):
    out = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    assert register.main(["plan", *model_repo.args(), "--stamp"]) == 0
    assert outputs(out) == {"version": "v1.0.0", "bump": "initial", "register": "true",
                            "tag": "model@v1.0.0", "reason": "first registered version"}
    stamped = json.loads((model_repo.root / "models" / "model.json").read_text())
    assert stamped["version"] == "v1.0.0"


def test_register_reads_the_metadata_where_dvc_yaml_exports_it(model_repo, tmp_path,
                                                               monkeypatch, capsys):
    # no --meta: the path export's command writes in dvc.yaml, so a team that moves the
    # metadata moves it in one place (main.yml's register job passes none)
    dvc_yaml = model_repo.root / "dvc.yaml"
    dvc_yaml.write_text(dvc_yaml.read_text().replace("models/model.json", "build/model.json"))
    (model_repo.root / "build").mkdir()
    (model_repo.root / "models" / "model.json").rename(model_repo.root / "build" / "model.json")
    out = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    paths = ["--repo", str(model_repo.root), "--dvc-yaml", str(dvc_yaml)]
    assert register.main(["plan", *paths, "--stamp"]) == 0
    assert outputs(out)["version"] == "v1.0.0"
    stamped = json.loads((model_repo.root / "build" / "model.json").read_text())
    assert stamped["version"] == "v1.0.0"
    # dvc.yaml without the flag: an error naming the stage and the flag, nothing registered
    dvc_yaml.write_text(dvc_yaml.read_text().replace("--meta build/model.json", ""))
    capsys.readouterr()
    assert register.main(["plan", *paths]) == 2
    assert "stages.export.cmd passes no declared path as --meta" in capsys.readouterr().err


def test_register_apply_records_the_image_digest_in_the_tag(model_repo):
    assert apply(model_repo, "v1.0.0", DIGEST_A) == 0
    message = git(model_repo.root, "tag", "-l", "--format=%(contents)", "model@v1.0.0")
    assert f"{REPOSITORY}@{DIGEST_A}" in message
    assert git(model_repo.root, "cat-file", "-t", "model@v1.0.0") == "tag"   # annotated


def test_register_unchanged_model_registers_nothing(two_versions, tmp_path, monkeypatch):
    out = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    assert register.main(["plan", *two_versions.args()]) == 0
    assert outputs(out)["register"] == "false"
    assert outputs(out)["version"] == "v1.1.0"


def test_register_apply_stale_version_fails_without_tagging(two_versions, capsys):
    two_versions.write_model(meta(metrics={"accuracy": 0.8}), tiny_onnx(2.0))
    assert apply(two_versions, "v1.1.0", DIGEST_A) == 2
    assert "the next version is now v1.1.1" in capsys.readouterr().err
    assert "model@v1.1.1" not in git(two_versions.root, "tag", "--list")


def test_register_schema_change_registers_the_next_major(two_versions):
    renamed = meta(features=[{**META["features"][0], "name": "months"}, META["features"][1]])
    two_versions.write_model(renamed, tiny_onnx(2.0))
    two_versions.commit("rename a feature")
    assert apply(two_versions, "v2.0.0", DIGEST_A) == 0


def test_promote_then_rollback_redeploys_the_earlier_digest(two_versions, capsys):
    assert registry(two_versions, "assign", "v1.0.0", "prod") == 0
    assert registry(two_versions, "assign", "v1.1.0", "prod") == 0
    assert which(two_versions, "prod", capsys) == {
        "artifact": "model", "stage": "prod", "version": "v1.1.0",
        "image": f"{REPOSITORY}@{DIGEST_B}"}

    assert registry(two_versions, "rollback", "prod") == 0
    assert which(two_versions, "prod", capsys)["image"] == f"{REPOSITORY}@{DIGEST_A}"
    assert promote.resolve(two_versions.root, two_versions.root / "dvc.yaml",
                           "model#prod#3") == {
        "artifact": "model", "stage": "prod", "version": "v1.0.0",
        "image": f"{REPOSITORY}@{DIGEST_A}", "deploy": "true"}


def test_promote_gto_agrees_on_the_stage_after_rollback(two_versions):
    from gto import api

    # GTO orders assignments by tag date, to the second (ours breaks ties by GTO's counter), so
    # space them out as people and CI do.
    registry(two_versions, "assign", "v1.0.0", "prod")
    time.sleep(1.1)
    registry(two_versions, "assign", "v1.1.0", "prod")
    time.sleep(1.1)
    registry(two_versions, "rollback", "prod")
    # `gto show model#prod`: the latest assignment by date wins (its default --sort timestamp)
    [held] = api.show(str(two_versions.root), "model#prod")
    assert held["version"] == "v1.0.0"


def test_promote_superseded_tag_does_not_deploy(two_versions, tmp_path, monkeypatch):
    registry(two_versions, "assign", "v1.0.0", "staging")
    registry(two_versions, "assign", "v1.1.0", "staging")
    out = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    assert promote.main(["--repo", str(two_versions.root), "--dvc-yaml",
                         str(two_versions.root / "dvc.yaml"), "--tag", "model#staging#1"]) == 0
    assert outputs(out)["deploy"] == "false"


@pytest.mark.parametrize(("tag", "message"), [
    ("model@v1.0.0", "not a GTO stage assignment tag"),
    ("model#prod!#2", "not a GTO stage assignment tag"),
    ("other#prod#1", "artifact 'other' is not the one"),
    ("model#prod#9", "model#prod#9: not a stage assignment of a registered model version"),
])
def test_promote_rejects_tags_it_cannot_deploy(two_versions, capsys, tag, message):
    assert promote.main(["--repo", str(two_versions.root), "--dvc-yaml",
                         str(two_versions.root / "dvc.yaml"), "--tag", tag]) == 2
    assert message in capsys.readouterr().err


def test_promote_version_without_recorded_image_is_an_error(model_repo, capsys):
    from gto import api

    api.register(str(model_repo.root), "model", "HEAD", version="v1.0.0")   # plain gto
    api.assign(str(model_repo.root), "model", "prod", version="v1.0.0")
    assert promote.main(["--repo", str(model_repo.root), "--dvc-yaml",
                         str(model_repo.root / "dvc.yaml"), "--tag", "model#prod#1"]) == 2
    assert "model@v1.0.0: no image digest recorded" in capsys.readouterr().err


def test_registry_list_shows_versions_stages_and_images(two_versions, capsys):
    registry(two_versions, "assign", "v1.1.0", "staging")
    capsys.readouterr()
    assert registry(two_versions, "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["stages"] == {"staging": "v1.1.0"}
    assert [(v["version"], v["image"], v["stages"]) for v in listed["versions"]] == [
        ("v1.0.0", f"{REPOSITORY}@{DIGEST_A}", []),
        ("v1.1.0", f"{REPOSITORY}@{DIGEST_B}", ["staging"])]


def test_registry_rollback_without_history_is_a_clear_error(two_versions, capsys):
    registry(two_versions, "assign", "v1.1.0", "prod")
    assert registry(two_versions, "rollback", "prod") == 2
    assert "stage 'prod': no earlier version to roll back to" in capsys.readouterr().err


def test_registry_assign_unregistered_version_is_a_clear_error(two_versions, capsys):
    assert registry(two_versions, "assign", "v3.0.0", "prod") == 2
    assert "model@v3.0.0: not registered (registered: v1.0.0, v1.1.0)" in capsys.readouterr().err
