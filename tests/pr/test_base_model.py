"""The merge-base's model and splits (`pipelines.base_model`) when the base must be reproduced and
its data is tracked with `dvc add`: a worktree holds only what git tracks, so the data is brought
in as `pipelines.pr` brings the PR's (tests/results/test_tracked_data.py)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from prtools import commit, sh

from gitops_ml.errors import UserError
from pipelines import base_model

pytestmark = pytest.mark.e2e
DVC = [sys.executable, "-m", "dvc"]

# A pipeline of the shape base_model reads (stage names and flags as NEEDED), each stage a copy
# of its input, so the test exercises DVC and git, not the model.
STAGE = """
import shutil, sys
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
src = args.pop("--in")
for out in args.values():
    shutil.copyfile(src, out)
"""
DVC_YAML = """
stages:
  ingest:
    cmd: {py} stage.py --in data/table.csv --out data/raw.csv
    deps: [stage.py, data/table.csv]
    outs: [data/raw.csv]
  split:
    cmd: {py} stage.py --in data/raw.csv --train data/train.csv --test data/test.csv
    deps: [stage.py, data/raw.csv]
    outs: [data/train.csv, data/test.csv]
  train:
    cmd: {py} stage.py --in data/train.csv --out models/model.bin
    deps: [stage.py, data/train.csv]
    outs: [models/model.bin]
"""


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    """main with `data/table.csv` tracked by `dvc add` and its results; a PR commit on top.
    Returns the repo and main's commit."""
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "models").mkdir()
    sh(["git", "init", "-q", "-b", "main"], repo)
    sh([*DVC, "init", "--quiet"], repo)
    (repo / "stage.py").write_text(STAGE)
    (repo / "dvc.yaml").write_text(DVC_YAML.format(py=sys.executable))
    (repo / "data" / "table.csv").write_text("x,y\n1,2\n3,4\n")
    sh([*DVC, "add", "--quiet", "data/table.csv"], repo)
    sh([*DVC, "repro", "--quiet"], repo)
    main = commit(repo, "data and results")
    sh(["git", "checkout", "-qb", "pr"], repo)
    (repo / "notes.md").write_text("a change\n")
    commit(repo, "a pull request")
    return repo, main


def test_base_with_dvc_add_data_is_reproduced_without_the_cache(repo: tuple[Path, str],
                                                                tmp_path: Path) -> None:
    # a fork's pull request whose DVC cache CI did not restore: the PR's checkout has the data
    # (brought by pipelines.pr), the cache has nothing, the remote may not be used
    root, main = repo
    shutil.rmtree(root / ".dvc" / "cache")
    cache = base_model.cache_dir(root)
    found = base_model.of_base(main, root, tmp_path / "base", pull=False, cache=cache)
    assert found.source.startswith("a reproduction of the merge-base in a separate worktree")
    assert found.model.read_text() == "x,y\n1,2\n3,4\n"
    assert found.test.read_text() == "x,y\n1,2\n3,4\n"
    assert len(sh(["git", "worktree", "list"], root).stdout.splitlines()) == 1


def test_base_data_neither_here_nor_cached_fails_naming_the_dvc_file(repo: tuple[Path, str],
                                                                     tmp_path: Path) -> None:
    # the PR replaced the data: the base's version is in no checkout, and the cache is gone
    root, main = repo
    (root / "data" / "table.csv").write_text("x,y\n5,6\n")
    shutil.rmtree(root / ".dvc" / "cache")
    with pytest.raises(UserError, match=r"reproducing the base: data tracked by "
                                        r"data/table.csv.dvc is not in this checkout"):
        base_model.of_base(main, root, tmp_path / "base", pull=False,
                           cache=base_model.cache_dir(root))
