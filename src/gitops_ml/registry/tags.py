"""Read GTO's tags from git: which versions were registered and which stages were assigned.

GTO writes annotated tags named `<artifact>@v<semver>` (registration), `<artifact>#<stage>#<n>`
(stage assignment), and `!` variants that cancel either (`model@v1.0.0!`, `model#prod!#4`); see
the tag regex in gto/constants.py. Reading them here with one `git for-each-ref` costs
milliseconds where importing GTO costs seconds, and gives the tag messages that hold our records.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gitops_ml.errors import UserError

NAME = r"[a-zA-Z0-9](?:[a-zA-Z0-9\-/_]*[a-zA-Z0-9])?"
SEMVER = r"v(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
TAG_RE = re.compile(
    rf"^(?P<artifact>(?:[a-zA-Z0-9\-_./]+=)?{NAME})"
    rf"(?:#(?P<stage>{NAME})|@(?P<version>{SEMVER}))(?P<cancel>!?)(?:#(?P<counter>[0-9]+))?$"
)
VERSION_RE = re.compile(rf"^{SEMVER}$")
STAGE_RE = re.compile(rf"^{NAME}$")

REGISTER, DEREGISTER, ASSIGN, UNASSIGN = "register", "deregister", "assign", "unassign"


@dataclass(frozen=True)
class TagEvent:
    """One GTO tag: what it did, to which artifact, when, and the commit it points at."""

    tag: str
    artifact: str
    kind: str                   # register | deregister | assign | unassign
    version: str | None         # set for (de)registrations
    stage: str | None           # set for (un)assignments
    counter: int                # GTO's per-artifact counter; 0 for simple tags
    commit: str
    created: int                # tagger date, Unix seconds
    message: str
    tagger: str = ""            # tagger e-mail: who made the tag (the main workflow's bot?)

    @property
    def order(self) -> tuple[int, int]:
        """GTO orders events by tag date; the counter breaks ties within one second."""
        return (self.created, self.counter)


def version_key(version: str) -> tuple[int, int, int]:
    """`v1.2.3` -> (1, 2, 3); a clear error for anything else."""
    match = VERSION_RE.match(version)
    if not match:
        raise UserError(f"version: expected vMAJOR.MINOR.PATCH (e.g. v1.2.0), got {version!r}")
    return int(match["major"]), int(match["minor"]), int(match["patch"])


def parse(tag: str, *, commit: str, created: int, message: str,
          tagger: str = "") -> TagEvent | None:
    """A TagEvent for a GTO tag name; None for any other tag (releases, pre-release versions)."""
    match = TAG_RE.match(tag)
    if not match:
        return None
    cancel = match["cancel"] == "!"
    if match["version"]:
        kind = DEREGISTER if cancel else REGISTER
    else:
        kind = UNASSIGN if cancel else ASSIGN
    return TagEvent(
        tag=tag, artifact=match["artifact"].replace("=", ":"), kind=kind,
        version=match["version"], stage=match["stage"], counter=int(match["counter"] or 0),
        commit=commit, created=created, message=message, tagger=tagger,
    )


# Fields separated by NUL, records ended by NUL + newline: git messages cannot contain NUL.
_FORMAT = "%00".join(["%(refname:strip=2)", "%(objecttype)", "%(*objectname)",
                      "%(taggerdate:unix)", "%(taggeremail:trim)", "%(contents)"]) + "%00"


def read(repo: Path) -> list[TagEvent]:
    """Every GTO tag in `repo`. Lightweight tags are skipped: GTO dates events by the tagger."""
    try:
        out = subprocess.run(["git", "for-each-ref", f"--format={_FORMAT}", "refs/tags"],
                             cwd=repo, capture_output=True, text=True, check=True, timeout=60)
    except FileNotFoundError:
        raise UserError("git: not found on PATH") from None
    except subprocess.CalledProcessError as exc:
        raise UserError(f"--repo {repo}: not a git repository ({exc.stderr.strip()})") from None
    events = []
    for record in out.stdout.split("\0\n"):
        if not record.strip():
            continue
        name, objtype, commit, created, tagger, message = record.split("\0")
        if objtype != "tag" or not created:
            continue
        event = parse(name, commit=commit, created=int(created), message=message, tagger=tagger)
        if event is not None:
            events.append(event)
    return events
