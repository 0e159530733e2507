"""The registry's state, replayed from GTO tag events: versions, and which one each stage holds."""

from __future__ import annotations

from dataclasses import dataclass

from gitops_ml.errors import UserError
from gitops_ml.registry.record import Record
from gitops_ml.registry.tags import ASSIGN, DEREGISTER, REGISTER, UNASSIGN, TagEvent, version_key


@dataclass(frozen=True)
class Version:
    """A registered version: its tag, commit and record (None if registered without one)."""

    name: str
    commit: str
    tag: str
    created: int
    record: Record | None
    tagger: str = ""            # e-mail of whoever made the registration tag

    @property
    def image(self) -> str | None:
        return self.record.image if self.record else None


@dataclass(frozen=True)
class Assignment:
    """One stage event, in the order GTO applies them."""

    stage: str
    version: str
    tag: str
    created: int
    removed: bool     # an unassignment (`model#prod!#4`)


class Registry:
    """Versions and stages of one artifact. The latest assignment of a stage wins; unassigning
    it hands the stage back to the assignment before."""

    def __init__(self, artifact: str, events: list[TagEvent]) -> None:
        self.artifact = artifact
        mine = sorted((e for e in events if e.artifact == artifact), key=lambda e: e.order)
        versions: dict[str, Version] = {}
        for e in mine:
            if e.kind == REGISTER and e.version:
                versions[e.version] = Version(e.version, e.commit, e.tag, e.created,
                                              _record(e), e.tagger)
            elif e.kind == DEREGISTER and e.version:
                versions.pop(e.version, None)
        self.versions = dict(sorted(versions.items(), key=lambda kv: version_key(kv[0])))
        by_commit: dict[str, list[str]] = {}
        for v in self.versions.values():
            by_commit.setdefault(v.commit, []).append(v.name)
        self.assignments: list[Assignment] = []
        for e in mine:
            if e.kind in (ASSIGN, UNASSIGN) and e.stage:
                # GTO ties an assignment to the version registered on the tagged commit.
                names = by_commit.get(e.commit, [])
                if len(names) != 1:
                    continue   # unregistered or ambiguous commit: GTO ignores it as well
                self.assignments.append(Assignment(e.stage, names[0], e.tag, e.created,
                                                   e.kind == UNASSIGN))

    def latest(self) -> Version | None:
        """The highest registered version."""
        return next(reversed(self.versions.values()), None)

    def version(self, name: str) -> Version:
        try:
            return self.versions[name]
        except KeyError:
            known = ", ".join(self.versions) or "none"
            raise UserError(f"{self.artifact}@{name}: not registered (registered: {known})"
                            ) from None

    def history(self, stage: str) -> list[Assignment]:
        """The assignments and unassignments of `stage`, oldest first."""
        return [a for a in self.assignments if a.stage == stage]

    def _held(self, stage: str, upto: int | None = None) -> list[str]:
        held: list[str] = []
        for a in self.history(stage)[:upto]:
            if a.version in held:
                held.remove(a.version)
            if not a.removed:
                held.append(a.version)
        return held

    def in_stage(self, stage: str) -> Version | None:
        """The version `stage` holds now, or None."""
        held = self._held(stage)
        return self.versions[held[-1]] if held else None

    def stages(self) -> dict[str, Version]:
        """Every stage that holds a version, by stage name."""
        names = sorted({a.stage for a in self.assignments})
        return {s: v for s in names if (v := self.in_stage(s)) is not None}

    def previous_in_stage(self, stage: str) -> Version | None:
        """The version `stage` held before its current one: the target of a rollback."""
        current = self.in_stage(stage)
        if current is None:
            return None
        hist = self.history(stage)
        for upto in range(len(hist) - 1, -1, -1):
            held = self._held(stage, upto)
            if held and held[-1] != current.name:
                return self.versions[held[-1]]
        return None

    def assignment(self, tag: str) -> Assignment:
        """The assignment a stage tag made."""
        for a in self.assignments:
            if a.tag == tag:
                return a
        raise UserError(f"{tag}: not a stage assignment of a registered {self.artifact} version")


def _record(event: TagEvent) -> Record | None:
    try:
        return Record.from_message(event.message)
    except (ValueError, TypeError) as exc:
        raise UserError(f"{event.tag}: the record in its message is malformed ({exc})") from None
