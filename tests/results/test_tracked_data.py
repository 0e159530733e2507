"""`dvc add`-tracked data in a fresh checkout: pipelines.pr brings it before the fingerprint reads
it (pulled from the DVC remote, else checked out from the local DVC cache), or says why not."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from repo_tools import sh

from pipelines import repro

pytestmark = pytest.mark.e2e
DVC = [sys.executable, "-m", "dvc"]


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository whose `data/table.csv` is tracked with `dvc add` and pushed to a local
    DVC remote (`storage`, its default). Read-only: tests clone it."""
    tmp_path = tmp_path_factory.mktemp("tracked")
    repo = tmp_path / "origin"
    (repo / "data").mkdir(parents=True)
    sh(["git", "init", "-q", "-b", "main"], repo)
    sh([*DVC, "init", "--quiet"], repo)
    (repo / "data" / "table.csv").write_text("x,y\n1,2\n3,4\n")
    sh([*DVC, "add", "--quiet", "data/table.csv"], repo)
    sh([*DVC, "remote", "add", "-d", "storage", str(tmp_path / "storage")], repo)
    sh(["git", "add", "-A"], repo)
    sh(["git", "commit", "-qm", "data"], repo)
    sh([*DVC, "push", "--quiet"], repo)
    return repo


def _clone(origin: Path, dest: Path) -> Path:
    sh(["git", "clone", "-q", str(origin), str(dest)], origin.parent)
    return dest


def test_tracked_data_missing_from_the_cache_fails_naming_the_dvc_file(origin: Path,
                                                                       tmp_path: Path) -> None:
    clone = _clone(origin, tmp_path / "clone")       # no DVC cache, the remote not to be used
    assert repro.missing_tracked_data(clone) == ["data/table.csv.dvc"]
    with pytest.raises(RuntimeError, match=r"data tracked by data/table.csv.dvc is not in this "
                                           r"checkout .* from the local DVC cache \(a fork\)"):
        repro.materialise_tracked_data(clone, pull=False, why="a fork")
    assert not (clone / "data" / "table.csv").exists()


def test_tracked_data_is_pulled_from_the_remote(origin: Path, tmp_path: Path) -> None:
    clone = _clone(origin, tmp_path / "clone")
    assert repro.materialise_tracked_data(clone, pull=True, why="") == ("data/table.csv.dvc",)
    assert (clone / "data" / "table.csv").read_text() == "x,y\n1,2\n3,4\n"
    assert repro.missing_tracked_data(clone) == []
    assert repro.materialise_tracked_data(clone, pull=True, why="") == ()   # nothing to do


def test_tracked_data_is_checked_out_from_a_restored_cache(origin: Path, tmp_path: Path) -> None:
    clone = _clone(origin, tmp_path / "clone")
    # what pr.yml's actions/cache step restores: the DVC cache main saved
    shutil.copytree(origin / ".dvc" / "cache", clone / ".dvc" / "cache")
    assert repro.materialise_tracked_data(clone, pull=False, why="") == ("data/table.csv.dvc",)
    assert (clone / "data" / "table.csv").read_text() == "x,y\n1,2\n3,4\n"
