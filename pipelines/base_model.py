"""The base's model and splits for the same-row comparison: from the DVC cache, else reproduced.

The merge-base's dvc.lock names the content hash of its model and of its train and test splits.
In order, the PR job takes them from:

1. the local DVC cache (restored from CI's cache, or left by an earlier run);
2. the DVC remote (`dvc fetch` of the base's stages), when this job may use it (`remote.py`);
3. a reproduction of the merge-base in a separate git worktree that shares this checkout's DVC
   cache, so its run-cache restores every stage it has seen (a fork's pull request, which gets
   no secrets, lands here). The worktree runs the base's code (its `src/` first on PYTHONPATH).

The report says which one it was.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gitops_ml.config import parse_yaml
from gitops_ml.errors import UserError
from gitops_ml.report import commits
from pipelines import dvc_paths, repro

# The files the comparison needs, as dvc.yaml's stages pass them: (stage, flag).
NEEDED = {"model": ("train", "--out"), "train": ("split", "--train"),
          "test": ("split", "--test"), "data": ("ingest", "--out")}


@dataclass(frozen=True)
class Artifacts:
    """Local copies of one commit's model and splits, and where they came from."""

    model: Path
    train: Path
    test: Path
    data_md5: str | None         # of the ingested table: did the data change?
    source: str                  # for the report: "the DVC cache", ...


def lock_hashes(lock_text: str | None) -> dict[str, str]:
    """Each output path of a dvc.lock and its md5."""
    try:
        lock = parse_yaml(lock_text or "") or {}
    except Exception:  # noqa: BLE001 (an unreadable lock has no hashes; the caller says so)
        return {}
    stages = lock.get("stages") if isinstance(lock, dict) else None
    out: dict[str, str] = {}
    for stage in (stages or {}).values():
        for item in (stage or {}).get("outs") or []:
            if isinstance(item, dict) and isinstance(item.get("md5"), str):
                out[str(item.get("path"))] = item["md5"]
    return out


def needed_paths(dvc_yaml_text: str, where: str) -> dict[str, str]:
    """The model, split and data paths a dvc.yaml's stages pass."""
    stages = dvc_paths.stage_paths(dvc_yaml_text, where)
    return {name: dvc_paths.path(stages, stage, flag, where)
            for name, (stage, flag) in NEEDED.items()}


def cache_dir(root: Path) -> Path:
    """This checkout's DVC cache directory, as DVC resolves it (`cache.dir` or `.dvc/cache`)."""
    out = subprocess.run(repro.dvc(["cache", "dir"]), cwd=root, capture_output=True, text=True,
                         check=False)
    text = out.stdout.strip().splitlines()
    return Path(text[-1]) if out.returncode == 0 and text else root / ".dvc" / "cache"


def cached(cache: Path, md5: str | None) -> Path | None:
    """The cache file of a content hash (DVC 3's layout, then DVC 2's), or None."""
    if not md5 or ".dir" in md5:
        return None
    for candidate in (cache / "files" / "md5" / md5[:2] / md5[2:], cache / md5[:2] / md5[2:]):
        if candidate.is_file():
            return candidate
    return None


def _from_cache(cache: Path, paths: dict[str, str], hashes: dict[str, str], into: Path,
                source: str) -> Artifacts | None:
    found = {name: cached(cache, hashes.get(paths[name])) for name in ("model", "train", "test")}
    if any(p is None for p in found.values()):
        return None
    return _copy(found, paths, into, hashes.get(paths["data"]), source)


def _copy(found: dict[str, Path | None], paths: dict[str, str], into: Path,
          data_md5: str | None, source: str) -> Artifacts:
    """Copies named with the declared paths' suffixes (a cache file has none; readers need it)."""
    into.mkdir(parents=True, exist_ok=True)
    copies = {}
    for name, path in found.items():
        assert path is not None
        copies[name] = into / f"{name}{Path(paths[name]).suffix}"
        shutil.copyfile(path, copies[name])
    return Artifacts(copies["model"], copies["train"], copies["test"], data_md5, source)


def in_workspace(root: Path, paths: dict[str, str], lock_text: str | None, cache: Path,
                 into: Path) -> Artifacts | None:
    """This PR's model and splits: as the pipeline left them, else from the cache by its lock."""
    hashes = lock_hashes(lock_text)
    found = {name: root / paths[name] for name in ("model", "train", "test")}
    if all(p.is_file() for p in found.values()):
        return Artifacts(found["model"], found["train"], found["test"],
                         hashes.get(paths["data"]), "the workspace")
    return _from_cache(cache, paths, hashes, into, "the DVC cache")


def _md5(path: Path) -> str:
    """A file's MD5, as DVC 3 names a file's content."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def of_head(root: Path, paths: dict[str, str], lock_text: str | None, cache: Path, into: Path,
            *, pull: bool) -> Artifacts:
    """This PR's model and splits: `in_workspace`, else reproduced in this checkout.

    A pull request whose results are committed and up to date reproduces nothing, and a fresh
    checkout (CI, or a fork's job without the DVC cache) then has no model or splits: they come
    from `dvc repro` of the model's stage here (pulling what the remote has, when it may be
    used), which rebuilds exactly what the committed dvc.lock records. Raises UserError saying
    why when it cannot.
    """
    found = in_workspace(root, paths, lock_text, cache, into)
    if found is not None:
        return found
    stage = NEEDED["model"][0]
    out = _run(repro.dvc(["repro", "--pull", stage] if pull else ["repro", stage]), root)
    if out.returncode != 0:
        raise UserError("this PR's model is neither in the workspace nor in the DVC cache, and "
                        "reproducing it failed: "
                        + repro.error_tail(out.stdout + out.stderr)[-500:])
    found = in_workspace(root, paths, lock_text, cache, into)
    if found is None:
        raise UserError("this PR's model or splits are missing after `dvc repro "
                        f"{stage}`")
    return found


def same_file(a: Path, b: Path) -> bool:
    """Whether two files hold the same bytes (compared by MD5, as DVC names its outputs)."""
    return a.stat().st_size == b.stat().st_size and _md5(a) == _md5(b)


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None,
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False, env=env)


def of_base(base_sha: str, root: Path, into: Path, *, pull: bool, cache: Path) -> Artifacts:
    """The merge-base's model and splits, copied into `into`; raises UserError saying why not."""
    lock = commits.show(base_sha, "dvc.lock", root)
    dvc_yaml = commits.show(base_sha, "dvc.yaml", root)
    if lock is None or dvc_yaml is None:
        raise UserError(f"the base {base_sha[:7]} has no dvc.lock or dvc.yaml")
    paths = needed_paths(dvc_yaml, f"{base_sha[:7]}:dvc.yaml")
    hashes = lock_hashes(lock)
    found = _from_cache(cache, paths, hashes, into, "the DVC cache")
    if found is not None:
        return found
    with tempfile.TemporaryDirectory(prefix="gitops-ml-base-") as tmp:
        tree = Path(tmp) / "base"
        added = _run(["git", "worktree", "add", "--detach", str(tree), base_sha], root)
        if added.returncode != 0:
            raise UserError(f"could not check out the base {base_sha[:7]}: "
                            f"{added.stderr.strip()[-300:]}")
        try:
            # One cache for both checkouts: what the worktree fetches or reproduces lands in it,
            # and its run-cache (cache/runs) restores every stage it has already seen.
            (tree / ".dvc" / "config.local").write_text(f"[cache]\n    dir = {cache}\n")
            if pull:
                _run(repro.dvc(["fetch", "--run-cache", "train", "split"]), tree)
                found = _from_cache(cache, paths, hashes, into, "the DVC remote")
                if found is not None:
                    return found
            _tracked_data(tree, root, pull)
            return _reproduce(tree, paths, hashes, into)
        finally:
            _run(["git", "worktree", "remove", "--force", str(tree)], root)


def _tracked_outs(tree: Path, rel: str) -> list[tuple[str, str | None]]:
    """Each output a `.dvc` file names (relative to the worktree) and its recorded md5."""
    doc = parse_yaml((tree / rel).read_text()) or {}
    outs = doc.get("outs") if isinstance(doc, dict) else None
    return [(str((Path(rel).parent / str(out.get("path"))).as_posix()),
             out.get("md5") if isinstance(out.get("md5"), str) else None)
            for out in outs or [] if isinstance(out, dict)]


def _tracked_data(tree: Path, root: Path, pull: bool) -> None:
    """Bring the base's `dvc add`-tracked data into its worktree, as `pipelines.pr` does for the
    PR's checkout (`repro.materialise_tracked_data`).

    A worktree holds only what git tracks. A file the PR's checkout already has with the md5 the
    base's `.dvc` file records (the data did not change) is copied from there: the cache need not
    hold it (`dvc add` data in a checkout whose cache CI did not restore). The rest is pulled from
    the DVC remote when this job may use it, else checked out from the shared cache; raises
    UserError naming the `.dvc` file when neither has it.
    """
    for rel in repro.missing_tracked_data(tree):
        for path, md5 in _tracked_outs(tree, rel):
            here, there = root / path, tree / path
            if md5 and ".dir" not in md5 and not there.exists() and here.is_file() \
                    and _md5(here) == md5:
                there.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(here, there)
    try:
        repro.materialise_tracked_data(tree, pull, "the merge-base's worktree")
    except RuntimeError as exc:
        raise UserError(f"reproducing the base: {exc}") from None


def _reproduce(tree: Path, paths: dict[str, str], hashes: dict[str, str],
               into: Path) -> Artifacts:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(tree / "src"), str(tree)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    out = _run(repro.dvc(["repro", NEEDED["model"][0]]), tree, env)
    if out.returncode != 0:
        raise UserError("reproducing the base failed: "
                        + repro.error_tail(out.stdout + out.stderr)[-500:])
    ran, _ = repro.parse_output(out.stdout)
    restored = repro.parse_cached(out.stdout)
    found = {name: tree / paths[name] for name in ("model", "train", "test")}
    missing = [str(p) for p in found.values() if not p.is_file()]
    if missing:
        raise UserError(f"reproducing the base left no {', '.join(missing)}")
    how = (f"a reproduction of the merge-base in a separate worktree (stages run: "
           f"{', '.join(ran) or 'none'}; restored from the run-cache: "
           f"{', '.join(restored) or 'none'})")
    return _copy(dict(found), paths, into, hashes.get(paths["data"]), how)
