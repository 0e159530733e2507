"""The project's identity (project.yaml): the one file that names the project, model and image."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from gitops_ml.errors import UserError

# A DNS-label-like name: valid as a GTO artifact (tags `<model>@v1.2.0`), an image name on GHCR
# and a Kubernetes object name.
NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
IMAGE = re.compile(r"^[a-z0-9.-]+(?::[0-9]+)?(?:/[a-z0-9._-]+)+$")
PYTHON = re.compile(r"^3\.[0-9]{1,2}$")
HEADER = (
    "# Who this project is, in one place. `gitops-ml init` writes this file and, from it, the names"
    " in\n"
    "# dvc.yaml (the model artifact and `export --name`), the README header and"
    " docs/intended_use.md.\n"
    "# The workflows take the owner and the image from the GitHub context when these are left"
    " empty,\n"
    "# so a fork that changes nothing still publishes to its own namespace.\n"
)


def check_name(value: str, key: str) -> str:
    """A project or model name: lowercase letters, digits and inner hyphens, at most 63."""
    if not isinstance(value, str) or not NAME.match(value):
        raise UserError(f"{key}: {value!r} is not a valid name (lowercase letters, digits and "
                        "hyphens, starting and ending with a letter or digit, at most 63)")
    return value


def slug(text: str) -> str:
    """The nearest valid name to `text` (a GitHub repository name such as `My_Model.v2`)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:63].rstrip("-")


@dataclass(frozen=True)
class Identity:
    """Project name, model name, description, owner, image and Python version."""

    name: str
    model: str
    description: str
    owner: str = ""
    image: str = ""
    python: str = "3.11"

    def __post_init__(self) -> None:
        check_name(self.name, "name")
        check_name(self.model, "model")
        if not isinstance(self.description, str) or not self.description.strip():
            raise UserError("description: required, one or two sentences on what the model does")
        if self.owner and not OWNER.match(self.owner):
            raise UserError(f"owner: {self.owner!r} is not a GitHub user or organisation name")
        if self.image and not IMAGE.match(self.image):
            raise UserError(f"image: {self.image!r} is not an image name such as "
                            "ghcr.io/owner/name (lowercase, no tag)")
        if not isinstance(self.python, str) or not PYTHON.match(self.python):
            raise UserError(f"python: expected a version such as '3.11', got {self.python!r}")

    def image_for(self, repository: str) -> str:
        """`image` if set, else ghcr.io/<owner>/<repo> in lowercase (GHCR accepts no capitals)."""
        return self.image or f"ghcr.io/{repository.lower()}"

    @classmethod
    def from_mapping(cls, raw: Any, where: str) -> Identity:
        if not isinstance(raw, dict):
            raise UserError(f"{where}: must be a mapping of name, model, description, ...")
        unknown = sorted(set(raw) - set(cls.__dataclass_fields__))
        if unknown:
            raise UserError(f"{where}: {unknown[0]}: unknown key "
                            f"(known: {', '.join(cls.__dataclass_fields__)})")
        for key in ("name", "model", "description"):
            if raw.get(key) in (None, ""):
                raise UserError(f"{where}: {key}: required but missing")
        values = {k: ("" if v is None else str(v)) for k, v in raw.items()}
        try:
            return cls(**values)
        except UserError as exc:
            raise UserError(f"{where}: {exc}") from None


def load(path: str | Path) -> Identity:
    """Read project.yaml; errors name the file and the key."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"identity file not found: {p} (write one with `gitops-ml init`)")
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"{p}: not valid YAML: {exc}") from exc
    return Identity.from_mapping(raw, str(p))


def dumps(identity: Identity) -> str:
    """The file's text: the header comment, then the keys in a fixed order."""
    body = yaml.safe_dump(asdict(identity), sort_keys=False, allow_unicode=True, width=90)
    return HEADER + body
